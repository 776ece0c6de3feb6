"""The serving core behind the gRPC servicer: one model, one model thread, the worlds, the
sessions.

The servicer (:mod:`.service`) never imports this module (it holds torch); the server
(:mod:`.server`) builds a :class:`ServingCore` and hands it over. Every method that runs the
model runs it on the :class:`~.scheduler.ModelWorker` thread.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from latentstage.runtime.backends import Backend, load_backend
from latentstage.runtime.device import ThreadPolicy, configure_threads, resolve_device
from latentstage.runtime.guards import ClientId, Guards
from latentstage.runtime.memory import MemoryConfig
from latentstage.runtime.scheduler import ModelWorker
from latentstage.runtime.snapshot import remove_stale_temp_files
from latentstage.runtime.types import (
    Exhausted,
    Frame,
    FramePlan,
    Limits,
    OpenRequest,
    ServerInfo,
    ShuttingDown,
    SnapshotInfo,
    SnapshotSource,
    WorldInfo,
    WorldSpec,
)
from latentstage.runtime.world import World, WorldStore
from latentstage.runtime.world_camera import WorldCamera

log = logging.getLogger(__name__)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in ("latentstage", "grpcio", "protobuf", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


@dataclass
class SessionEntry:
    """An open session as the core sees it."""

    session_id: str  # server-assigned id
    world: World  # the world it is attached to
    camera: WorldCamera  # its camera on the world: noise seed and frame step
    core: ServingCore = field(repr=False)  # owner
    client: ClientId = field(default_factory=ClientId)  # who opened it (per-client caps)
    gone: Callable[[], bool] | None = field(default=None, repr=False)  # stream already ended

    def step(self, plan: FramePlan) -> Frame:
        """Render a plan (model thread)."""
        self.core.threads.apply()  # the thread count for the live sessions (device.py)
        return self.camera.step(plan)

    async def save(self, name: str) -> tuple[str, int]:
        """Save this session's world; returns (snapshot name, bytes)."""
        name, size, _ = await self.core.save_world(self.world.world_id, name)
        return name, size


