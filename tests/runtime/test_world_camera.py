"""Worlds (seeding, snapshots, lifetime) and WorldCamera steps at each rung, on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentstage.runtime.backends import load_backend
from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.errors import Incompatible, InvalidInput, NotFound
from latentstage.runtime.memory import MemoryConfig
from latentstage.runtime.types import (
    EmptySource,
    Exhausted,
    FramePlan,
    PoseIn,
    ProceduralSource,
    Rung,
    SeedImageSource,
    SnapshotSource,
    WorldSpec,
)
from latentstage.runtime.world import WorldStore, _latent_depth
from latentstage.runtime.world_camera import WorldCamera

K = Intrinsics.from_fov(70, 64, 48)
SEED_C2W = look_at([0, 0, 1.6], [1, 0, 1.6])


@pytest.fixture(scope="module")
def model(tiny_checkpoint, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: threads only contend on a shared CPU
    torch.manual_seed(0)
    yield load_backend("torch", tiny_checkpoint(tmp_path_factory.mktemp("ckpt")), "cpu")
    torch.set_num_threads(threads)


@pytest.fixture
def store(model, tmp_path):
    return WorldStore(model, tmp_path / "snaps", MemoryConfig(capacity=8192), max_worlds=3)


def seed_image(depth: float | None = 4.0) -> SeedImageSource:
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 4, y * 5, (x * y) % 255], -1).astype(np.uint8)
    d = None if depth is None else np.full((48, 64), depth, np.float32)
    return SeedImageSource(rgb, d, K, SEED_C2W)


def plan(frame_id: int, c2w=SEED_C2W, rung=Rung.FULL, steps=2, write=True, mask=None):
    pose = PoseIn(frame_id, 0, None, c2w, K, mask)
    return FramePlan(pose, c2w, rung, steps, write)


def test_seed_image_with_depth_covers_its_own_view(store):
    world = store.create(WorldSpec(seed_image(4.0), "seeded"))
    assert world.memory.stats().points > 0
    readout = world.memory.readout(world.memory.camera(K, SEED_C2W))
    assert float(readout.coverage.mean()) > 0.9
    np.testing.assert_allclose(readout.depth[readout.coverage > 0].numpy(), 4.0, rtol=0.05)
    assert world.source == "seed_image 64x48 depth=given"


def test_seed_image_without_depth_uses_the_model_estimate(store):
    world = store.create(WorldSpec(seed_image(None)))
    assert world.memory.stats().points > 0 and "estimated" in world.source


def test_latent_depth_is_the_block_median_ignoring_unknown():
    d = np.full((16, 16), 2.0, np.float32)
    d[:8, :8] = 0.0  # unknown block
    d[8:, 8:] = np.inf  # sky block
    d[0:8, 8:16][:3] = 9.0  # a minority of outliers
    out = _latent_depth(d, 2, 2, 8).numpy()
    np.testing.assert_array_equal(out, [[0.0, 2.0], [2.0, np.inf]])


def test_each_rung_does_what_it_says(model, store):
    world = store.create(WorldSpec(seed_image(4.0)))
    session = WorldCamera(world, model, seed=3)
    writes = world.memory.stats().writes
    full = session.step(plan(1))
    assert world.memory.stats().writes == writes + 1 and full.pixels.shape == (48, 64, 3)
    skip = session.step(plan(2, rung=Rung.SKIP_WRITE, steps=1, write=False))
    assert world.memory.stats().writes == writes + 1 and skip.timing.write == 0.0
    only = session.step(plan(3, rung=Rung.MEMORY_ONLY, steps=0, write=False))
    assert only.timing.generate == 0.0 and world.memory.stats().writes == writes + 1
    with torch.inference_mode():  # memory only is the readout decoded directly
        readout = world.memory.readout(world.memory.camera(K, SEED_C2W))
        rgb = model.decode(readout.features[None])[0].clamp(0, 1)
    expected = (rgb.permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).numpy()
    np.testing.assert_array_equal(only.pixels, expected)
    assert 0.9 < only.memory.coverage <= 1.0


class CountingModel:
    """The backend, counting generator calls."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def denoise(self, *args):
        self.calls += 1
        return self.model.denoise(*args)


