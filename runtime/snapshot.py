"""Memory snapshots: safetensors plus JSON metadata, written atomically, verified on load.

A snapshot holds the memory's ``state_dict()``: only the occupied slots (with their slot
numbers, so a round trip is bit-exact, layout included) and every field of their record, the
environment latent and the counters; loading hands a verified state to ``load_state()``. This
module never imports the memory: it reads the record's layout from ``state_spec()``, so a new
per-point field needs no change here. The safetensors header
carries one metadata entry, ``latentstage``, a JSON object with the format version, the model
id, the latent spec, the memory config, the convention, the counters and (from format 3) a
SHA-256 checksum of the tensors and the rest of the metadata. Loading checks all of it (type
and range of every value, counters against the tensors, the checksum) before touching the
memory, so a bad file never corrupts or poisons a world.

Formats: 1 (float32 record), 2 (+ per-point trust), 3 (+ SHA-256), 4 (the packed record of
:data:`latentstage.runtime.memory.store.FIELDS`: float16 features, positions inside the voxel,
int32 recency). Formats 1 to 3 are verified in their own layout, then converted on load.

Writes are atomic: a temporary file in the same folder, fsynced, then renamed over (or, without
``overwrite``, linked to) the final name, and the folder is fsynced. Temporary files left by a
process killed mid-save are removed by :func:`remove_stale_temp_files` when a server starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from latentstage.runtime.errors import CorruptFile, Incompatible, NotFound

log = logging.getLogger(__name__)

_META_KEY = "latentstage"
# Config fields that change how points are keyed and read; the rest (capacity, weights) may
# differ between the saving and the loading memory.
_VOXEL_FIELDS = ("voxel_base", "voxel_scale", "near", "far", "env_height", "env_width")
_INT64_MAX = 2**63 - 1
#: Format this build writes, and the formats it reads (1 to 3 are converted on load).
FORMAT_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
#: Format from which a snapshot must carry a checksum.
CHECKSUM_SINCE = 3
#: Temporary files of interrupted saves (``.<name>.<random>.tmp``) and uploads
#: (``tmp<random>.upload``).
_TEMP_PATTERN = re.compile(r"^(\..+\.tmp|tmp[A-Za-z0-9_]+\.upload)$")


class SnapshotExists(Incompatible):
    """A save would replace an existing snapshot without ``overwrite``."""


#: name -> (shape, dtype, lowest value, highest value) of every tensor of a state dict.
Layout = dict[str, tuple[tuple[int, ...], torch.dtype, float, float]]


class Snapshottable(Protocol):
    """What a snapshot needs of a memory (``LatentMemory`` provides it)."""

    config: object  # MemoryConfig: capacity, env_height, env_width and the voxel fields
    spec: object  # LatentSpec: channels

    def metadata(self) -> dict: ...  # model id, latent spec, memory config, convention
    def state_dict(self) -> dict[str, torch.Tensor]: ...  # record, env, counters (0-d)
    def state_spec(self, n: int) -> Layout: ...  # the state's layout for n points
    def load_state(self, state: dict[str, torch.Tensor]) -> None: ...
    def from_float_record(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...
    def __len__(self) -> int: ...


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def checksum(meta: dict, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of the metadata without its ``checksum`` entry and of every tensor's
    name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    rest = {k: v for k, v in meta.items() if k != "checksum"}
    h.update(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\0{name}:{t.dtype}:{tuple(t.shape)}\0".encode())
        h.update(t.view(torch.uint8).numpy().data if t.numel() else b"")
    return h.hexdigest()


def save_snapshot(memory: Snapshottable, path: str | Path, overwrite: bool = True) -> Path:
    """Write ``memory`` to ``path`` atomically (temporary file in the same folder, then rename).

    Without ``overwrite`` an existing ``path`` is left alone and :class:`SnapshotExists` is
    raised (the final link is atomic, so two savers never both win).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise SnapshotExists(f"name: snapshot {path.stem!r} already exists; pass overwrite to "
                             "replace it, or choose another name")
    tensors = {k: v.contiguous() for k, v in memory.state_dict().items()}
    counters = {name: int(tensors.pop(name)) for name in ("evictions", "writes")}
    meta = {"format_version": FORMAT_VERSION, **memory.metadata(), "counters": counters}
    meta["checksum"] = {"algorithm": "sha256", "value": checksum(meta, tensors)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={_META_KEY: json.dumps(meta)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the name was taken meanwhile
            except FileExistsError:
                raise SnapshotExists(f"name: snapshot {path.stem!r} already exists; pass "
                                     "overwrite to replace it") from None
            os.unlink(tmp)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temp_files(folder: str | Path) -> tuple[int, int]:
    """Delete the temporary files that interrupted saves and uploads left in ``folder``.

    Call it when a server starts, before any save: a snapshot folder belongs to one server at
    a time. Returns (files, bytes) removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0, 0
    files = size = 0
    for entry in folder.iterdir():
        if not _TEMP_PATTERN.match(entry.name) or not entry.is_file():
            continue
        try:
            n = entry.stat().st_size
            entry.unlink()
        except OSError as exc:
            log.warning("event=temp_file_not_removed path=%s error=%s", entry, exc)
            continue
        files, size = files + 1, size + n
    if files:
        _fsync_dir(folder)
        log.info("event=temp_files_removed folder=%s files=%d bytes=%d", folder, files, size)
    return files, size


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
            f"snapshot {str(path)!r} is not a readable safetensors file: {_clip(exc)}"
        ) from exc
    if raw is None:
        raise CorruptFile(f"snapshot {str(path)!r} has no {_META_KEY!r} metadata")
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CorruptFile(f"snapshot {str(path)!r} metadata is not JSON: {_clip(exc)}") from exc
    if not isinstance(meta, dict):
        raise CorruptFile(f"snapshot {str(path)!r} metadata is not a JSON object")
    return meta


def _clip(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_metadata(meta: dict, source: str) -> None:
    """Raise :class:`CorruptFile` naming the first metadata value of the wrong type or range."""
    version = meta.get("format_version")
    if not _is_int(version):
        raise CorruptFile(f"{source}: format_version is {_short(version)}, expected an integer")
    for name, kind in (("model_id", str), ("convention", str), ("latent_spec", dict),
                       ("memory_config", dict)):
        if not isinstance(meta.get(name), kind):
            raise CorruptFile(f"{source}: {name} is {_short(meta.get(name))}, expected a "
                              f"{'string' if kind is str else 'JSON object'}")
    counters = meta.get("counters", {})
    if not isinstance(counters, dict):
        raise CorruptFile(f"{source}: counters is {_short(counters)}, expected a JSON object")
    for name in ("evictions", "writes"):
        value = counters.get(name, 0)
        if not _is_int(value) or not 0 <= value <= _INT64_MAX:
            raise CorruptFile(f"{source}: counters.{name} is {_short(value)}, expected an "
                              f"integer in 0..{_INT64_MAX}")
    if version >= CHECKSUM_SINCE:
        ck = meta.get("checksum")
        if (not isinstance(ck, dict) or ck.get("algorithm") != "sha256"
                or not isinstance(ck.get("value"), str)
                or not re.fullmatch(r"[0-9a-f]{64}", ck["value"])):
            raise CorruptFile(f"{source}: checksum is {_short(ck)}, expected "
                              "{'algorithm': 'sha256', 'value': <64 hex digits>}")


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_compatible(meta: dict, memory: Snapshottable, source: str) -> None:
    """Raise :class:`Incompatible` naming the first field where ``meta`` differs from memory
    (:class:`CorruptFile` when a value has the wrong type)."""
    check_metadata(meta, source)
    expected = memory.metadata()
    if meta["format_version"] not in READABLE_VERSIONS:
        raise Incompatible(
            f"{source}: format_version is {meta['format_version']!r}, "
            f"this build reads {', '.join(map(str, READABLE_VERSIONS))}"
        )
    checks = [("model_id", meta["model_id"], expected["model_id"]),
              ("convention", meta["convention"], expected["convention"])]
    for name, value in expected["latent_spec"].items():
        checks.append((f"latent_spec.{name}", meta["latent_spec"].get(name), value))
    for name in _VOXEL_FIELDS:
        value = expected["memory_config"][name]
        checks.append((f"memory_config.{name}", meta["memory_config"].get(name), value))
    for name, got, want in checks:
        if type(got) is bool or got != want:
            raise Incompatible(f"{source}: {name} is {_short(got)}, the memory in use has "
                               f"{want!r}")


def load_snapshot(memory: Snapshottable, path: str | Path) -> None:
    """Replace the contents of ``memory`` with the snapshot at ``path``.

    Everything is verified first (metadata types and ranges, the checksum, tensor names,
    shapes, dtypes, value ranges, slot range, counters against the tensors); on any error
    ``memory`` is left untouched.
    """
    path = Path(path)
    source = f"snapshot {str(path)!r}"
    meta = read_snapshot_metadata(path)
    check_compatible(meta, memory, source)
    try:
        t = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptFile(f"{source} is truncated or corrupt: {_clip(exc)}") from exc
    version = meta["format_version"]
    if version >= CHECKSUM_SINCE:
        if checksum(meta, t) != meta["checksum"]["value"]:
            raise CorruptFile(f"{source}: checksum mismatch (the file was altered or damaged "
                              "after it was written)")
    counters = meta.get("counters", {})
    evictions, writes = int(counters.get("evictions", 0)), int(counters.get("writes", 0))
    if version < FORMAT_VERSION:
        if version == 1 and "trust" not in t and "weight" in t:
            t["trust"] = torch.ones_like(t["weight"])  # before trust: all trusted alike
        _check_tensors(t, _float_record_layout(memory, _points(t)), memory, source)
        _check_counters(t, writes, source)
        t = memory.from_float_record(t)
    _check_tensors(t, memory.state_spec(_points(t)), memory, source)
    _check_counters(t, writes, source)
    t["writes"] = torch.tensor(writes, dtype=torch.int64)
    t["evictions"] = torch.tensor(evictions, dtype=torch.int64)
    memory.load_state(t)


def _points(t: dict[str, torch.Tensor]) -> int:
    return t["slot"].shape[0] if "slot" in t and t["slot"].dim() == 1 else -1


def _float_record_layout(memory: Snapshottable, n: int) -> Layout:
    """The layout of formats 1 to 3: a float32 record (slant is a ratio clamped to [1, 4],
    fused by running averages, so a little rounding is allowed either side)."""
    c, cfg, f32, inf = memory.spec.channels, memory.config, torch.float32, math.inf
    return {
        "slot": ((n,), torch.int64, -inf, inf),
        "pos": ((n, 3), f32, -inf, inf),
        "feat": ((n, c), f32, -inf, inf),
        "weight": ((n,), f32, 0.0, inf),
        "trust": ((n,), f32, 0.0, inf),
        "extent": ((n,), f32, 0.0, inf),
        "slant": ((n,), f32, 1.0 - 1e-3, 4.0 + 1e-3),
        "key": ((n,), torch.int64, 0.0, 2.0**62),
        "last_seen": ((n,), torch.int64, -inf, inf),  # checked against the counters
        "env_feat": ((c, cfg.env_height, cfg.env_width), f32, -inf, inf),
        "env_weight": ((cfg.env_height, cfg.env_width), f32, 0.0, inf),
    }


def _check_tensors(t: dict[str, torch.Tensor], want: Layout, memory: Snapshottable,
                   source: str) -> None:
    """Names, shapes, dtypes, finiteness and ranges of ``t`` against ``want``; unique keys;
    slots outside the capacity are packed into the first slots."""
    n, cfg = _points(t), memory.config
    extra = sorted(set(t) - set(want))
    if extra:
        raise CorruptFile(f"{source} has unexpected tensors {_short(extra)}")
    for name, (shape, dtype, lo, hi) in want.items():
        if name not in t:
            raise CorruptFile(f"{source} lacks tensor {name!r}")
        if tuple(t[name].shape) != shape or t[name].dtype != dtype:
            raise CorruptFile(
                f"{source}: tensor {name!r} is {tuple(t[name].shape)} {t[name].dtype}, "
                f"expected {shape} {dtype}"
            )
        if t[name].is_floating_point() and not bool(torch.isfinite(t[name]).all()):
            raise CorruptFile(f"{source}: tensor {name!r} has non-finite values")
        if name != "slot" and t[name].numel() and not (
                lo <= float(t[name].min()) and float(t[name].max()) <= hi):
            raise CorruptFile(f"{source}: tensor {name!r} has values outside [{lo:g}, {hi:g}]")
    if n > cfg.capacity:
        raise Incompatible(f"{source} holds {n} points, over this memory's capacity "
                           f"{cfg.capacity}")
    if n and (int(t["key"].max()) == _INT64_MAX or torch.unique(t["key"]).numel() != n):
        raise CorruptFile(f"{source}: voxel keys are not unique (or hold the empty sentinel)")
    slots = t["slot"]
    if n and (int(slots.min()) < 0 or int(slots.max()) >= cfg.capacity):
        # A snapshot from a larger memory: pack its points into the first slots instead.
        t["slot"] = torch.arange(n)
    if n and torch.unique(t["slot"]).numel() != n:
        raise CorruptFile(f"{source}: slot numbers are not unique")


def _check_counters(t: dict[str, torch.Tensor], writes: int, source: str) -> None:
    """Points and the environment come from writes, each stamped with the write count."""
    last_seen = t["last_seen"]
    if last_seen.numel() and (int(last_seen.min()) < 0 or int(last_seen.max()) > writes):
        raise CorruptFile(f"{source}: last_seen values lie outside 0..counters.writes "
                          f"({writes})")
    if writes == 0 and (last_seen.numel() or bool((t["env_weight"] > 0).any())):
        raise CorruptFile(f"{source}: counters.writes is 0 but the snapshot holds written "
                          "points or environment")
