"""Training and evaluation data: clips of procedural worlds with ground truth.

Seeds below :data:`EVAL_SEED_BASE` are for training; seeds from it on are held out for
evaluation, so no evaluated world is ever seen in training.

A clip is a short camera path through one world, rendered once and kept in memory as uint8
RGB at the image resolution plus depth and sky at the latent pixel centres (what the memory
and the generator's depth head work with).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from latentstage.runtime.camera import Intrinsics

log = logging.getLogger(__name__)

#: Seeds >= this are held out for evaluation; training draws below it.
EVAL_SEED_BASE = 1_000_000
#: Default horizontal field of view of training and evaluation cameras, degrees.
DEFAULT_FOV = 70.0
TRAIN_TRAJECTORIES = ("loop", "orbit", "walk", "dolly", "keyframes")


@dataclass
class Clips:
    """A batch of rendered camera paths (all the same length and size)."""

    rgb: torch.Tensor  # [S, T, 3, H, W] uint8
    depth: torch.Tensor  # [S, T, h, w] float32 metres at latent pixel centres; 0 at sky
    sky: torch.Tensor  # [S, T, h, w] bool at latent pixel centres
    c2w: np.ndarray  # [S, T, 4, 4] float64 camera-to-world
    seeds: list[int]  # world seed of each clip
    kinds: list[str]  # "indoor"/"outdoor" of each clip
    intrinsics: Intrinsics  # image intrinsics shared by all frames
    stride: int  # latent stride f

    def __len__(self) -> int:
        return self.rgb.shape[0]

    def frame(self, s: int, t: int) -> torch.Tensor:
        """Frame t of clip s as float RGB in [0, 1], [3, H, W]."""
        return self.rgb[s, t].float() / 255


def render_clip(seed: int, kind: str, trajectory: str, frames: int, step: int,
                intrinsics: Intrinsics, stride: int, device: str = "cpu"):
    """Render ``frames`` poses, every ``step``-th of a trajectory of ``frames * step``."""
    from latentstage.model.worlds import make_scene, make_trajectory, render

    scene = make_scene(seed, kind, device=device)
    traj = make_trajectory(trajectory, scene, frames=frames * step, seed=seed)
    c2w = traj.c2w[::step][:frames]
    full = render(scene, intrinsics, c2w)
    lat = render(scene, intrinsics.latent(stride), c2w)
    depth = torch.where(lat.sky, torch.zeros_like(lat.depth), lat.depth)
    rgb = (full.rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return rgb.cpu(), depth.cpu(), lat.sky.cpu(), c2w


def build_clips(
    seeds: Sequence[int],
    frames: int,
    size: tuple[int, int],
    stride: int = 8,
    trajectories: Sequence[str] = TRAIN_TRAJECTORIES,
    step: int = 3,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Clips:
    """Render one clip per seed: worlds alternate indoor/outdoor, trajectories cycle.

    ``workers`` > 1 renders on that many CPU processes (each with one torch thread); the
    clips, their order and their pixels are the same as with one."""
    width, height = size
    k = Intrinsics.from_fov(DEFAULT_FOV, width, height)
    rgbs, depths, skies, poses, kinds = [], [], [], [], []
    used = []
    jobs = [(seed, "indoor" if seed % 3 else "outdoor",
             trajectories[(seed // 3) % len(trajectories)]) for seed in seeds]
    rendered = _render_all(jobs, frames, step, k, stride, device, workers)
    for i, ((seed, kind, _traj), result) in enumerate(zip(jobs, rendered, strict=True)):
        if result is None:
            continue
        rgb, depth, sky, c2w = result
        used.append(seed)
        rgbs.append(rgb)
        depths.append(depth)
        skies.append(sky)
        poses.append(c2w)
        kinds.append(kind)
        if progress is not None:
            progress(i + 1)
    return Clips(torch.stack(rgbs), torch.stack(depths), torch.stack(skies), np.stack(poses),
                 used, kinds, k, stride)


def _render_job(job, frames, step, k, stride, device):
    seed, kind, traj = job
    try:
        return render_clip(seed, kind, traj, frames, step, k, stride, device)
    except Exception:  # a generator bug must not end a long run; it is logged loudly
        log.exception("world seed %d (%s, %s) failed to build or render; skipped", seed, kind,
                      traj)
        return None


def _one_thread() -> None:
    torch.set_num_threads(1)


def _render_all(jobs, frames, step, k, stride, device, workers):
    """Each job's clip (or None where it failed), in order; lazily, so progress can follow."""
    if workers <= 1:
        for job in jobs:
            yield _render_job(job, frames, step, k, stride, device)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # no fork of torch's thread pools
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_one_thread) as pool:
        yield from pool.map(_render_job, jobs, *([x] * len(jobs) for x in
                                                 (frames, step, k, stride, device)),
                            chunksize=4)


def heldout_frames(size: tuple[int, int], count: int = 8) -> torch.Tensor:
    """``count`` ground-truth frames of held-out worlds (half indoor, half outdoor), [N,3,H,W]
    float in [0, 1]. Deterministic: the autoencoder's recorded PSNR is measured on these."""
    from latentstage.model.worlds import make_scene, make_trajectory, render

    k = Intrinsics.from_fov(DEFAULT_FOV, *size)
    frames = []
    for i in range(count):
        seed = EVAL_SEED_BASE + 100 + i
        scene = make_scene(seed, "indoor" if i % 2 == 0 else "outdoor")
        traj = make_trajectory("walk", scene, frames=8, seed=seed)
        frames.append(render(scene, k, traj.c2w[4]).rgb[0].clamp(0, 1))
    return torch.stack(frames)
