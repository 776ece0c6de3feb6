"""The demo: fly away from a seed frame and back with the bundled model and latent memory.

It opens a held-out procedural world from one seed frame (ground truth encoded at the first
pose), generates every frame of a loop that pans away and returns, and writes:
- ``demo.mp4``: generated | ground truth | memory coverage, side by side;
- ``report.json``: revisit PSNR (generated against generated at the same pose), PSNR against
  ground truth, fps;
- ``demo_psnr.png``: PSNR against ground truth per frame, the revisit frames, each revisit's
  PSNR against its earlier frame, and the pooled revisit PSNR of ``report.json``.
- optionally a strip PNG (``strip``): a few frames along the loop, generated above ground
  truth, for the README.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from latentstage.model.data import DEFAULT_FOV, EVAL_SEED_BASE
from latentstage.model.eval import pooled, psnr, revisit_errors, revisit_pairs
from latentstage.model.metrics import DetailSum
from latentstage.model.plots import coverage_image, demo_psnr, frame_strip
from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.memory import LatentMemory
from latentstage.runtime.pipeline import FrameStep, seed_memory


def run_demo(model, out: Path, device: torch.device, frames: int = 240, seed: int = 0,
             world_seed: int = EVAL_SEED_BASE + 7, kind: str = "indoor",
             size: tuple[int, int] | None = None,
             tick: Callable[[int], None] | None = None, strip: Path | None = None,
             strip_frames: int = 6) -> dict:
    """Generate the demo into ``out``; returns the report (also written as report.json)."""
    from latentstage.model.worlds import make_scene, make_trajectory, render
    from latentstage.model.worlds.io import VideoWriter

    out.mkdir(parents=True, exist_ok=True)
    size = size or tuple(model.config.native_size)
    k = Intrinsics.from_fov(DEFAULT_FOV, *size)
    spec = model.latent_spec()
    scene = make_scene(world_seed, kind, device=device)
    traj = make_trajectory("loop", scene, frames=frames, seed=world_seed)
    memory = LatentMemory(spec, device=device, model_id=model.model_id)
    step = FrameStep(model, memory, seed=seed)
    steps = model.config.sampler_steps

    first = render(scene, k, traj.c2w[0])
    lat = render(scene, k.latent(spec.stride), traj.c2w[0])
    depth0 = torch.where(lat.sky[0], torch.zeros_like(lat.depth[0]), lat.depth[0])
    seed_memory(model, memory, first.rgb[0], depth0, memory.camera(k, traj.c2w[0]),
                sky=lat.sky[0])

    generated, truth, psnrs, seconds = [], [], [], 0.0
    detail, detail_uncovered = DetailSum(), DetailSum()
    with VideoWriter(out / "demo.mp4", width=3 * size[0], height=size[1],
                     fps=traj.fps) as video:
        for i, c2w in enumerate(traj.c2w):
            start = time.perf_counter()
            frame = step(memory.camera(k, c2w), i, steps)
            seconds += time.perf_counter() - start
            gt = render(scene, k, c2w).rgb[0].clamp(0, 1)
            psnrs.append(psnr(frame.rgb, gt))
            detail.add(frame.rgb, gt)
            detail_uncovered.add(frame.rgb, gt, torch.nn.functional.interpolate(
                frame.readout.coverage[None, None], scale_factor=spec.stride)[0, 0] <= 0.5)
            img = torch.from_numpy(frame.pixels).permute(2, 0, 1)  # [3, H, W] uint8
            generated.append(img)
            gt8 = (gt * 255 + 0.5).to(torch.uint8).cpu()
            truth.append(gt8)
            row = torch.cat([img, gt8, coverage_image(frame.readout.coverage.cpu(), size)], 2)
            video.write(row.permute(1, 2, 0).numpy())
            if tick is not None:
                tick(i + 1)
    pairs = revisit_pairs(traj.c2w)
    mses = revisit_errors(generated, pairs)
    demo_psnr(psnrs, pairs, [pooled([m]) for m in mses], pooled(mses) if mses else None,
              out / "demo_psnr.png")
    if strip is not None:  # evenly spaced up to the turn (the loop's far side), then back
        picks = np.linspace(0, frames - 1, strip_frames).round().astype(int).tolist()
        frame_strip([[generated[i] for i in picks], [truth[i] for i in picks]], strip)
    stats = memory.stats()
    report = {
        "model": model.model_id,
        "world": {"seed": world_seed, "kind": kind, "trajectory": "loop", "frames": frames},
        "size": list(size),
        "device": str(device),
        "sampler_steps": model.config.sampler_steps,
        "fps": frames / seconds,
        "psnr_vs_ground_truth": float(np.mean(psnrs)),
        "detail": detail.ratio(),  # model.metrics: 1.0 = as detailed as ground truth
        "detail_uncovered": detail_uncovered.ratio(),
        "revisit_pairs": len(pairs),
        "revisit_psnr": pooled(mses) if mses else None,  # pooled over pairs, as in eval
        "revisit_identical": float(np.mean([m == 0 for m in mses])) if mses else None,
        "final_revisit_psnr": pooled(mses[-1:]) if mses else None,
        "memory": {"points": stats.points, "bytes": stats.used_bytes,
                   "evictions": stats.evictions},
        "outputs": ["demo.mp4", "report.json", "demo_psnr.png"],
        "video_columns": ["generated", "ground truth", "memory coverage"],
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
