"""The shared snapshot store: the latest snapshot of every world, and who owns each world.

Workers behind a proxy that routes by world share one directory (in production a network
filesystem). Per world it holds::

    <store>/<world_id>/world.json                  name, keep, seed camera (written once)
    <store>/<world_id>/lease.<epoch>.json           the claim of epoch N: owner, expiry
    <store>/<world_id>/snap.<epoch>.safetensors     the snapshot written by epoch N's owner
    <store>/<world_id>/want.json                    another worker asks for the world

**Fencing by epoch.** A worker owns a world while the lease with the highest epoch names it
and has not expired. A lease is taken by creating the next epoch's file with ``O_EXCL``: of
two workers racing for a world, exactly one creates it. The owner renews its own epoch's file
(write to a temporary file, rename) well before it expires. A worker writes only its own
epoch's snapshot file, and readers take the snapshot of the highest epoch, so a stale owner
(a killed worker that comes back, or one cut off from the store for longer than the lease)
can never overwrite a newer snapshot: at worst it writes a file of an old epoch nobody reads.
It checks that its lease is still the newest before every save and every renewal and drops
the world when it is not. A new owner links the snapshot it restored from as its own epoch's
file before it answers, so the newest epoch always has a snapshot.

Leases expire by wall clock (Unix milliseconds): hosts sharing a store need synchronised
clocks (NTP), and the lease time must exceed the worst clock skew plus a renewal interval.
The one window this file-based scheme leaves is a stale owner that checked its lease, then
stalled for longer than the lease, then renamed a snapshot of its old epoch: harmless, since
readers ignore old epochs. Torch is only needed to save and load memories.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from latentstage.runtime.errors import Incompatible, NotFound
from latentstage.runtime.types import ShuttingDown

log = logging.getLogger(__name__)

_LEASE = re.compile(r"^lease\.(\d{10})\.json$")
_SNAP = re.compile(r"^snap\.(\d{10})\.safetensors$")


def now_ms() -> int:
    return int(time.time() * 1000)


def refuses_connections(address: str, timeout_s: float = 0.3) -> bool:
    """Whether nothing listens at ``address`` ("HOST:PORT"): the connection is refused. A
    timeout or any other error is not proof (a partition looks like that): False."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return False
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


class OwnedElsewhere(ShuttingDown):
    """Another worker holds a live lease on the world: UNAVAILABLE (retry; the proxy moves the
    world's calls once that worker is gone and its lease has expired)."""


class LeaseLost(RuntimeError):
    """This worker's lease on a world is no longer the newest: it must drop the world."""


@dataclass(frozen=True)
class Lease:
    """One epoch's claim on a world."""

    world_id: str  # the world
    epoch: int  # 1, 2, 3...: one more each time the world changes owner
    owner: str  # the owning worker's server id
    address: str  # where the owner listens (for people and logs)
    expires_unix_ms: int  # wall clock after which another worker may take the world
    released: bool = False  # the owner let go (graceful): another worker may take it at once

    def live(self, at_ms: int | None = None) -> bool:
        return not self.released and (at_ms or now_ms()) < self.expires_unix_ms


@dataclass(frozen=True)
class StoredSnapshot:
    """The newest snapshot of a world in the store."""

    world_id: str  # the world
    epoch: int  # the epoch whose owner wrote it
    path: Path  # the safetensors file
    writes: int  # the memory's write count when it was saved
    saved_unix_ms: int  # when it was written (file modification time)


