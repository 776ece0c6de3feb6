"""The memory's block culling index: culled readouts are bit-identical to the unculled
reference (every stored point projected), over many poses, and the index only ever skips
points that cannot reach the view."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig
from latentstage.runtime.memory.readout import cull_planes
from latentstage.runtime.memory.store import BLOCK

SPEC = LatentSpec(channels=3, stride=8)
K = Intrinsics.from_fov(70, 128, 128)


def scattered_memory(capacity: int = 20_000, writes: int = 48, **config) -> LatentMemory:
    """Walls in every direction around the origin, at 0.3 to 6 m, written from cameras on a
    ring (so stored points lie on all sides of, and close to, the test cameras)."""
    memory = LatentMemory(SPEC, MemoryConfig(capacity=capacity, **config))
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    for n in range(writes):
        angle = 2 * np.pi * n / writes
        eye = np.array([2 * np.cos(angle), 2 * np.sin(angle), rng.uniform(-0.5, 0.5)])
        target = eye + [np.cos(angle * 3), np.sin(angle * 3), rng.uniform(-0.3, 0.3)]
        depth = 0.3 + 5.7 * torch.rand(16, 16, generator=gen) ** 2
        sky = torch.zeros(16, 16, dtype=torch.bool)
        sky[0, :4] = True  # some environment too
        memory.write(torch.randn(3, 16, 16, generator=gen), depth,
                     memory.camera(K, look_at(eye, target)), sky_mask=sky)
    return memory


def poses(count: int, seed: int):
    """(intrinsics, c2w): eyes inside and around the scene looking anywhere; fields of view
    from 20 to 170 degrees; some with an off-centre principal point."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        fov = float(rng.choice([20, 60, 90, 120, 150, 170]))
        k = Intrinsics.from_fov(fov, 128, int(rng.choice([64, 128])))
        if rng.random() < 0.3:
            k = Intrinsics(k.fx, k.fy, k.cx + rng.uniform(-40, 40), k.cy + rng.uniform(-20, 20),
                           k.width, k.height)
        eye = rng.uniform(-4, 4, 3) * [1, 1, 0.3]
        target = eye + rng.normal(size=3)
        yield k, look_at(eye, target)


def assert_same(memory: LatentMemory, k: Intrinsics, c2w) -> int:
    """Culled and unculled readouts are bit-identical; returns the pixels covered."""
    camera = memory.camera(k, c2w)
    culled, full = memory.readout(camera), memory.readout(camera, cull=False)
    for name in ("features", "depth", "coverage", "sky"):
        assert torch.equal(getattr(culled, name), getattr(full, name)), name
    return int((culled.depth > 0).sum())


@pytest.mark.parametrize("config", [{}, {"near": 0.5}, {"max_splat": 8, "near": 0.01},
                                    {"yield_ratio": 0.0, "splat_scale": 2.0}])
def test_culled_readout_is_bit_identical_to_the_unculled_reference(config):
    memory = scattered_memory(**config)
    assert memory.store.high > 8 * BLOCK  # several blocks, so culling has work to skip
    covered, skipped = 0, 0
    for k, c2w in poses(40, seed=len(config)):
        covered += assert_same(memory, k, c2w) > 0
        camera = memory.camera(k, c2w)
        kept = memory.store.visible_slots(cull_planes(camera, memory.config)).numel()
        skipped += kept < len(memory)
    assert covered >= 20, "most test views must see stored points"
    assert skipped >= 20, "most test views must cull some blocks"


def test_splats_at_the_frustum_edges_and_near_plane_are_kept():
    """Points just outside the image (within a splat radius) and just beyond the near plane
    still reach the view when culled."""
    memory = LatentMemory(SPEC, MemoryConfig(capacity=4096, near=0.05))
    gen = torch.Generator().manual_seed(1)
    # A wall at 0.06 m (just beyond near) and one at 3 m, seen from cameras turned so their
    # edges lie just outside the test view.
    for yaw, dist in ((0.0, 3.0), (0.6, 3.0), (-0.6, 3.0), (0.0, 0.06), (0.5, 0.06)):
        target = [np.cos(yaw), np.sin(yaw), 0.0]
        memory.write(torch.randn(3, 16, 16, generator=gen), torch.full((16, 16), dist),
                     memory.camera(K, look_at([0, 0, 0], target)))
    for yaw in np.linspace(-1.2, 1.2, 25):
        for fov in (30, 70, 160):
            k = Intrinsics.from_fov(fov, 64, 64)
            assert_same(memory, k, look_at([0, 0, 0], [np.cos(yaw), np.sin(yaw), 0.02]))


def test_index_follows_evictions_crops_and_loads(tmp_path):
    """After evictions (holes refilled by later writes), a crop and a snapshot round trip,
    culled readouts still equal the reference."""
    memory = scattered_memory(capacity=3 * BLOCK, writes=30, evict_fraction=0.1)
    assert memory.stats().evictions > 0
    for k, c2w in poses(15, seed=7):
        assert_same(memory, k, c2w)
    memory.crop([-1, -1, -1], [1, 1, 1])
    memory.save(tmp_path / "m.safetensors")
    loaded = LatentMemory(SPEC, memory.config)
    loaded.load(tmp_path / "m.safetensors")
    for k, c2w in poses(15, seed=8):
        assert_same(memory, k, c2w)
        assert_same(loaded, k, c2w)


def test_culling_reads_only_the_blocks_in_view():
    """A camera looking away from everything stored projects no point at all; one looking at
    the newest wall of a long row reads a few blocks, not the whole store."""
    memory = LatentMemory(SPEC, MemoryConfig(capacity=40_000))
    lat, depth = torch.randn(3, 16, 16), torch.full((16, 16), 2.0)
    for n in range(120):  # a row of walls along +y, 256 new points each
        memory.write(lat, depth, memory.camera(K, look_at([0, 0.5 * n, 0], [2, 0.5 * n, 0])))
    away = memory.camera(K, look_at([0, 0, 0], [-2, 0, 0]))
    assert memory.store.visible_slots(cull_planes(away, memory.config)).numel() == 0
    last = memory.camera(K, look_at([0, 0.5 * 119, 0], [2, 0.5 * 119, 0]))
    kept = memory.store.visible_slots(cull_planes(last, memory.config)).numel()
    assert 0 < kept <= 0.1 * len(memory)
    assert memory.readout(last).coverage.mean() == 1.0
