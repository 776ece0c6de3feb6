"""PNG plots of evaluation and demo runs (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metric_vs_frame(series: dict[str, list[float]], path: Path, title: str,
                    ylabel: str = "PSNR vs ground truth (dB)",
                    marks: list[int] | None = None) -> None:
    """One line per memory of a per-frame metric; vertical marks at revisit frames (named
    in the legend)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    for name, values in series.items():
        ax.plot(np.arange(len(values)), values, label=name, linewidth=1)
    for n, m in enumerate(marks or []):
        ax.axvline(m, color="grey", alpha=0.15, linewidth=0.8,
                   label="revisit: frame returns to an earlier frame's pose" if n == 0 else None)
    ax.set_xlabel("frame")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def demo_psnr(psnrs: list[float], pairs: list[tuple[int, int]], pair_psnrs: list[float],
              pooled_psnr: float | None, path: Path, cap_db: float = 60.0) -> None:
    """The demo's plot: PSNR against ground truth per frame, and the revisit figure the report
    gives. Each revisit pair (i, j) is a grey mark at frame j with a dot at the PSNR of frame
    j against frame i (generated against generated, dB; an exact repeat is drawn at
    ``cap_db`` and said so), and a dashed line at the pooled revisit PSNR."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    ax.plot(np.arange(len(psnrs)), psnrs, color="tab:blue", linewidth=1.2,
            label="PSNR of frame vs ground truth (dB)")
    for n, (_, j) in enumerate(pairs):
        ax.axvline(j, color="grey", alpha=0.2, linewidth=0.8,
                   label="revisit: frame returns to an earlier frame's pose" if n == 0 else None)
    if pairs:
        shown = [min(p, cap_db) for p in pair_psnrs]
        exact = sum(p >= cap_db for p in pair_psnrs)
        ax.scatter([j for _, j in pairs], shown, s=14, color="tab:orange", zorder=3,
                   label=f"revisit PSNR: frame vs its earlier frame (dB"
                         f"{f'; {exact} identical, drawn at {cap_db:g}' if exact else ''})")
    if pooled_psnr is not None:
        ax.axhline(min(pooled_psnr, cap_db), color="tab:orange", linestyle="--", linewidth=1,
                   label=f"revisit PSNR pooled over {len(pairs)} pairs = {pooled_psnr:.1f} dB "
                         "(report.json revisit_psnr)")
    ax.set_xlabel("frame")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Demo: generated frames against ground truth, and at revisits against "
                 "themselves", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def coverage_image(coverage: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A latent coverage map [h, w] as a grey uint8 image [3, H, W] at ``size`` (W, H)."""
    up = torch.nn.functional.interpolate(coverage[None, None].float(), size=(size[1], size[0]),
                                         mode="nearest")[0, 0]
    return (up * 255).to(torch.uint8).expand(3, -1, -1)


def revisit_strip(rows: list[tuple[str, list[torch.Tensor]]], path: Path) -> None:
    """Save a grid of uint8 images [3, H, W]: one row per revisit, titled columns."""
    from PIL import Image

    if not rows:
        return
    lines = []
    for _, images in rows:
        lines.append(torch.cat(list(images), dim=2))
    grid = torch.cat(lines, dim=1).permute(1, 2, 0).numpy()
    Image.fromarray(np.ascontiguousarray(grid)).save(path)


def frame_strip(rows: list[list[torch.Tensor]], path: Path, scale: int = 2, gap: int = 4) -> None:
    """Save rows of uint8 images [3, H, W] (e.g. generated above ground truth) as one PNG,
    each image upscaled ``scale`` times (nearest) and separated by ``gap`` white pixels."""
    from PIL import Image

    if not rows or not rows[0]:
        return

    def up(img: torch.Tensor) -> torch.Tensor:
        return img.repeat_interleave(scale, 1).repeat_interleave(scale, 2)

    h, w = up(rows[0][0]).shape[1:]
    cols = len(rows[0])
    grid = torch.full((3, len(rows) * (h + gap) - gap, cols * (w + gap) - gap), 255,
                      dtype=torch.uint8)
    for r, images in enumerate(rows):
        for c, img in enumerate(images):
            grid[:, r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = up(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(grid.permute(1, 2, 0).numpy())).save(path)
