"""Real inputs for verification and benchmarks: a procedural frame, or a synthetic one.

"Real" means what the networks see in use: a rendered image, its depth and sky at latent pixel
centres, the camera that saw it, and a camera path that pans away and comes back. They come
from :mod:`latentstage.model.worlds` when it is available, else from a synthetic image (smooth
gradients and a checkerboard on a plane 3 m away) so that export never depends on the renderer.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from latentstage.runtime.camera import Intrinsics, look_at

log = logging.getLogger(__name__)

#: Horizontal field of view of sample cameras, degrees (the training default).
SAMPLE_FOV = 70.0
#: World seed of sample frames: a held-out evaluation seed (>= 1_000_000), never trained on.
SAMPLE_SEED = 1_000_007


@dataclass
class SampleFrame:
    """One frame with the ground truth the memory needs."""

    rgb: torch.Tensor  # [1, 3, H, W] in [0, 1]
    depth: torch.Tensor  # [h, w] metres along the optical axis at latent centres, 0 at sky
    sky: torch.Tensor  # [h, w] bool at latent centres
    intrinsics: Intrinsics  # image intrinsics (pixels)
    c2w: np.ndarray  # [4, 4] camera-to-world, OpenCV axes, metres
    source: str  # what produced it, e.g. "procedural world indoor seed 1000007"
    scene: object = None  # the procedural scene, when there is one (for more frames)


def _worlds():
    """(make_scene, render) from latentstage.model.worlds, or None when it is unavailable."""
    try:
        from latentstage.model.worlds import make_scene, render
    except ImportError:
        try:
            from latentstage.model.worlds.render import render
            from latentstage.model.worlds.scene import make_scene
        except ImportError:
            return None
    return make_scene, render


def sample_frame(size: tuple[int, int], stride: int, device: torch.device | str = "cpu",
                 seed: int = SAMPLE_SEED, kind: str = "indoor") -> SampleFrame:
    """A frame of size ``(W, H)`` pixels: procedural when possible, else synthetic."""
    w, h = size
    k = Intrinsics.from_fov(SAMPLE_FOV, w, h)
    worlds = _worlds()
    if worlds is None:
        log.info("latentstage.model.worlds is unavailable: using a synthetic sample frame")
        return _synthetic(k, stride, torch.device(device))
    make_scene, render = worlds
    scene = make_scene(seed, kind, device=device)
    c2w = _start_pose(scene)
    full = render(scene, k, c2w)
    lat = render(scene, k.latent(stride), c2w)
    depth = torch.where(lat.sky[0], torch.zeros_like(lat.depth[0]), lat.depth[0])
    return SampleFrame(full.rgb.clamp(0, 1), depth, lat.sky[0], k, c2w,
                       f"procedural world {kind} seed {seed}", scene)


def _start_pose(scene) -> np.ndarray:
    """Standing in the middle of the scene's free space, looking at its first landmark."""
    lo, hi = np.asarray(scene.bounds, dtype=np.float64)
    z = float(np.clip(np.mean(scene.camera_height), lo[2] + 0.2, max(hi[2] - 0.2, lo[2] + 0.3)))
    eye = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, z])
    landmarks = np.asarray(getattr(scene, "landmarks", np.zeros((0, 3))))
    target = landmarks[0] if len(landmarks) else eye + np.array([1.0, 0.0, 0.0])
    if np.linalg.norm(target[:2] - eye[:2]) < 0.5:
        target = eye + np.array([1.0, 0.0, 0.0])
    target = np.array([target[0], target[1], z])  # level gaze
    return look_at(eye, target)


def _synthetic(k: Intrinsics, stride: int, device: torch.device) -> SampleFrame:
    """Gradients and a checkerboard on a fronto-parallel plane 3 m away."""
    h, w = k.height, k.width
    y = torch.linspace(0, 1, h, device=device)[:, None].expand(h, w)
    x = torch.linspace(0, 1, w, device=device)[None, :].expand(h, w)
    checker = ((torch.arange(h, device=device)[:, None] // 8
                + torch.arange(w, device=device)[None, :] // 8) % 2).float()
    rgb = torch.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.25 + 0.5 * checker], 0)[None]
    depth = torch.full((h // stride, w // stride), 3.0, device=device)
    sky = torch.zeros(h // stride, w // stride, dtype=torch.bool, device=device)
    c2w = look_at([0.0, 0.0, 1.5], [3.0, 0.0, 1.5])
    return SampleFrame(rgb, depth, sky, k, c2w, "synthetic image (gradients and checkerboard)")


def loop_poses(frame: SampleFrame, frames: int, seed: int = SAMPLE_SEED) -> np.ndarray:
    """``[frames, 4, 4]`` camera-to-world poses that pan away from the sample frame and back.

    Uses ``make_trajectory("loop", ...)`` from the procedural worlds when it exists; otherwise
    (or for a synthetic frame) a yaw sweep of +-40 degrees about the sample camera, out and
    back, which revisits the start pose at the end.
    """
    if frame.scene is not None:
        try:
            from latentstage.model.worlds import make_trajectory
        except ImportError:
            make_trajectory = None
        if make_trajectory is not None:
            return np.asarray(make_trajectory("loop", frame.scene, frames=frames, seed=seed).c2w)
    poses = []
    for i in range(frames):
        phase = i / max(frames - 1, 1)
        yaw = math.radians(40.0) * math.sin(2 * math.pi * phase)
        c, s = math.cos(yaw), math.sin(yaw)
        turn = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
        pose = frame.c2w.copy()
        pose[:3, :3] = turn[:3, :3] @ frame.c2w[:3, :3]
        poses.append(pose)
    return np.stack(poses)


def trajectory_source(frame: SampleFrame) -> str:
    """Which camera path :func:`loop_poses` uses for ``frame``."""
    if frame.scene is not None:
        try:
            from latentstage.model.worlds import make_trajectory  # noqa: F401
        except ImportError:
            return "yaw sweep +-40 deg (make_trajectory unavailable)"
        return "make_trajectory('loop')"
    return "yaw sweep +-40 deg (synthetic frame)"
