"""Memory snapshots: safetensors plus JSON metadata, written atomically, verified on load.

A snapshot holds only the occupied slots (with their slot numbers, so a round trip is
bit-exact, layout included), the environment latent and the counters. The safetensors header
carries one metadata entry, ``latentstage``, a JSON object with the format version, the model
id, the latent spec, the memory config and the convention. Loading checks all of it against
the memory in use before touching that memory, so a bad file never corrupts a world.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from latentstage.runtime.errors import CorruptFile, Incompatible, NotFound
from latentstage.runtime.memory import LatentMemory, WriteStats

_META_KEY = "latentstage"
# Config fields that change how points are keyed and read; the rest (capacity, weights) may
# differ between the saving and the loading memory.
_VOXEL_FIELDS = ("voxel_base", "voxel_scale", "near", "far", "env_height", "env_width")


def save_snapshot(memory: LatentMemory, path: str | Path) -> Path:
    """Write ``memory`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    slots = memory.valid.nonzero().squeeze(1)
    tensors = {
        "slot": slots.cpu(),
        "pos": memory.pos[slots].cpu(),
        "feat": memory.feat[slots].cpu(),
        "weight": memory.weight[slots].cpu(),
        "trust": memory.trust[slots].cpu(),
        "extent": memory.extent[slots].cpu(),
        "slant": memory.slant[slots].cpu(),
        "key": memory.key[slots].cpu(),
        "last_seen": memory.last_seen[slots].cpu(),
        "env_feat": memory.env_feat.cpu(),
        "env_weight": memory.env_weight.cpu(),
    }
    meta = memory.metadata()
    meta["counters"] = {"evictions": memory._evictions, "writes": memory._writes}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp,
                  metadata={_META_KEY: json.dumps(meta)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_snapshot_metadata(path: str | Path) -> dict:
    """The JSON metadata of a snapshot, raising :class:`CorruptFile` if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"snapshot {str(path)!r} does not exist")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(_META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptFile(
            f"snapshot {str(path)!r} is not a readable safetensors file: {exc}"
        ) from exc
    if raw is None:
        raise CorruptFile(f"snapshot {str(path)!r} has no {_META_KEY!r} metadata")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CorruptFile(f"snapshot {str(path)!r} metadata is not JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise CorruptFile(f"snapshot {str(path)!r} metadata is not a JSON object")
    return meta


def check_compatible(meta: dict, memory: LatentMemory, source: str) -> None:
    """Raise :class:`Incompatible` naming the first field where ``meta`` differs from memory."""
    expected = memory.metadata()
    if meta.get("format_version") not in LatentMemory.READABLE_VERSIONS:
        raise Incompatible(
            f"{source}: format_version is {meta.get('format_version')!r}, "
            f"this build reads {', '.join(map(str, LatentMemory.READABLE_VERSIONS))}"
        )
    checks = [("model_id", meta.get("model_id"), expected["model_id"]),
              ("convention", meta.get("convention"), expected["convention"])]
    for name, value in expected["latent_spec"].items():
        checks.append((f"latent_spec.{name}", (meta.get("latent_spec") or {}).get(name), value))
    for name in _VOXEL_FIELDS:
        value = expected["memory_config"][name]
        checks.append((f"memory_config.{name}", (meta.get("memory_config") or {}).get(name),
                       value))
    for name, got, want in checks:
        if got != want:
            raise Incompatible(f"{source}: {name} is {got!r}, the memory in use has {want!r}")


def load_snapshot(memory: LatentMemory, path: str | Path) -> None:
    """Replace the contents of ``memory`` with the snapshot at ``path``.

    Everything is verified first (metadata, tensor names, shapes, dtypes, slot range, finite
    values); on any error ``memory`` is left untouched.
    """
    path = Path(path)
    source = f"snapshot {str(path)!r}"
    meta = read_snapshot_metadata(path)
    check_compatible(meta, memory, source)
    try:
        t = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptFile(f"{source} is truncated or corrupt: {exc}") from exc
    if meta["format_version"] == 1 and "trust" not in t and "weight" in t:
        t["trust"] = torch.ones_like(t["weight"])  # before trust: everything was trusted alike
    _check_tensors(t, memory, source)
    counters = meta.get("counters") or {}

    slots = t["slot"].to(memory.device)
    memory.clear()
    memory.pos[slots] = t["pos"].to(memory.device)
    memory.feat[slots] = t["feat"].to(memory.device)
    memory.weight[slots] = t["weight"].to(memory.device)
    memory.trust[slots] = t["trust"].to(memory.device)
    memory.extent[slots] = t["extent"].to(memory.device)
    memory.slant[slots] = t["slant"].to(memory.device)
    memory.key[slots] = t["key"].to(memory.device)
    memory.last_seen[slots] = t["last_seen"].to(memory.device)
    memory.valid[slots] = True
    memory.env_feat.copy_(t["env_feat"])
    memory.env_weight.copy_(t["env_weight"])
    memory._count = int(slots.numel())
    memory._high = int(slots.max()) + 1 if slots.numel() else 0
    memory._evictions = int(counters.get("evictions", 0))
    memory._writes = int(counters.get("writes", 0))
    memory._last = WriteStats()
    memory._reindex()


def _check_tensors(t: dict[str, torch.Tensor], memory: LatentMemory, source: str) -> None:
    n = t["slot"].shape[0] if "slot" in t and t["slot"].dim() == 1 else -1
    c, cfg = memory.spec.channels, memory.config
    want = {
        "slot": ((n,), torch.int64),
        "pos": ((n, 3), torch.float32),
        "feat": ((n, c), torch.float32),
        "weight": ((n,), torch.float32),
        "trust": ((n,), torch.float32),
        "extent": ((n,), torch.float32),
        "slant": ((n,), torch.float32),
        "key": ((n,), torch.int64),
        "last_seen": ((n,), torch.int64),
        "env_feat": ((c, cfg.env_height, cfg.env_width), torch.float32),
        "env_weight": ((cfg.env_height, cfg.env_width), torch.float32),
    }
    for name, (shape, dtype) in want.items():
        if name not in t:
            raise CorruptFile(f"{source} lacks tensor {name!r}")
        if tuple(t[name].shape) != shape or t[name].dtype != dtype:
            raise CorruptFile(
                f"{source}: tensor {name!r} is {tuple(t[name].shape)} {t[name].dtype}, "
                f"expected {shape} {dtype}"
            )
        if t[name].is_floating_point() and not bool(torch.isfinite(t[name]).all()):
            raise CorruptFile(f"{source}: tensor {name!r} has non-finite values")
    if n > cfg.capacity:
        raise Incompatible(f"{source} holds {n} points, over this memory's capacity "
                           f"{cfg.capacity}")
    slots = t["slot"]
    if n and (int(slots.min()) < 0 or int(slots.max()) >= cfg.capacity):
        # A snapshot from a larger memory: pack its points into the first slots instead.
        t["slot"] = torch.arange(n)
    if n and torch.unique(t["slot"]).numel() != n:
        raise CorruptFile(f"{source}: slot numbers are not unique")