class ServingCore:
    """Model, worker, worlds and sessions, with the server's limits."""

    def __init__(self, model: Backend, limits: Limits, snapshot_dir: str | Path,
                 memory_config: MemoryConfig | None = None, worker: ModelWorker | None = None,
                 auth_required: bool = False, guards: Guards | None = None):
        self.model = model
        self.limits = limits
        self.worker = worker or ModelWorker()
        config = memory_config or MemoryConfig(capacity=limits.memory_capacity)
        remove_stale_temp_files(snapshot_dir)  # left by saves or uploads killed mid-way
        self.store = WorldStore(model, Path(snapshot_dir), config, limits.max_worlds)
        self.auth_required = auth_required
        self.guards = guards or Guards()  # per-client caps (the server sets its own)
        self._sessions: dict[str, SessionEntry] = {}
        self.tracker = None  # FreeD tracked cameras (runtime.tracking.Tracker), set by the server
        self._opening: list[ClientId] = []  # sessions being opened (counted as open)
        self._owners: dict[str, ClientId] = {}  # world id -> who created it
        self._released: asyncio.Event | None = None  # set when a session slot is freed
        self._closing = False
        self.threads = ThreadPolicy(model.device)  # torch threads per live sessions (device.py)

    @classmethod
    def load(cls, source: str, backend: str, device: str, limits: Limits,
             snapshot_dir: str | Path, threads: int | None = None, **kwargs) -> ServingCore:
        """Load the model ``source`` (a checkpoint dir or "bundled") with ``backend``;
        ``threads`` sets torch's CPU threads (see :func:`configure_threads`)."""
        dev = resolve_device(device)
        n = configure_threads(dev, threads)
        model = load_backend(backend, source, dev)
        log.info("event=model_loaded model=%s backend=%s device=%s torch_threads=%d",
                 model.model_id, backend, model.device, n)
        core = cls(model, limits, snapshot_dir, **kwargs)
        core.threads = ThreadPolicy(dev, threads)
        return core

    # ----- info ----------------------------------------------------------------------------
    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def info(self) -> ServerInfo:
        return ServerInfo(
            model_id=self.model.model_id, backend=self.model.name,
            device=describe_device(self.model.device), versions=_versions(), limits=self.limits,
            native_size=tuple(self.model.native_size),
            latent_stride=self.model.latent_spec().stride,
            default_steps=int(self.model.sampler_steps), sessions=len(self._sessions),
            worlds=len(self.store), auth_required=self.auth_required)

    def memory_bytes(self) -> int:
        return self.store.memory_bytes()

    # ----- worlds --------------------------------------------------------------------------
    async def create_world(self, spec: WorldSpec, client: ClientId | None = None,
                           reply: Callable[[WorldInfo], object] | None = None):
        """Build a world and register it. ``reply(info)`` (the RPC's answer) is built before
        the world is registered, so a world whose answer cannot be built is never kept.
        Returns ``reply(info)``, or the WorldInfo without ``reply``."""
        client = client or ClientId()
        self._check_open()
        self.store.reserve()
        self._check_world_caps(client)
        world = await self.worker.run_model(self.store.build, spec)
        return self._registered(world, client, reply)

    def _registered(self, world: World, client: ClientId,
                    reply: Callable[[WorldInfo], object] | None, attach: bool = False):
        """Answer first, then register (atomically with the limit checks)."""
        out = reply(world.info()) if reply is not None else world.info()
        self._check_world_caps(client)
        self.store.register(world, attach=attach)
        self._owners[world.world_id] = client
        return out

    def _check_world_caps(self, client: ClientId) -> None:
        g = self.guards
        held = [self._owners[w.world_id] for w in self.store.worlds()
                if w.world_id in self._owners]
        for key, cap, what in ((client.peer, g.worlds_per_peer, "address"),
                               (client.token, g.worlds_per_token, "token")):
            if not key or cap <= 0:
                continue
            count = sum(1 for c in held if (c.peer if what == "address" else c.token) == key)
            if count >= cap:
                raise Exhausted(f"this server holds at most {cap} worlds per client {what} "
                                f"(--max-worlds-per-{'peer' if what == 'address' else 'token'})"
                                "; delete one with DeleteWorld")

    async def save_world(self, world_id: str, name: str, overwrite: bool = False
                         ) -> tuple[str, int, Path]:
        self.store.get(world_id)  # NOT_FOUND before queueing
        name, path = await self.worker.run_model(self.store.save, world_id, name, overwrite)
        return name, path.stat().st_size, path

    async def load_world(self, source: SnapshotSource, name: str, client: ClientId | None = None,
                         reply: Callable[[WorldInfo], object] | None = None):
        return await self.create_world(WorldSpec(source, name or (source.name or ""), True),
                                       client, reply)

    async def delete_world(self, world_id: str, force: bool) -> None:
        self.store.delete(world_id, force)
        self._owners.pop(world_id, None)

    def list_worlds(self) -> tuple[list[WorldInfo], list[SnapshotInfo]]:
        return [w.info() for w in self.store.worlds()], self.store.snapshots()

    # ----- sessions ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closing:
            raise ShuttingDown("the server is shutting down; it takes no new work")

    def _session_refusal(self, client: ClientId) -> str | None:
        """Why a session for ``client`` cannot open now, or None."""
        if len(self._sessions) + len(self._opening) >= self.limits.max_sessions:
            return (f"open: this server allows {self.limits.max_sessions} sessions "
                    "(--max-sessions) and all are in use; retry later")
        g = self.guards
        holders = [h.client for h in self._sessions.values()] + self._opening
        for key, cap, flag in ((client.peer, g.sessions_per_peer, "peer"),
                               (client.token, g.sessions_per_token, "token")):
            if key and cap > 0 and sum(
                    (c.peer if flag == "peer" else c.token) == key for c in holders) >= cap:
                return (f"open: this server allows {cap} sessions per client "
                        f"{'address' if flag == 'peer' else 'token'} "
                        f"(--max-sessions-per-{flag}) and this client has them all; retry later")
        return None

    def _reclaim_gone(self) -> None:
        """Free the slots of sessions whose stream has already ended (cancelled clients whose
        handlers have not run their clean-up yet)."""
        for handle in list(self._sessions.values()):
            if handle.gone is not None and handle.gone():
                self.close_session(handle)

    async def _wait_for_slot(self, client: ClientId) -> None:
        """Raise :class:`Exhausted` unless a slot is (or, within ``release_wait_s``, becomes)
        free for ``client``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.guards.release_wait_s
        while (why := self._session_refusal(client)) is not None:
            self._reclaim_gone()
            if self._session_refusal(client) is None:
                return
            left = deadline - loop.time()
            if left <= 0:
                raise Exhausted(why)
            self._released = self._released or asyncio.Event()
            self._released.clear()
            try:
                await asyncio.wait_for(self._released.wait(), min(left, 0.05))
            except TimeoutError:
                pass

    async def open_session(self, request: OpenRequest, client: ClientId | None = None,
                           gone: Callable[[], bool] | None = None,
                           reply: Callable[[WorldInfo], object] | None = None) -> SessionEntry:
        """Attach a new session to its world (creating the world first if asked).

        ``gone()`` tells whether the session's stream has already ended; ``reply`` checks that
        a new world's info can be answered before the world is registered.
        """
        client = client or ClientId()
        self._check_open()
        await self._wait_for_slot(client)
        self._opening.append(client)
        world: World | None = None  # attached: detached again if the open fails
        try:
            if request.new_world is not None:
                self.store.reserve()
                self._check_world_caps(client)
                built = await self.worker.run_model(self.store.build, request.new_world)
                self._registered(built, client, reply, attach=True)
                world = built
            else:
                world = self.store.attach(request.world_id or "")
            s = request.settings
            handle = SessionEntry(uuid.uuid4().hex[:12], world,
                                   WorldCamera(world, self.model, s.seed), self,
                                   client, gone)
            self._sessions[handle.session_id] = handle
            self.threads.sessions_changed(len(self._sessions))
        except BaseException:
            if world is not None:
                self.store.detach(world)
            raise
        finally:
            self._opening.remove(client)
        log.info("event=session_opened session=%s world=%s size=%dx%d encoding=%s pacing=%s "
                 "fps=%g steps=%d client=%r", handle.session_id, world.world_id, s.width,
                 s.height, s.encoding, s.pacing, s.target_fps, s.steps, request.client_name)
        return handle

    def close_session(self, handle: SessionEntry) -> None:
        """Free the session's slot at once (idempotent); its world goes with its last session
        unless kept."""
        if self._sessions.pop(handle.session_id, None) is not None:
            self.threads.sessions_changed(len(self._sessions))
            self.store.detach(handle.world)
            if handle.world.world_id not in {w.world_id for w in self.store.worlds()}:
                self._owners.pop(handle.world.world_id, None)
            if self._released is not None:
                self._released.set()

    def begin_shutdown(self) -> None:
        """Refuse new sessions and worlds from now on."""
        self._closing = True

    def shutdown(self) -> None:
        """Stop the worker threads (after the sessions have ended)."""
        self._closing = True
        self.worker.shutdown(wait=True)