class SnapshotStore:
    """A shared directory of world snapshots and leases, as seen by one worker."""

    def __init__(self, root: str | Path, server_id: str, address: str = "",
                 lease_s: float = 6.0):
        self.root = Path(root)
        self.server_id = server_id  # this worker (written into its leases)
        self.address = address  # this worker's address, for the leases
        self.lease_ms = int(lease_s * 1000)  # how long a lease lives without renewal
        self.root.mkdir(parents=True, exist_ok=True)

    # ----- reading -----------------------------------------------------------------------------
    def _dir(self, world_id: str) -> Path:
        return self.root / world_id  # world ids are checked ([A-Za-z0-9] first): no paths

    def _epochs(self, world_id: str, pattern: re.Pattern) -> list[tuple[int, Path]]:
        folder = self._dir(world_id)
        if not folder.is_dir():
            return []
        out = [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.match(p.name))]
        return sorted(out)

    def lease(self, world_id: str) -> Lease | None:
        """The newest lease on ``world_id``, or None."""
        for epoch, path in reversed(self._epochs(world_id, _LEASE)):
            try:
                return Lease(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError) as exc:  # being created: O_EXCL then write
                log.info("event=lease_unreadable world=%s epoch=%d error=%s", world_id, epoch,
                         exc)
                return Lease(world_id, epoch, "?", "", now_ms() + self.lease_ms)
        return None

    def latest(self, world_id: str) -> StoredSnapshot | None:
        """The snapshot of the highest epoch, or None."""
        from latentstage.runtime.snapshot import read_snapshot_metadata

        snaps = self._epochs(world_id, _SNAP)
        if not snaps:
            return None
        epoch, path = snaps[-1]
        meta = read_snapshot_metadata(path)
        writes = int(meta.get("counters", {}).get("writes", 0))
        return StoredSnapshot(world_id, epoch, path, writes, int(path.stat().st_mtime * 1000))

    def meta(self, world_id: str) -> dict:
        """What ``world.json`` says of the world (name, keep, start_c2w); {} if absent."""
        try:
            return json.loads((self._dir(world_id) / "world.json").read_text())
        except (OSError, ValueError):
            return {}

    def exists(self, world_id: str) -> bool:
        return bool(self._epochs(world_id, _SNAP) or self._epochs(world_id, _LEASE))

    def world_ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.exists(p.name))

    def is_current(self, lease: Lease) -> bool:
        """Whether ``lease`` is still the newest lease on its world (this worker owns it)."""
        newest = self.lease(lease.world_id)
        return newest is not None and newest.epoch == lease.epoch and newest.owner == lease.owner

    # ----- claiming ----------------------------------------------------------------------------
    def claim(self, world_id: str, new: bool, owner_gone: bool = False) -> Lease:
        """Take the next epoch of ``world_id``. ``new``: the world must not exist yet
        (:class:`Incompatible` if it does). Raises :class:`OwnedElsewhere` while another
        worker's lease is live (unless ``owner_gone``: its address refuses connections, so
        no process of it is left), :class:`NotFound` for a world the store does not have."""
        current = self.lease(world_id)
        if new and self.exists(world_id):
            raise Incompatible(f"world_id {world_id!r} already exists in the snapshot store "
                               "(owned by " f"{current.owner if current else 'nobody'}); "
                               "attach to it with Open.world_id, or choose another id")
        if not new and not self._epochs(world_id, _SNAP):
            raise NotFound(f"world_id {world_id!r} is not a world on this server nor in the "
                           "snapshot store (see ListWorlds)")
        if (current is not None and current.owner != self.server_id and current.live()
                and not owner_gone):
            raise OwnedElsewhere(self._owned_message(current))
        (self._dir(world_id) / "want.json").unlink(missing_ok=True)
        lease = Lease(world_id, (current.epoch if current else 0) + 1, self.server_id,
                      self.address, now_ms() + self.lease_ms)
        folder = self._dir(world_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"lease.{lease.epoch:010d}.json"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise OwnedElsewhere(f"world_id {world_id!r}: another worker took epoch "
                                 f"{lease.epoch} at the same moment; retry") from None
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(lease)))
            f.flush()
            os.fsync(f.fileno())
        log.info("event=lease_taken world=%s epoch=%d owner=%s previous=%s", world_id,
                 lease.epoch, self.server_id, current.owner if current else "-")
        return lease

    def _owned_message(self, lease: Lease) -> str:
        left = max(0.0, (lease.expires_unix_ms - now_ms()) / 1000)
        return (f"world_id {lease.world_id!r} is owned by worker {lease.owner} "
                f"({lease.address or 'address unknown'}, epoch {lease.epoch}) whose lease "
                f"runs {left:.1f} s more; retry (its calls move here once it is gone)")

    def _write_lease(self, lease: Lease) -> None:
        folder = self._dir(lease.world_id)
        fd, tmp = tempfile.mkstemp(prefix=".lease.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(lease)))
        os.replace(tmp, folder / f"lease.{lease.epoch:010d}.json")

    def renew(self, lease: Lease) -> Lease:
        """Extend ``lease``; raises :class:`LeaseLost` when a newer epoch exists."""
        if not self.is_current(lease):
            raise LeaseLost(f"world {lease.world_id}: epoch {lease.epoch} is no longer the "
                            "newest lease")
        renewed = Lease(lease.world_id, lease.epoch, lease.owner, lease.address,
                        now_ms() + self.lease_ms)
        self._write_lease(renewed)
        return renewed

    def release(self, lease: Lease) -> None:
        """Let go of a world (graceful shutdown): another worker may take it at once."""
        if self.is_current(lease):
            self._write_lease(Lease(lease.world_id, lease.epoch, lease.owner, lease.address,
                                    now_ms(), released=True))

    def delete(self, lease: Lease) -> None:
        """Remove a deleted world from the store (only by its current owner)."""
        if self.is_current(lease):
            shutil.rmtree(self._dir(lease.world_id), ignore_errors=True)
            log.info("event=store_world_deleted world=%s epoch=%d", lease.world_id, lease.epoch)

    # ----- hand-over -----------------------------------------------------------------------
    def want(self, world_id: str) -> None:
        """Ask the world's owner to let go of it when it is next idle (no session attached):
        the proxy now routes its calls to this worker (a worker came back, or was added)."""
        folder = self._dir(world_id)
        if folder.is_dir():
            self._write_json(folder / "want.json", {"by": self.server_id, "at_unix_ms": now_ms()})

    def wanted_by(self, world_id: str) -> str | None:
        """The other worker that asked for ``world_id`` within two lease times, or None."""
        try:
            want = json.loads((self._dir(world_id) / "want.json").read_text())
        except (OSError, ValueError):
            return None
        if (not isinstance(want, dict) or want.get("by") == self.server_id
                or now_ms() - int(want.get("at_unix_ms", 0)) > 2 * self.lease_ms):
            return None
        return str(want.get("by"))

    # ----- saving ------------------------------------------------------------------------------
    def save(self, lease: Lease, memory, meta: dict | None = None) -> tuple[Lease, int]:
        """Write ``memory`` as this epoch's snapshot (atomic) and renew the lease. Returns the
        renewed lease and the bytes written. Raises :class:`LeaseLost` (nothing written)
        when a newer epoch exists."""
        from latentstage.runtime.snapshot import save_snapshot

        if not self.is_current(lease):
            raise LeaseLost(f"world {lease.world_id}: epoch {lease.epoch} is no longer the "
                            "newest lease; its snapshot was not written")
        folder = self._dir(lease.world_id)
        if meta is not None and not (folder / "world.json").exists():
            self._write_json(folder / "world.json", meta)
        path = save_snapshot(memory, folder / f"snap.{lease.epoch:010d}.safetensors",
                             overwrite=True)
        lease = self.renew(lease)
        self._collect(lease)
        return lease, path.stat().st_size

    def adopt(self, lease: Lease, snap: StoredSnapshot) -> None:
        """Make ``snap`` (an older epoch's) this epoch's snapshot too, before answering: the
        newest epoch then always has a snapshot, and nothing an older owner writes is read."""
        if snap.epoch == lease.epoch:
            return
        folder = self._dir(lease.world_id)
        tmp = folder / f".adopt.{lease.epoch:010d}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        os.link(snap.path, tmp)
        os.replace(tmp, folder / f"snap.{lease.epoch:010d}.safetensors")

    def _collect(self, lease: Lease) -> None:
        """Delete older epochs' snapshots and leases (this epoch has its own snapshot now)."""
        for pattern in (_SNAP, _LEASE):
            for epoch, path in self._epochs(lease.world_id, pattern):
                if epoch < lease.epoch:
                    path.unlink(missing_ok=True)

    @staticmethod
    def _write_json(path: Path, data: dict) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".world.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data))
        os.replace(tmp, path)