def test_plans_set_the_sampler_steps_and_frames_are_deterministic(model, store):
    a = WorldCamera(store.create(WorldSpec(seed_image(4.0))), model, seed=3)
    b = WorldCamera(store.create(WorldSpec(seed_image(4.0))), model, seed=3)
    c2w = look_at([0, 0, 1.6], [1, 0.3, 1.6])
    two = a.step(plan(5, c2w, write=False)).pixels
    np.testing.assert_array_equal(two, b.step(plan(5, c2w, write=False)).pixels)
    counter = a.frame_step.model = CountingModel(model)
    a.step(plan(6, c2w, rung=Rung.FEWER_STEPS, steps=1, write=False))
    assert counter.calls == 1
    a.step(plan(7, c2w, steps=3, write=False))
    assert counter.calls == 4


def test_a_fully_dynamic_frame_writes_no_points(model, store):
    world = store.create(WorldSpec(EmptySource()))
    session = WorldCamera(world, model, seed=0)
    session.step(plan(0, mask=np.ones((6, 8), bool)))
    assert world.memory.stats().points == 0
    session.step(plan(1))
    assert world.memory.stats().points > 0


def test_snapshot_round_trip_and_errors(store):
    world = store.create(WorldSpec(seed_image(4.0), "lobby"))
    name, path = store.save(world.world_id, "lobby-v1")
    assert name == "lobby-v1" and path.is_file()
    loaded = store.create(WorldSpec(SnapshotSource(name="lobby-v1")))
    mine, theirs = loaded.memory.state_dict(), world.memory.state_dict()
    for name in ("slot", "key", "offset", "feat", "weight"):
        assert torch.equal(mine[name], theirs[name]), name
    assert [s.name for s in store.snapshots()] == ["lobby-v1"]
    with pytest.raises(NotFound, match="nope"):
        store.create(WorldSpec(SnapshotSource(name="nope")))
    uploaded = store.create(WorldSpec(SnapshotSource(data=path.read_bytes())))
    assert uploaded.memory.stats().points == world.memory.stats().points
    with pytest.raises(Exhausted, match="at most 3 worlds"):
        store.create(WorldSpec(EmptySource()))
    store.delete(uploaded.world_id)
    with pytest.raises(InvalidInput, match="snapshot.data"):
        store.create(WorldSpec(SnapshotSource(data=b"not a snapshot")))
    with pytest.raises(InvalidInput, match="name"):
        store.save(world.world_id, "../escape")


def test_world_lifetime_follows_keep_and_sessions(store):
    kept = store.create(WorldSpec(EmptySource(), keep=True))
    temp = store.create(WorldSpec(EmptySource(), keep=False))
    store.attach(kept.world_id)
    store.attach(temp.world_id)
    with pytest.raises(Incompatible, match="1 session"):
        store.delete(kept.world_id)
    store.detach(temp)
    with pytest.raises(NotFound):
        store.get(temp.world_id)  # freed with its last session
    store.detach(kept)
    assert store.get(kept.world_id) is kept
    store.delete(kept.world_id)
    assert len(store) == 0


def test_procedural_world_is_seeded_from_its_start_camera(store):
    pytest.importorskip("latentstage.model.worlds.render")
    world = store.create(WorldSpec(ProceduralSource(3, "outdoor")))
    assert world.memory.stats().points > 0
    assert world.start_intrinsics is not None and world.source.startswith("procedural seed=3")
    k = world.start_intrinsics
    readout = world.memory.readout(world.memory.camera(k, world.start_c2w))
    assert float(readout.coverage.mean()) > 0.5  # its own seed view (sky cells may stay empty)


def test_a_snapshot_of_another_model_is_incompatible(tiny_checkpoint, store, tmp_path):
    world = store.create(WorldSpec(seed_image(4.0)))
    store.save(world.world_id, "other-model")
    torch.manual_seed(1)
    other = load_backend("torch", tiny_checkpoint(tmp_path / "other"), "cpu")
    assert other.model_id != store.model.model_id
    foreign = WorldStore(other, store.snapshot_dir, MemoryConfig(capacity=8192), max_worlds=2)
    with pytest.raises(Incompatible, match="model_id"):
        foreign.create(WorldSpec(SnapshotSource(name="other-model")))
    assert len(foreign) == 0
