"""Worlds: shared latent memories, how they are seeded, and the store that names them.

A :class:`World` is one :class:`~latentstage.runtime.memory.LatentMemory` plus what seeded it.
Several sessions (cameras) may attach to one world; every use of its memory (readout, write,
save) holds the world's lock, so writes to a world are serialised. Model work runs on the
server's single model thread anyway; the lock keeps that true for any caller.

Seeding runs the model (encode, depth estimate) and, for procedural worlds, the renderer, so
the :class:`WorldStore` methods that seed are called on the model thread by the core.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from latentstage.runtime.backends import Backend
from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.conditioning import build_cond
from latentstage.runtime.errors import CorruptFile, InvalidInput, NotFound
from latentstage.runtime.memory import LatentMemory, MemoryConfig, Readout
from latentstage.runtime.pipeline import seed_memory
from latentstage.runtime.providers import ProceduralWorlds, procedural_worlds
from latentstage.runtime.rays import FrameCamera
from latentstage.runtime.snapshot import load_snapshot, save_snapshot
from latentstage.runtime.types import (
    EmptySource,
    Exhausted,
    MemoryInfo,
    ProceduralSource,
    SeedImageSource,
    SnapshotInfo,
    SnapshotSource,
    WorldInfo,
    WorldSpec,
    check_snapshot_name,
)

log = logging.getLogger(__name__)

SNAPSHOT_SUFFIX = ".safetensors"
#: Flow time at which the generator's depth head reads a clean latent (seed images without depth).
DEPTH_ESTIMATE_T = 0.05


def memory_info(memory: LatentMemory, coverage: float = 0.0) -> MemoryInfo:
    """``memory.stats()`` with the readout ``coverage`` of a frame (0..1)."""
    return replace(memory.stats(), coverage=coverage)


@dataclass
class World:
    """One shared latent memory and what seeded it."""

    world_id: str  # server-assigned id
    name: str  # label
    source: str  # what seeded it, in words
    memory: LatentMemory  # the latent spatial memory
    keep: bool  # survives its last session
    start_c2w: np.ndarray = field(default_factory=lambda: np.eye(4))  # [4, 4] seed camera
    start_intrinsics: Intrinsics | None = None  # seed camera intrinsics
    created_unix_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # memory use
    sessions: int = 0  # attached sessions

    def info(self) -> WorldInfo:
        with self.lock:
            mem = memory_info(self.memory)
        return WorldInfo(self.world_id, self.name, self.source, self.sessions, self.keep, mem,
                         self.start_c2w.copy(), self.start_intrinsics, self.created_unix_ms)


# ----- seeding -----------------------------------------------------------------------------------
def _latent_depth(depth: np.ndarray, h: int, w: int, stride: int) -> torch.Tensor:
    """Depth at latent resolution [h, w]: as given, or the median of each stride x stride block
    (zeros, unknown, are ignored unless the whole block is unknown; +inf, sky, is kept)."""
    d = torch.from_numpy(np.ascontiguousarray(depth, np.float32))
    if tuple(d.shape) == (h, w):
        return d
    blocks = d.reshape(h, stride, w, stride).permute(0, 2, 1, 3).reshape(h, w, -1)
    blocks = torch.where(blocks > 0, blocks, torch.full_like(blocks, float("nan")))
    med = blocks.nanmedian(dim=-1).values
    return torch.nan_to_num(med, nan=0.0, posinf=float("inf"))


@torch.inference_mode()
def estimate_depth(model: Backend, memory: LatentMemory, latent: torch.Tensor,
                   camera: FrameCamera) -> torch.Tensor:
    """Depth [h, w] metres of a clean ``latent`` [C, h, w] from the generator's depth head.

    The generator predicts depth with every denoising step; fed the clean latent at a small
    flow time with an empty memory readout, its depth head acts as a monocular estimate.
    """
    c, h, w = latent.shape
    dev = memory.device
    zeros = torch.zeros(h, w, device=dev)
    readout = Readout(torch.zeros(c, h, w, device=dev), zeros, zeros, zeros)  # nothing seen
    cond = build_cond(readout, camera)  # [1, C + 9, h, w]
    t = torch.full((1,), DEPTH_ESTIMATE_T, device=memory.device)
    _, depth = model.denoise(latent[None], t, cond)
    return depth[0, 0]


def seed_from_image(model: Backend, memory: LatentMemory, src: SeedImageSource) -> None:
    """Encode the seed image and write it to ``memory`` with its (given or estimated) depth."""
    f = memory.spec.stride
    camera = memory.camera(src.intrinsics, src.c2w, "seed_image.c2w")
    rgb = torch.from_numpy(src.rgb).to(memory.device).permute(2, 0, 1).float() / 255.0
    if src.depth is None:
        with torch.inference_mode():
            latent = model.encode(rgb[None])[0]
        depth = estimate_depth(model, memory, latent, camera)
        memory.write(latent, depth, camera)
        return
    depth = _latent_depth(src.depth, camera.h, camera.w, f).to(memory.device)
    seed_memory(model, memory, rgb, depth, camera, sky=torch.isinf(depth))


def seed_procedural(model: Backend, memory: LatentMemory, src: ProceduralSource,
                    worlds: ProceduralWorlds | None) -> tuple[np.ndarray, Intrinsics]:
    """Render the procedural world from its start camera and write it; returns that camera."""
    if worlds is None:
        raise InvalidInput("world.procedural", src.kind,
                           "a world kind this server provides (it has no procedural worlds; "
                           "seed from an image or a snapshot)")
    view = worlds(src, tuple(model.native_size), memory.spec.stride, memory.device)
    camera = memory.camera(view.intrinsics, view.c2w, "procedural.c2w")
    seed_memory(model, memory, view.rgb, view.depth, camera, sky=view.sky)
    return camera.c2w, view.intrinsics


# ----- the store ---------------------------------------------------------------------------------
class WorldStore:
    """The worlds in memory, by id, and the snapshot folder."""

    def __init__(self, model: Backend, snapshot_dir: Path, memory_config: MemoryConfig,
                 max_worlds: int, procedural: ProceduralWorlds | None = None):
        self.model = model
        self.procedural = procedural  # procedural world source; None: the registered one
        self.snapshot_dir = Path(snapshot_dir)
        self.memory_config = memory_config
        self.max_worlds = max_worlds
        self._worlds: dict[str, World] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._worlds)

    def get(self, world_id: str) -> World:
        world = self._worlds.get(world_id)
        if world is None:
            raise NotFound(f"world_id {world_id!r} is not a world on this server "
                           f"({len(self._worlds)} worlds; see ListWorlds)")
        return world

    def worlds(self) -> list[World]:
        return list(self._worlds.values())

    def memory_bytes(self) -> int:
        return sum(w.memory.stats().bytes for w in self.worlds())

    def _new_memory(self) -> LatentMemory:
        return LatentMemory(self.model.latent_spec(), self.memory_config,
                            device=self.model.device, model_id=self.model.model_id)

    def restore(self, world_id: str, name: str, source: str, path: Path, keep: bool) -> World:
        """A world rebuilt from the snapshot file at ``path`` (model thread; not registered):
        how a worker takes over a world whose owner was lost (runtime/placement.py)."""
        memory = self._new_memory()
        load_snapshot(memory, path)
        return World(world_id, name, source, memory, keep)

    def reserve(self) -> None:
        """Raise :class:`Exhausted` when no other world fits."""
        if len(self._worlds) >= self.max_worlds:
            raise Exhausted(f"this server holds at most {self.max_worlds} worlds "
                            f"(--max-worlds); delete one with DeleteWorld")

    def create(self, spec: WorldSpec) -> World:
        """Build and register a world (see :meth:`build` and :meth:`register`)."""
        return self.register(self.build(spec))

    def build(self, spec: WorldSpec) -> World:
        """A seeded world, not yet registered (model thread: it may run the model and the
        renderer). A caller cancelled meanwhile simply drops it."""
        self.reserve()
        memory = self._new_memory()
        src = spec.source
        world = World(spec.world_id or uuid.uuid4().hex[:12], spec.name, "", memory, spec.keep)
        if isinstance(src, EmptySource):
            world.source = "empty"
        elif isinstance(src, ProceduralSource):
            world.start_c2w, world.start_intrinsics = seed_procedural(
                self.model, memory, src, self.procedural or procedural_worlds())
            world.source = f"procedural seed={src.seed} kind={src.kind}"
        elif isinstance(src, SeedImageSource):
            seed_from_image(self.model, memory, src)
            world.start_c2w, world.start_intrinsics = src.c2w.copy(), src.intrinsics
            h, w = src.rgb.shape[:2]
            given = "given" if src.depth is not None else "estimated"
            world.source = f"seed_image {w}x{h} depth={given}"
        elif isinstance(src, SnapshotSource):
            self._load_into(memory, src)
            world.source = f"snapshot name={src.name}" if src.name else "snapshot upload"
        else:
            raise InvalidInput("world.source", src, "procedural, seed_image, snapshot or empty")
        return world

    def register(self, world: World, attach: bool = False) -> World:
        """Make a built world available by id (and attach one session to it)."""
        with self._lock:
            self.reserve()
            if world.world_id in self._worlds:  # a client-chosen id (WorldSpec.world_id)
                from latentstage.runtime.errors import Incompatible

                raise Incompatible(f"world_id {world.world_id!r} is in use on this server; "
                                   "attach to it with Open.world_id, or choose another id")
            self._worlds[world.world_id] = world
            world.sessions += int(attach)
        log.info("event=world_created world=%s source=%r keep=%s points=%d", world.world_id,
                 world.source, world.keep, len(world.memory))
        return world

    def delete(self, world_id: str, force: bool = False) -> None:
        from latentstage.runtime.errors import Incompatible

        with self._lock:
            world = self.get(world_id)
            if world.sessions and not force:
                raise Incompatible(f"world_id {world_id!r} has {world.sessions} session(s) "
                                   "attached; close them or pass force")
            del self._worlds[world_id]
        log.info("event=world_deleted world=%s", world_id)

    def attach(self, world_id: str) -> World:
        with self._lock:
            world = self.get(world_id)
            world.sessions += 1
            return world

    def detach(self, world: World) -> None:
        """One session fewer; a world that is not kept goes with its last session."""
        with self._lock:
            world.sessions -= 1
            if world.sessions <= 0 and not world.keep and world.world_id in self._worlds:
                del self._worlds[world.world_id]
                log.info("event=world_freed world=%s", world.world_id)

    # ----- snapshots -------------------------------------------------------------------------
    def snapshot_path(self, name: str, field_name: str = "snapshot.name") -> Path:
        return self.snapshot_dir / (check_snapshot_name(name, field_name) + SNAPSHOT_SUFFIX)

    def save(self, world_id: str, name: str, overwrite: bool = False) -> tuple[str, Path]:
        """Save a world's memory as snapshot ``name`` ("" = automatic). Returns (name, path).
        An existing snapshot is replaced only with ``overwrite``."""
        world = self.get(world_id)
        name = name or f"{world_id}-{int(time.time() * 1000)}"
        path = self.snapshot_path(name, "name")
        with world.lock:
            save_snapshot(world.memory, path, overwrite=overwrite)
        log.info("event=world_saved world=%s snapshot=%s bytes=%d", world_id, name,
                 path.stat().st_size)
        return name, path

    def _load_into(self, memory: LatentMemory, src: SnapshotSource) -> None:
        if src.name is not None:
            path = self.snapshot_path(src.name)
            if not path.is_file():
                raise NotFound(f"snapshot.name {src.name!r} is not in the server's snapshot "
                               "folder (see ListWorlds)")
            load_snapshot(memory, path)
            return
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.snapshot_dir, suffix=".upload") as tmp:
            tmp.write(src.data or b"")
            tmp.flush()
            try:
                load_snapshot(memory, tmp.name)
            except CorruptFile as exc:
                raise InvalidInput("snapshot.data", f"<{len(src.data or b'')} bytes>",
                                   f"a LatentStage snapshot file ({exc})") from None

    def snapshots(self) -> list[SnapshotInfo]:
        if not self.snapshot_dir.is_dir():
            return []
        out = []
        for path in sorted(self.snapshot_dir.glob("*" + SNAPSHOT_SUFFIX)):
            st = path.stat()
            out.append(SnapshotInfo(path.name[: -len(SNAPSHOT_SUFFIX)], st.st_size,
                                    int(st.st_mtime * 1000)))
        return out
