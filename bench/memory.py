"""Benchmark of the latent memory against the prior art's RGB point cloud, in one run.

Conditioning is what the generator needs before each step:
- latent memory: ``readout`` at latent resolution (features, depth, coverage, sky);
- RGB point cloud: rasterise the cloud at pixel resolution, then re-encode the render with the
  reference model's 8x-stride convolutional encoder.
Both memories see the same frames of a procedural orbit. Bytes are those the stored content
occupies after the trajectory. A second table times write and readout against the number of
stored points, up to capacity.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from latentstage.model.rgb_memory import RGBPointCloudMemory
from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig


@dataclass
class ConditioningResult:
    """One resolution's comparison (times are medians per frame, seconds)."""

    size: int  # image side, pixels (square)
    frames: int  # frames written to each memory
    latent_write_s: float  # LatentMemory.write
    latent_cond_s: float  # LatentMemory.readout
    rgb_write_s: float  # RGBPointCloudMemory.write
    rgb_cond_s: float  # rasterise + encode
    latent_bytes: int  # bytes of the stored latent points + environment
    rgb_bytes: int  # bytes of the RGB cloud
    latent_points: int  # stored latent points
    rgb_points: int  # stored RGB points

    @property
    def time_ratio(self) -> float:
        return self.rgb_cond_s / self.latent_cond_s

    @property
    def bytes_ratio(self) -> float:
        return self.rgb_bytes / self.latent_bytes


def _timed(device: torch.device, fn: Callable[..., object], *args, **kwargs) -> float:
    """Seconds ``fn(*args, **kwargs)`` takes, synchronising CUDA around it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn(*args, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _frames(size: int, frames: int, device: torch.device, stride: int) -> Iterator[tuple]:
    from latentstage.model.worlds import make_scene, make_trajectory, render

    scene = make_scene(0, "indoor", device=device)
    traj = make_trajectory("orbit", scene, frames=frames, seed=0)
    k = Intrinsics.from_fov(70, size, size)
    for c2w in traj.c2w:
        full = render(scene, k, c2w)
        lat = render(scene, k.latent(stride), c2w)
        yield k, c2w, full.rgb[0], full.depth[0], full.sky[0], lat.depth[0], lat.sky[0]


def conditioning(
    size: int, frames: int, encoder: torch.nn.Module, channels: int, device: torch.device
) -> ConditioningResult:
    """Write the same orbit into both memories; time conditioning for the next frame."""
    stride = 8
    latent_mem = LatentMemory(LatentSpec(channels, stride), MemoryConfig(), device)
    rgb_mem = RGBPointCloudMemory(device)
    times: dict[str, list[float]] = {"lw": [], "lc": [], "rw": [], "rc": []}
    with torch.inference_mode():
        for i, (k, c2w, rgb, depth, sky, lat_depth, lat_sky) in enumerate(
            _frames(size, frames, device, stride)
        ):
            latent = encoder(rgb[None])[0]  # realistic latent values (not timed)
            h, w = latent.shape[1:]
            # The camera (latent intrinsics, rays) is derived inside the timed call, as per frame.
            times["lc"].append(_timed(device, lambda k=k, c2w=c2w: latent_mem.readout(
                latent_mem.camera(k, c2w))))
            times["rc"].append(_timed(device, lambda k=k, c2w=c2w: encoder(
                rgb_mem.render(k, c2w).rgb[None])))
            times["lw"].append(_timed(
                device, lambda k=k, c2w=c2w, lat=latent, d=lat_depth, sky=lat_sky:
                latent_mem.write(lat, d, latent_mem.camera(k, c2w), sky_mask=sky)))
            times["rw"].append(_timed(device, rgb_mem.write, rgb, depth, k, c2w, sky_mask=sky))
            if i < 2:  # warm-up frames are not counted
                for v in times.values():
                    v.pop()
    med = {name: statistics.median(v) for name, v in times.items()}
    stats = latent_mem.stats()
    return ConditioningResult(size, frames, med["lw"], med["lc"], med["rw"], med["rc"],
                              stats.used_bytes, rgb_mem.bytes, stats.points, len(rgb_mem))


@dataclass
class ScalingRow:
    """Write and readout cost with ``points`` stored (medians, seconds)."""

    points: int  # stored points when measured
    write_s: float  # write of one 32x32-token frame
    readout_s: float  # readout of a 32x32 latent grid, blocks culled against the frustum
    readout_unculled_s: float = 0.0  # the same readout projecting every stored point


def scaling(capacity: int, channels: int, device: torch.device, steps: int = 8,
            repeats: int = 5) -> list[ScalingRow]:
    """Fill a memory to capacity with new ground and time write/readout along the way."""
    memory = LatentMemory(LatentSpec(channels, 8), MemoryConfig(capacity=capacity), device)
    k = Intrinsics.from_fov(70, 256, 256)
    gen = torch.Generator(device=device).manual_seed(0)
    latent = torch.randn(channels, 32, 32, generator=gen, device=device)
    depth = 2.0 + 0.5 * torch.rand(32, 32, generator=gen, device=device)
    rows, n = [], 0
    targets = [int(capacity * (i + 1) / steps) for i in range(steps)]
    for target in targets:
        while len(memory) < min(target, capacity - 1024) and memory.stats().evictions == 0:
            pose = look_at([0.0, 0.4 * n, 0.0], [2.0, 0.4 * n, 0.0])
            memory.write(latent, depth, memory.camera(k, pose))
            n += 1
        view = look_at([0.0, 0.4 * (n - 1), 0.0], [2.0, 0.4 * (n - 1), 0.0])
        read = [_timed(device, lambda v=view: memory.readout(memory.camera(k, v)))
                for _ in range(repeats)]
        full = [_timed(device, lambda v=view: memory.readout(memory.camera(k, v), cull=False))
                for _ in range(repeats)]
        write = []
        for _ in range(repeats):
            pose = look_at([0.0, 0.4 * n, 0.0], [2.0, 0.4 * n, 0.0])
            write.append(_timed(device, lambda p=pose: memory.write(latent, depth,
                                                                   memory.camera(k, p))))
            n += 1
        rows.append(ScalingRow(len(memory), statistics.median(write), statistics.median(read),
                               statistics.median(full)))
    return rows
