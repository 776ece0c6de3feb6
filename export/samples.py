"""Real inputs for verification and benchmarks: a procedural frame and its camera path.

"Real" means what the networks see in use: a rendered image, its depth and sky at latent pixel
centres, the camera that saw it, and a camera path that pans away and comes back. They come
from the procedural worlds (:mod:`latentstage.model.worlds`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentstage.model.worlds import make_scene, make_trajectory, render
from latentstage.runtime.camera import Intrinsics, look_at

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
    scene: object  # the procedural scene (model.worlds.Scene), for more frames


def sample_frame(size: tuple[int, int], stride: int, device: torch.device | str = "cpu",
                 seed: int = SAMPLE_SEED, kind: str = "indoor") -> SampleFrame:
    """A procedural frame of size ``(W, H)`` pixels."""
    w, h = size
    k = Intrinsics.from_fov(SAMPLE_FOV, w, h)
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


def loop_poses(frame: SampleFrame, frames: int, seed: int = SAMPLE_SEED) -> np.ndarray:
    """``[frames, 4, 4]`` camera-to-world poses of the scene's "loop" trajectory, which pans
    away from the sample frame and comes back."""
    return np.asarray(make_trajectory("loop", frame.scene, frames=frames, seed=seed).c2w)
