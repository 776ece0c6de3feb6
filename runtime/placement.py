"""Worlds on many workers: the routing header, and worlds that survive a lost worker.

A proxy (nginx, ``deploy/nginx``) sends every call for a world to one worker by hashing the
request header ``x-latentstage-world``. The servicer checks that the header, when present,
names the same world as the message (:func:`latentstage.runtime.routing.check_header`).

With a shared snapshot store (``latentstage serve --snapshot-store DIR``) a :class:`Placement`
keeps this worker's worlds recoverable:

- a world created here takes a lease in the store (:mod:`.snapshot_store`) and is saved at
  once, then every ``--autosnapshot-s`` seconds while it changes, and when a client asks
  (SaveWorld, ``Control.snapshot``: the end of a take);
- a call for a world this worker does not hold, but the store does, restores it from its
  newest snapshot before it is answered (waiting for the previous owner's lease to expire),
  and the session learns what it got (``EVENT_KIND_WORLD_RESTORED``: the snapshot's write
  count; a client that saw more writes lost the difference);
- the lease is renewed on every tick; a worker whose lease is no longer the newest writes
  nothing more, drops the world and ends its sessions (they reconnect through the proxy);
- a worker that comes back (or is added) never takes a world another live worker owns: it
  answers UNAVAILABLE naming the owner and asks for the world, which the owner hands over
  (final snapshot, lease released) once no session is attached to it.

Placement runs on the server's event loop; snapshots are written on the model thread (the
world's lock held), file work on the I/O pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from latentstage.runtime.errors import NotFound
from latentstage.runtime.snapshot_store import (
    Lease,
    LeaseLost,
    OwnedElsewhere,
    SnapshotStore,
    StoredSnapshot,
    now_ms,
    refuses_connections,
)

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RestoreInfo:
    """How a world came back on this worker."""

    world_id: str  # the world
    epoch: int  # this worker's lease epoch
    writes: int  # the memory's write count in the snapshot restored
    snapshot_age_ms: int  # how old that snapshot was when restored
    previous_owner: str  # the worker that held the world before ("?" if unknown)
    took_ms: float  # from the call arriving to the world being ready


class Placement:
    """Leases, autosnapshots and restores of this worker's worlds in a :class:`SnapshotStore`."""

    def __init__(self, core, store: SnapshotStore, autosnapshot_s: float = 10.0):
        self.core = core  # latentstage.runtime.core.ServingCore: worlds, model thread, I/O pool
        self.store = store
        self.autosnapshot_s = autosnapshot_s  # 0 = only on request
        self.leases: dict[str, Lease] = {}  # world id -> this worker's lease
        self.saved_writes: dict[str, int] = {}  # world id -> write count at its last save
        self.saved_at: dict[str, float] = {}  # world id -> time.monotonic() of its last save
        self.restored: dict[str, RestoreInfo] = {}  # world id -> how it was restored here
        self.on_drop: Callable[[str], Awaitable[None]] | None = None  # end a world's sessions
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task | None = None

    @property
    def server_id(self) -> str:
        return self.store.server_id

    def _lock(self, world_id: str) -> asyncio.Lock:
        return self._locks.setdefault(world_id, asyncio.Lock())

    def _resident(self, world_id: str):
        try:
            return self.core.store.get(world_id)
        except NotFound:
            return None

    # ----- new worlds --------------------------------------------------------------------------
    async def reserve(self, world_id: str) -> Lease | None:
        """Claim a client-chosen id before its world is built (FAILED_PRECONDITION when the
        store has it already); None for a server-chosen id ("")."""
        if not world_id:
            return None
        return await self.core.worker.run_io(self.store.claim, world_id, True)

    async def unreserve(self, lease: Lease | None) -> None:
        """Give back a reserved id whose world was not created."""
        if lease is not None:
            await self.core.worker.run_io(self.store.delete, lease)

    async def track(self, world_id: str, lease: Lease | None) -> None:
        """Start keeping a world created here: lease (if not reserved) and first snapshot."""
        if lease is None:
            lease = await self.core.worker.run_io(self.store.claim, world_id, True)
        self.leases[world_id] = lease
        await self.save(world_id)

    # ----- restore -----------------------------------------------------------------------------
    async def ensure(self, world_id: str, wait_s: float | None = None) -> RestoreInfo | None:
        """Make ``world_id`` resident: nothing when it is here (and still ours), else restore
        it from the store. Waits up to ``wait_s`` (default: one lease time) for a previous
        owner's lease to expire; raises NotFound when neither here nor in the store."""
        async with self._lock(world_id):
            world = self._resident(world_id)
            lease = self.leases.get(world_id)
            if world is not None and lease is None:
                return None  # a world made before the store was used, or a tracked camera's
            if world is not None:
                if await self.core.worker.run_io(self.store.is_current, lease):
                    return None
                await self.drop(world_id, "lease_lost")
                raise OwnedElsewhere(f"world_id {world_id!r} moved to another worker; retry")
            return await self._restore(world_id, wait_s)

    async def _restore(self, world_id: str, wait_s: float | None) -> RestoreInfo:
        start = time.monotonic()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.store.lease_ms / 1000 + 1 if wait_s is None else wait_s)
        previous = await self.core.worker.run_io(self.store.lease, world_id)
        gone = False  # the previous owner's address refuses connections: it is dead
        asked = False  # the owner was asked to hand the world over
        while True:
            try:
                lease = await self.core.worker.run_io(self.store.claim, world_id, False, gone)
                break
            except OwnedElsewhere:
                if loop.time() >= deadline:
                    raise
                owner = await self.core.worker.run_io(self.store.lease, world_id)
                gone = bool(owner and owner.address and owner.address != self.store.address
                            and await self.core.worker.run_io(refuses_connections,
                                                             owner.address))
                if not gone:
                    if owner is not None and not asked:  # hand it over when next idle
                        await self.core.worker.run_io(self.store.want, world_id)
                        asked = True
                    await asyncio.sleep(0.05)
        try:
            snap = await self.core.worker.run_io(self.store.latest, world_id)
            meta = await self.core.worker.run_io(self.store.meta, world_id)
            self.core.store.reserve()
            world = await self.core.worker.run_model(self._load, world_id, snap, meta)
            await self.core.worker.run_io(self.store.adopt, lease, snap)
            self.core.store.register(world)
        except BaseException:
            await self.core.worker.run_io(self.store.release, lease)
            raise
        self.leases[world_id] = lease
        self.saved_writes[world_id] = snap.writes
        self.saved_at[world_id] = time.monotonic()
        info = RestoreInfo(world_id, lease.epoch, snap.writes, now_ms() - snap.saved_unix_ms,
                           previous.owner if previous else "?",
                           (time.monotonic() - start) * 1000)
        self.restored[world_id] = info
        log.info("event=world_restored world=%s epoch=%d writes=%d snapshot_age_ms=%d "
                 "previous_owner=%s took_ms=%.0f", world_id, info.epoch, info.writes,
                 info.snapshot_age_ms, info.previous_owner, info.took_ms)
        return info

    def _load(self, world_id: str, snap: StoredSnapshot, meta: dict):
        """The world from its snapshot (model thread)."""
        import numpy as np

        world = self.core.store.restore(world_id, str(meta.get("name", "")),
                                        f"restored epoch={snap.epoch} writes={snap.writes}",
                                        snap.path, bool(meta.get("keep", True)))
        if isinstance(meta.get("start_c2w"), list) and len(meta["start_c2w"]) == 16:
            world.start_c2w = np.asarray(meta["start_c2w"], np.float64).reshape(4, 4)
        return world

    def restored_message(self, info: RestoreInfo) -> str:
        return (f"world {info.world_id} restored on worker {self.server_id} from its snapshot "
                f"with {info.writes} writes ({info.snapshot_age_ms} ms old; previous owner "
                f"{info.previous_owner}; epoch {info.epoch}); writes after it were lost")

    # ----- saving ------------------------------------------------------------------------------
    async def save(self, world_id: str) -> int:
        """Write the world's snapshot to the store now (model thread); returns bytes, 0 when
        the world is not kept here. Drops the world if its lease was lost."""
        lease = self.leases.get(world_id)
        world = self._resident(world_id)
        if lease is None or world is None:
            return 0
        meta = {"name": world.name, "keep": world.keep,
                "start_c2w": [float(v) for v in world.start_c2w.reshape(16)]}

        def write():
            with world.lock:
                writes = world.memory.stats().writes
                renewed, size = self.store.save(lease, world.memory, meta)
            return renewed, size, writes

        try:
            lease, size, writes = await self.core.worker.run_model(write)
        except LeaseLost as exc:
            log.warning("event=snapshot_refused world=%s reason=%s", world_id, exc)
            await self.drop(world_id, "lease_lost")
            return 0
        if world_id in self.leases:
            self.leases[world_id] = lease
        self.saved_writes[world_id] = writes
        self.saved_at[world_id] = time.monotonic()
        log.debug("event=world_autosaved world=%s epoch=%d writes=%d bytes=%d", world_id,
                  lease.epoch, writes, size)
        return size

    async def forget(self, world_id: str) -> None:
        """The world was deleted here: remove it from the store."""
        lease = self.leases.pop(world_id, None)
        self.restored.pop(world_id, None)
        if lease is not None:
            await self.core.worker.run_io(self.store.delete, lease)

    async def hand_over(self, world_id: str) -> None:
        """Let another worker have an idle world it asked for: final snapshot, lease
        released, world dropped here (the proxy routes its calls there now)."""
        world = self._resident(world_id)
        if world is not None and world.memory.stats().writes != self.saved_writes.get(world_id):
            await self.save(world_id)
        lease = self.leases.pop(world_id, None)
        if lease is None:
            return
        await self.core.worker.run_io(self.store.release, lease)
        self.restored.pop(world_id, None)
        try:
            self.core.store.delete(world_id, force=True)
        except NotFound:
            pass
        log.info("event=world_handed_over world=%s epoch=%d", world_id, lease.epoch)

    async def drop(self, world_id: str, reason: str) -> None:
        """Stop holding a world whose lease is gone: nothing more is written, sessions end."""
        self.leases.pop(world_id, None)
        self.restored.pop(world_id, None)
        try:
            self.core.store.delete(world_id, force=True)
        except NotFound:
            pass
        log.warning("event=world_dropped world=%s reason=%s", world_id, reason)
        if self.on_drop is not None:
            await self.on_drop(world_id)

    # ----- the loop ----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        period = self.store.lease_ms / 3000
        if self.autosnapshot_s > 0:
            period = min(period, self.autosnapshot_s)
        while True:
            await asyncio.sleep(max(0.05, period))
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store hiccup must not end the loop
                log.error("event=placement_tick_failed error=%r", exc, exc_info=exc)

    async def tick(self) -> None:
        """Renew leases (all first: a save waits for the model thread, a renewal must not),
        hand idle worlds over when asked, autosnapshot changed worlds, forget worlds deleted
        or freed here."""
        due = []
        for world_id, lease in list(self.leases.items()):
            world = self._resident(world_id)
            if world is None:  # deleted, or freed with its last session
                await self.forget(world_id)
                continue
            try:
                self.leases[world_id] = await self.core.worker.run_io(self.store.renew, lease)
            except LeaseLost:
                await self.drop(world_id, "lease_lost")
                continue
            if world.sessions == 0 and await self.core.worker.run_io(self.store.wanted_by,
                                                                    world_id):
                await self.hand_over(world_id)
            elif (self.autosnapshot_s > 0
                  and time.monotonic() - self.saved_at.get(world_id, 0) >= self.autosnapshot_s
                  and world.memory.stats().writes != self.saved_writes.get(world_id)):
                due.append(world_id)
        for world_id in due:
            await self.save(world_id)

    async def close(self) -> None:
        """Graceful stop: final snapshots of changed worlds, then release every lease so other
        workers take the worlds at once."""
        if self._task is not None:
            self._task.cancel()
        for world_id in list(self.leases):
            world = self._resident(world_id)
            if world is not None and world.memory.stats().writes != self.saved_writes.get(
                    world_id):
                await self.save(world_id)
            lease = self.leases.pop(world_id, None)
            if lease is not None:
                await self.core.worker.run_io(self.store.release, lease)
