"""Worlds: shared latent memories, how they are seeded, and the store that names them.

A :class:`World` is one :class:`~latentstage.runtime.memory.LatentMemory` plus what seeded it.
Several sessions (cameras) may attach to one world; every use of its memory (readout, write,
save) holds the world's lock, so writes to a world are serialised. Model work runs on the
server's single model thread anyway; the lock keeps that true for any caller.

Seeding runs the model (encode, depth estimate) and, for procedural worlds, the renderer, so
the :class:`WorldStore` methods that seed are called on the model thread by the hub.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from latentstage.runtime.backends import Backend
from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.errors import CorruptFile, InvalidInput, NotFound
from latentstage.runtime.memory import LatentMemory, MemoryConfig, Readout
from latentstage.runtime.pipeline import FramePipeline, build_cond
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
#: Horizontal field of view of a seed camera without a lens, and of procedural seeding.
SEED_FOV_DEG = 70.0
#: Flow time at which the generator's depth head reads a clean latent (seed images without depth).
DEPTH_ESTIMATE_T = 0.05


def memory_info(memory: LatentMemory, coverage: float = 0.0) -> MemoryInfo:
    """The plain-data stats of ``memory``."""
    s = memory.stats()
    return MemoryInfo(s.points, s.capacity, s.bytes, s.used_bytes, s.evictions, s.writes,
                      coverage)


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
                   intrinsics: Intrinsics, c2w: np.ndarray) -> torch.Tensor:
    """Depth [h, w] metres of a clean ``latent`` [C, h, w] from the generator's depth head.

    The generator predicts depth with every denoising step; fed the clean latent at a small
    flow time with an empty memory readout, its depth head acts as a monocular estimate.
    """
    c, h, w = latent.shape
    dev = memory.device
    zeros = torch.zeros(h, w, device=dev)
    readout = Readout(torch.zeros(c, h, w, device=dev), zeros, zeros, zeros)  # nothing seen
    cond = build_cond(readout, intrinsics, c2w, memory.spec.stride)
    t = torch.full((1,), DEPTH_ESTIMATE_T, device=memory.device)
    _, depth = model.denoise(latent[None], t, cond)
    return depth[0, 0]


def seed_from_image(model: Backend, memory: LatentMemory, src: SeedImageSource) -> None:
    """Encode the seed image and write it to ``memory`` with its (given or estimated) depth."""
    f = memory.spec.stride
    k = src.intrinsics
    h, w = k.height // f, k.width // f
    rgb = torch.from_numpy(src.rgb).to(memory.device).permute(2, 0, 1).float() / 255.0
    pipe = FramePipeline(model, memory)
    if src.depth is None:
        with torch.inference_mode():
            latent = model.encode(rgb[None])[0]
        depth = estimate_depth(model, memory, latent, k, src.c2w)
        memory.write(latent, depth, k, src.c2w)
        return
    depth = _latent_depth(src.depth, h, w, f).to(memory.device)
    sky = torch.isinf(depth)
    pipe.seed_world(rgb, depth, k, src.c2w, sky=sky)


def procedural_start(scene) -> np.ndarray:
    """A start camera [4, 4] inside ``scene``: the first pose of its "loop" trajectory when the
    worlds package provides trajectories, else a free spot near the centre looking at the
    nearest landmark."""
    try:
        from latentstage.model.worlds import make_trajectory

        return np.asarray(make_trajectory("loop", scene, frames=2, seed=scene.seed).c2w[0])
    except ImportError:
        pass
    lo, hi = scene.bounds
    height = scene.bounds[0, 2] + float(np.mean(scene.camera_height))
    eye = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, height])
    if len(scene.landmarks):
        target = scene.landmarks[np.argmin(np.linalg.norm(scene.landmarks - eye, axis=1))]
        if np.linalg.norm(target[:2] - eye[:2]) < 0.5:
            target = eye + np.array([1.0, 0.0, 0.0])
    else:
        target = eye + np.array([1.0, 0.0, 0.0])
    return look_at(eye, [target[0], target[1], eye[2] - 0.2])


def seed_procedural(model: Backend, memory: LatentMemory, src: ProceduralSource
                    ) -> tuple[np.ndarray, Intrinsics]:
    """Render the procedural world from its start camera and write it; returns that camera."""
    try:
        from latentstage.model.worlds.render import render
        from latentstage.model.worlds.scene import make_scene

        scene = make_scene(src.seed, src.kind, device=memory.device)
    except ImportError as exc:  # the worlds package is partial in this build
        raise InvalidInput("world.procedural.kind", src.kind,
                           f"a kind this build provides ({exc})") from None
    k = Intrinsics.from_fov(SEED_FOV_DEG, *model.native_size)
    c2w = procedural_start(scene)
    full = render(scene, k, c2w)
    lat = render(scene, k.latent(memory.spec.stride), c2w)
    depth = torch.where(lat.sky[0], torch.zeros_like(lat.depth[0]), lat.depth[0])
    FramePipeline(model, memory).seed_world(full.rgb[0].clamp(0, 1), depth, k, c2w, sky=lat.sky[0])
    return c2w, k


# ----- the store ---------------------------------------------------------------------------------
class WorldStore:
    """The worlds in memory, by id, and the snapshot folder."""

    def __init__(self, model: Backend, snapshot_dir: Path, memory_config: MemoryConfig,
                 max_worlds: int):
        self.model = model
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
            world.start_c2w, world.start_intrinsics = seed_procedural(self.model, memory, src)
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
