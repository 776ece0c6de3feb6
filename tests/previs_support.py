"""Small shots and worlds for the previs tests (importable as ``previs_support``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from latentstage.runtime.camera import look_at


def write_path(path: Path, frames: int = 10, size: int = 64) -> Path:
    """A cameras.json (opencv): a short dolly forward and back, so it has revisits."""
    out = []
    turn = max(1, (frames * 3) // 5)  # out over 3/5 of the frames, back over the rest
    for i in range(frames):
        s = i / turn if i <= turn else 1 - (i - turn) / max(frames - 1 - turn, 1)  # 0 -> 1 -> 0
        eye = np.array([0.6 * s, 0.1 * s, 1.6])
        out.append({"frame_id": 100 + i, "time_s": i / 24,
                    "c2w": look_at(eye, eye + [1.0, 0.2 * s, -0.05]).tolist()})
    f = size * 0.7
    c = (size - 1) / 2
    path.write_text(json.dumps({"convention": "opencv", "fps": 24, "intrinsics": {
        "fx": f, "fy": f, "cx": c, "cy": c, "width": size, "height": size}, "frames": out}))
    return path


def seed_png(path: Path, size: int = 64) -> Path:
    """A 64x64 seed image of gradients."""
    from PIL import Image

    y, x = np.mgrid[0:size, 0:size]
    Image.fromarray(np.stack([x * 4, y * 4, (x * y) % 255], -1).astype(np.uint8)).save(path)
    return path
