"""``latentstage bench previs``: offline render throughput and seek cost against N."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from latentstage.previs.engine import InProcessEngine, open_world
from latentstage.previs.scrub import Scrubber
from latentstage.previs.shot import Shot, ShotFrame, parse_size
from latentstage.runtime.camera import Intrinsics, look_at


def orbit_shot(frames: int, size: tuple[int, int], start: np.ndarray) -> Shot:
    """``frames`` cameras turning in place at the world's start camera, then walking 1 m."""
    eye = start[:3, 3]
    k = Intrinsics.from_fov(60.0, *size)
    out = []
    for i in range(frames):
        a = 2 * np.pi * i / frames
        e = eye + [0.5 * i / frames, 0, 0]
        out.append(ShotFrame(i, i, look_at(e, e + [np.cos(a), np.sin(a), -0.05]), k, i / 24,
                             None))
    return Shot(Path("orbit"), "", "opencv", size, 24.0, None, out)


def bench_previs(model, tmp: Path, frames: int, sizes: list[str], intervals: list[int],
                 world: str = "procedural:0:outdoor", backend: str = "torch") -> dict:
    """Render ``frames`` of an orbit per size (fps, snapshot cost), then seek every frame in
    a shuffled order with each snapshot interval (at the first size)."""
    result = {"render": [], "seek": []}
    for text in sizes:
        size = parse_size(text)
        built = open_world(model, world, capacity=65_536, snapshot_dir=tmp)
        engine = InProcessEngine(model, built, backend=backend)
        shot = orbit_shot(frames, size, built.start_c2w)
        scrub = Scrubber(engine, shot, tmp / f"r{text}", every=10**9)
        scrub.step()  # warm-up (first-call allocations)
        t0 = time.perf_counter()
        for _ in range(1, frames):
            scrub.step()
        fps = (frames - 1) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(3):
            engine.save(tmp / f"snap{i}.safetensors")
        result["render"].append({"size": text, "fps": fps, "frames": frames - 1,
                                 "snapshot_ms": (time.perf_counter() - t0) / 3 * 1e3})
    size = parse_size(sizes[0])
    order = np.random.default_rng(0).permutation(frames)
    for every in intervals:
        built = open_world(model, world, capacity=65_536, snapshot_dir=tmp)
        engine = InProcessEngine(model, built, backend=backend)
        scrub = Scrubber(engine, orbit_shot(frames, size, built.start_c2w),
                         tmp / f"seek{every}", every)
        while scrub.position < frames:  # the render that leaves the snapshots
            scrub.step()
        ms, replayed = [], []
        for k in order:
            scrub.seek(int(k))
            ms.append(scrub.last.seconds * 1e3)
            replayed.append(scrub.last.replayed)
        result["seek"].append({"every": every, "size": sizes[0], "seeks": len(order),
                               "mean_ms": float(np.mean(ms)), "max_ms": float(np.max(ms)),
                               "mean_replayed": float(np.mean(replayed))})
    return result
