"""Pictures of a shot: the camera path from above, with revisits marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentstage.previs.shot import Shot

#: A revisit: a camera within this many metres of an earlier one ...
REVISIT_RADIUS_M = 0.5
#: ... looking within this many degrees of it ...
REVISIT_ANGLE_DEG = 30.0
#: ... at least this many frames later.
REVISIT_MIN_GAP = 8


def revisits(c2w: np.ndarray, radius: float = REVISIT_RADIUS_M,
             angle_deg: float = REVISIT_ANGLE_DEG, min_gap: int = REVISIT_MIN_GAP
             ) -> list[tuple[int, int]]:
    """(frame, earlier frame) pairs of ``c2w`` [N, 4, 4] where the camera comes back: near an
    earlier camera, looking the same way, at least ``min_gap`` frames after it."""
    pos, fwd = c2w[:, :3, 3], c2w[:, :3, 2]
    cos = np.cos(np.radians(angle_deg))
    out = []
    for i in range(len(c2w)):
        j = np.arange(max(0, i - min_gap + 1))
        if not len(j):
            continue
        near = (np.linalg.norm(pos[j] - pos[i], axis=1) < radius) & (fwd[j] @ fwd[i] > cos)
        if near.any():
            out.append((i, int(j[near][0])))
    return out


def plot_topdown(shot: Shot, path: Path, rendered: range | None = None) -> Path:
    """A PNG of the path seen from above (world x, y in metres): positions, a heading tick
    every few frames, start and end, and revisits circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c2w = np.stack([f.c2w for f in shot.frames])  # [N, 4, 4]
    pos, fwd = c2w[:, :3, 3], c2w[:, :3, 2]
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot(pos[:, 0], pos[:, 1], "-", color="0.6", lw=1, label="path")
    if rendered is not None:
        r = np.arange(len(pos))[rendered]
        ax.plot(pos[r, 0], pos[r, 1], ".", color="C0", ms=3, label="rendered frames")
    step = max(1, len(pos) // 24)
    span = float(np.ptp(pos[:, :2], axis=0).max()) or 1.0
    ax.quiver(pos[::step, 0], pos[::step, 1], fwd[::step, 0], fwd[::step, 1], color="C0",
              angles="xy", scale_units="xy", scale=1 / (0.06 * span), width=0.004)
    ax.plot(*pos[0, :2], "o", color="green", label="start")
    ax.plot(*pos[-1, :2], "s", color="black", label="end")
    rv = revisits(c2w)
    if rv:
        idx = [i for i, _ in rv]
        ax.plot(pos[idx, 0], pos[idx, 1], "o", mfc="none", mec="red", ms=9,
                label=f"revisits ({len(idx)} frames within {REVISIT_RADIUS_M} m and "
                      f"{REVISIT_ANGLE_DEG:.0f}° of a frame >= {REVISIT_MIN_GAP} earlier)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"{shot.source.name}: {len(pos)} cameras, top view")
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
