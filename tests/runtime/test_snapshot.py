"""Memory snapshots: bit-exact round trips, atomic writes, clear errors on bad files."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.errors import CorruptFile, Incompatible, NotFound
from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig
from latentstage.runtime.snapshot import read_snapshot_metadata

SPEC = LatentSpec(channels=4, stride=8)
K = Intrinsics.from_fov(70, 128, 128)
POSES = [look_at([0, 0.5 * i, 0], [3, 0.5 * i, 0.2 * i]) for i in range(6)]


def filled_memory(**config) -> LatentMemory:
    memory = LatentMemory(SPEC, MemoryConfig(capacity=4096, **config), model_id="test-model")
    gen = torch.Generator().manual_seed(0)
    for pose in POSES:
        depth = 2 + torch.rand(16, 16, generator=gen)
        sky = torch.zeros(16, 16, dtype=torch.bool)
        sky[:3] = True
        conf = torch.full((16, 16), 0.25 if len(memory) % 2 else 1.0)  # trust varies
        memory.write(torch.randn(4, 16, 16, generator=gen), depth, memory.camera(K, pose),
                     sky_mask=sky, confidence=conf)
    return memory


def buffers(memory: LatentMemory) -> dict[str, torch.Tensor]:
    names = ("pos", "feat", "weight", "trust", "extent", "slant", "key", "last_seen", "valid",
             "env_feat", "env_weight", "sorted_key", "sorted_slot")
    return {n: getattr(memory, n).clone() for n in names}


def test_round_trip_is_bit_exact(tmp_path):
    memory = filled_memory()
    path = tmp_path / "world.safetensors"
    memory.save(path)
    loaded = LatentMemory(SPEC, MemoryConfig(capacity=4096), model_id="test-model")
    loaded.load(path)
    for name, tensor in buffers(memory).items():
        assert torch.equal(tensor, getattr(loaded, name)), name
    assert loaded.stats().points == memory.stats().points
    assert loaded.stats().writes == memory.stats().writes
    for pose in POSES:
        a, b = memory.readout(memory.camera(K, pose)), loaded.readout(loaded.camera(K, pose))
        assert torch.equal(a.features, b.features) and torch.equal(a.sky, b.sky)
    meta = read_snapshot_metadata(path)
    assert meta["latent_spec"] == {"channels": 4, "stride": 8, "scaling": 1.0, "shift": 0.0}
    assert meta["format_version"] == 3 and meta["model_id"] == "test-model"
    assert len(meta["checksum"]["value"]) == 64  # format 3: SHA-256 of tensors and metadata
    assert "voxel_base" in meta["memory_config"] and meta["convention"]


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    memory = filled_memory()
    path = tmp_path / "world.safetensors"
    memory.save(path)
    original = path.read_bytes()

    import latentstage.runtime.snapshot as snapshot

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(snapshot, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        memory.save(path)
    assert path.read_bytes() == original  # the old snapshot is intact
    assert [p.name for p in tmp_path.iterdir()] == ["world.safetensors"]


@pytest.mark.parametrize(
    "other, field",
    [
        (LatentMemory(LatentSpec(channels=8, stride=8), model_id="test-model"),
         "latent_spec.channels"),
        (LatentMemory(LatentSpec(channels=4, stride=16), model_id="test-model"),
         "latent_spec.stride"),
        (LatentMemory(LatentSpec(channels=4, stride=8, scaling=0.5), model_id="test-model"),
         "latent_spec.scaling"),
        (LatentMemory(SPEC, model_id="another-model"), "model_id"),
        (LatentMemory(SPEC, MemoryConfig(voxel_base=0.01), model_id="test-model"),
         "memory_config.voxel_base"),
    ],
)
def test_mismatched_snapshot_is_refused_and_memory_untouched(tmp_path, other, field):
    path = tmp_path / "world.safetensors"
    filled_memory().save(path)
    lat = torch.ones(other.spec.channels, 16, 16)
    k = Intrinsics.from_fov(70, 16 * other.spec.stride, 16 * other.spec.stride)
    other.write(lat, torch.full((16, 16), 2.0), other.camera(k, POSES[0]))
    before = buffers(other)
    with pytest.raises(Incompatible, match=field.replace(".", r"\.")):
        other.load(path)
    for name, tensor in before.items():
        assert torch.equal(tensor, getattr(other, name)), name


def test_truncated_snapshot_gives_a_clear_error(tmp_path):
    path = tmp_path / "world.safetensors"
    filled_memory().save(path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 5):
        path.write_bytes(data[:cut])
        memory = filled_memory()
        before = buffers(memory)
        with pytest.raises(CorruptFile, match="world.safetensors"):
            memory.load(path)
        assert torch.equal(before["feat"], memory.feat)


def test_corrupt_snapshots_give_clear_errors(tmp_path):
    path = tmp_path / "world.safetensors"
    filled_memory().save(path)
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CorruptFile):
        filled_memory().load(garbage)

    # Valid safetensors, but the metadata is not ours.
    header["__metadata__"] = {"latentstage": "{not json"}
    encoded = json.dumps(header).encode()
    bad_meta = tmp_path / "bad_meta.safetensors"
    bad_meta.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data[8 + header_len :])
    with pytest.raises(CorruptFile, match="not JSON"):
        filled_memory().load(bad_meta)

    with pytest.raises(NotFound):
        filled_memory().load(tmp_path / "missing.safetensors")


def test_snapshot_with_non_finite_values_is_refused(tmp_path):
    memory = filled_memory()
    memory.feat[memory.valid.nonzero()[0, 0], 0] = float("nan")
    path = tmp_path / "world.safetensors"
    memory.save(path)
    with pytest.raises(CorruptFile, match="non-finite"):
        filled_memory().load(path)


def test_load_into_smaller_capacity_is_refused(tmp_path):
    path = tmp_path / "world.safetensors"
    memory = filled_memory()
    memory.save(path)
    small = LatentMemory(SPEC, MemoryConfig(capacity=len(memory) - 1), model_id="test-model")
    with pytest.raises(Incompatible, match="capacity"):
        small.load(path)


def test_version_1_snapshots_load_with_every_point_trusted(tmp_path):
    """Snapshots written before per-point trust existed still load, and read out as before."""
    from safetensors.torch import load_file, save_file

    memory = filled_memory()
    path = tmp_path / "world.safetensors"
    memory.save(path)
    meta = read_snapshot_metadata(path)
    tensors = load_file(str(path))
    del tensors["trust"]
    meta["format_version"] = 1
    old = tmp_path / "v1.safetensors"
    save_file(tensors, str(old), metadata={"latentstage": json.dumps(meta)})
    loaded = LatentMemory(SPEC, MemoryConfig(capacity=4096), model_id="test-model")
    loaded.load(old)
    assert len(loaded) == len(memory)
    assert torch.all(loaded.trust[loaded.valid] == 1)
    untrusting = LatentMemory(SPEC, MemoryConfig(capacity=4096, yield_ratio=0),
                              model_id="test-model")
    untrusting.load(path)
    for pose in POSES:  # all equally trusted reads like trust switched off
        camera = loaded.camera(K, pose)
        a, b = loaded.readout(camera), untrusting.readout(camera)
        assert torch.equal(a.features, b.features) and torch.equal(a.depth, b.depth)
