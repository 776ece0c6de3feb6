"""The asyncio client: :class:`AsyncClient` (world calls, TLS and token) and
:class:`AsyncSession` (one Session stream, which re-opens its world with backoff when its
worker is lost, recording each :class:`Recovery`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from latentstage.runtime.routing import WORLD_HEADER, is_world_id
from latentstage.v1 import service_pb2 as pb
from latentstage.v1 import service_pb2_grpc as pb_grpc

#: Client message limits: a client trusts its server, so it accepts any frame up to 256 MiB.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class SessionClosed(RuntimeError):
    """The server ended the session stream (see :attr:`AsyncSession.final_event`)."""


class AsyncClient:
    """An asyncio client. ``token`` adds ``authorization: Bearer <token>`` to every call;
    ``root_certificates`` (PEM bytes) or ``tls=True`` (system roots) selects TLS."""

    def __init__(self, target: str, *, token: str | None = None,
                 root_certificates: bytes | None = None, tls: bool = False,
                 server_name: str | None = None, options: Sequence[tuple[str, object]] = ()):
        opts = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), *options]
        if server_name:
            opts.append(("grpc.ssl_target_name_override", server_name))
        if root_certificates is not None or tls:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self.channel = grpc.aio.secure_channel(target, creds, options=opts)
        else:
            self.channel = grpc.aio.insecure_channel(target, options=opts)
        self.stub = pb_grpc.LatentStageServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def world_metadata(self, world_id: str) -> tuple[tuple[str, str], ...]:
        """The call's metadata with the world header (a proxy routes the call by it). An id
        that is not a valid world id is left out of the header: the server refuses it from the
        message, naming the field (a megabyte of header would fail inside gRPC instead)."""
        if is_world_id(world_id):
            return self.metadata + ((WORLD_HEADER, world_id),)
        return self.metadata

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def server_info(self, timeout: float | None = 30) -> pb.ServerInfo:
        reply = await self.stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=self.metadata,
                                              timeout=timeout)
        return reply.info

    async def create_world(self, spec: pb.WorldSpec, timeout: float | None = 120
                           ) -> pb.WorldInfo:
        reply = await self.stub.CreateWorld(pb.CreateWorldRequest(spec=spec),
                                            metadata=self.world_metadata(spec.world_id),
                                            timeout=timeout)
        return reply.world

    async def save_world(self, world_id: str, name: str = "", return_data: bool = False,
                         timeout: float | None = 120, overwrite: bool = False
                         ) -> pb.SaveWorldResponse:
        """Save a world as snapshot ``name``; an existing name is replaced only with
        ``overwrite`` (else FAILED_PRECONDITION)."""
        return await self.stub.SaveWorld(
            pb.SaveWorldRequest(world_id=world_id, name=name, return_data=return_data,
                                overwrite=overwrite),
            metadata=self.world_metadata(world_id), timeout=timeout)

    async def load_world(self, name: str | None = None, data: bytes | None = None,
                         label: str = "", timeout: float | None = 120, world_id: str = ""
                         ) -> pb.WorldInfo:
        ref = pb.SnapshotRef(name=name) if name is not None else pb.SnapshotRef(data=data)
        reply = await self.stub.LoadWorld(
            pb.LoadWorldRequest(snapshot=ref, name=label, world_id=world_id),
            metadata=self.world_metadata(world_id), timeout=timeout)
        return reply.world

    async def delete_world(self, world_id: str, force: bool = False,
                           timeout: float | None = 30) -> None:
        await self.stub.DeleteWorld(pb.DeleteWorldRequest(world_id=world_id, force=force),
                                    metadata=self.world_metadata(world_id), timeout=timeout)

    async def list_worlds(self, timeout: float | None = 30) -> pb.ListWorldsResponse:
        return await self.stub.ListWorlds(pb.ListWorldsRequest(), metadata=self.metadata,
                                          timeout=timeout)

    def session(self, open_msg: pb.Open, reconnect: bool = True) -> AsyncSession:
        """A session stream; ``async with`` opens it (and closes it on exit). With
        ``reconnect`` a session whose worker is lost re-opens its world (see AsyncSession)."""
        return AsyncSession(self, open_msg, reconnect)


@dataclass
class Recovery:
    """One reconnection of a session whose stream failed (its worker was lost)."""

    error: str  # what ended the old stream: status code name and details
    lost_at: float  # time.monotonic() when the old stream failed
    reopened_at: float  # time.monotonic() when the new stream's SESSION_OPENED arrived
    attempts: int  # Opens sent until one succeeded
    server_before: str  # Frame.server_id of the last frame before
    writes_seen: int  # the world's write count in the last frame before (MemoryStats.writes)
    restored_writes: int | None = None  # write count of the snapshot restored (WORLD_RESTORED)
    first_frame_at: float | None = None  # time.monotonic() of the first frame after
    server_after: str = ""  # Frame.server_id of that frame

    @property
    def writes_lost(self) -> int | None:
        """Writes the client saw that the restored world lacks (None: not restored)."""
        if self.restored_writes is None:
            return None
        return max(0, self.writes_seen - self.restored_writes)


def worker_lost(exc: grpc.aio.AioRpcError) -> bool:
    """Whether a failed call means its worker (or the connection to it) was lost: UNAVAILABLE,
    or a stream reset by a proxy whose upstream died mid-stream (nginx resets it with HTTP/2
    INTERNAL_ERROR, which gRPC reports as INTERNAL "Stream removed ... RST_STREAM"; a server's
    own INTERNAL status never looks like that)."""
    if exc.code() == grpc.StatusCode.UNAVAILABLE:
        return True
    details = exc.details() or ""
    return exc.code() == grpc.StatusCode.INTERNAL and "RST_STREAM" in details


#: Control fields that stay in force, replayed on the new stream after a reconnection.
_STICKY = ("sampler_steps", "target_fps", "encoding", "jpeg_quality", "pause_writes")


class AsyncSession:
    """One Session stream. Events and errors met while waiting for frames are kept in
    :attr:`events` and :attr:`errors`.

    With ``reconnect`` (the default) a stream whose worker was lost (:func:`worker_lost`), or,
    with ``reconnect_on_shutdown``, one that ends with EVENT_KIND_SERVER_SHUTTING_DOWN (a
    worker stopped behind a proxy), is opened again on the same world id (a proxy routes it
    to the world's worker, which restores the world from the shared snapshot store if the old
    worker was lost), with backoff from ``backoff_s`` doubling up to 2 s, for at most
    ``reconnect_timeout_s``; sticky Control settings are sent again. Poses sent meanwhile are
    lost (counted in :attr:`poses_lost`); :meth:`render` sends its pose again. Each
    reconnection is recorded in :attr:`recoveries` (time, writes lost).
    """

    def __init__(self, client: AsyncClient, open_msg: pb.Open, reconnect: bool = True,
                 backoff_s: float = 0.05, reconnect_timeout_s: float = 60.0,
                 reconnect_on_shutdown: bool = False):
        self.client, self.open_msg = client, open_msg
        self.call = None
        self.session_id = self.world_id = ""
        self.settings: pb.SessionSettings | None = None
        self.events: list[pb.Event] = []
        self.errors: list[pb.Error] = []
        self.final_event: pb.Event | None = None
        self.reconnect = reconnect
        self.reconnect_on_shutdown = reconnect_on_shutdown
        self.backoff_s, self.reconnect_timeout_s = backoff_s, reconnect_timeout_s
        self.recoveries: list[Recovery] = []
        self.poses_lost = 0  # poses that could not be sent while the stream was down
        self.resent = 0  # poses render() sent again after a reconnection (frames lost)
        self.server_id = ""  # Frame.server_id of the last frame
        self.last_writes = 0  # MemoryStats.writes of the last frame
        self._sticky: dict = {}  # Control fields in force

    async def __aenter__(self) -> AsyncSession:
        await self.open()
        return self

    async def __aexit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            await self.close()
        else:
            self.cancel()

    def _world_of(self, msg: pb.Open) -> str:
        return msg.world_id or (msg.new_world.world_id if msg.HasField("new_world") else "")

    async def _start(self, open_msg: pb.Open) -> pb.Event:
        call = self.client.stub.Session(
            metadata=self.client.world_metadata(self._world_of(open_msg)))
        if self.call is None:
            self.call = call  # a reconnection swaps calls only once the new one is open
        # The server answers with its headers at once: a call refused before it reads Open
        # (UNAUTHENTICATED) then fails on the read below with its real status, instead of a
        # write racing the refusal.
        await call.initial_metadata()
        try:
            await call.write(pb.SessionRequest(open=open_msg))
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass  # the read below raises the status
        msg = await call.read()
        if msg is grpc.aio.EOF or msg.WhichOneof("kind") != "event":
            raise SessionClosed(f"expected EVENT_KIND_SESSION_OPENED, got {msg}")
        self.call = call
        self.session_id, self.world_id = msg.event.session_id, msg.event.world_id
        self.settings = msg.event.settings
        return msg.event

    async def open(self) -> pb.Event:
        """Send Open and wait for EVENT_KIND_SESSION_OPENED (raises grpc.aio.AioRpcError on
        refusal)."""
        return await self._start(self.open_msg)

    async def _reopen(self, error: str) -> pb.SessionResponse:
        """Open the same world again (backoff); returns the new SESSION_OPENED."""
        lost = time.monotonic()
        msg = pb.Open()
        msg.CopyFrom(self.open_msg)
        msg.world_id = self.world_id  # attach (the oneof drops new_world)
        delay, attempts = self.backoff_s, 0
        while True:
            attempts += 1
            try:
                event = await self._start(msg)
                break
            except grpc.aio.AioRpcError as exc:
                if (exc.code() != grpc.StatusCode.UNAVAILABLE
                        or time.monotonic() - lost > self.reconnect_timeout_s):
                    raise
            await asyncio.sleep(delay)
            delay = min(2 * delay, 2.0)
        self.recoveries.append(Recovery(error, lost, time.monotonic(), attempts,
                                        self.server_id, self.last_writes))
        if self._sticky:
            await self.call.write(pb.SessionRequest(control=pb.Control(**self._sticky)))
        return pb.SessionResponse(event=event)

    async def send(self, pose_msg: pb.Pose) -> None:
        try:
            await self.call.write(pb.SessionRequest(pose=pose_msg))
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            if not self.reconnect:
                raise
            self.poses_lost += 1  # the reader reconnects; this pose is lost

    async def control(self, **fields) -> None:
        """Send a Control (fields of latentstage.v1.Control, e.g. target_fps=24)."""
        snapshot = fields.pop("snapshot", None)
        self._sticky.update({k: v for k, v in fields.items() if k in _STICKY})
        msg = pb.Control(**fields)
        if snapshot is not None:
            msg.snapshot.name = snapshot
        await self.call.write(pb.SessionRequest(control=msg))

    async def recv(self) -> pb.SessionResponse | None:
        """The next server message, or None at the end of the stream. A reconnection
        (see the class) returns the new stream's SESSION_OPENED event."""
        try:
            msg = await self.call.read()
        except grpc.aio.AioRpcError as exc:
            if not (self.reconnect and self.session_id and worker_lost(exc)):
                raise
            return await self._reopen(f"{exc.code().name}: {exc.details()}")
        if msg is grpc.aio.EOF:
            final = self.final_event
            if (self.reconnect and self.reconnect_on_shutdown and final is not None
                    and final.kind == pb.EVENT_KIND_SERVER_SHUTTING_DOWN):
                self.final_event = None
                return await self._reopen("EVENT_KIND_SERVER_SHUTTING_DOWN")
            return None
        self._note(msg)
        return msg

    def _note(self, msg: pb.SessionResponse) -> None:
        """Track the worker, the world's writes and reconnection outcomes."""
        kind = msg.WhichOneof("kind")
        if kind == "frame":
            self.server_id, self.last_writes = msg.frame.server_id, msg.frame.memory.writes
            if self.recoveries and self.recoveries[-1].first_frame_at is None:
                self.recoveries[-1].first_frame_at = time.monotonic()
                self.recoveries[-1].server_after = msg.frame.server_id
        elif kind == "event":
            if msg.event.kind == pb.EVENT_KIND_WORLD_RESTORED and self.recoveries:
                self.recoveries[-1].restored_writes = msg.event.count
            if msg.event.kind == pb.EVENT_KIND_SERVER_SHUTTING_DOWN:
                self.final_event = msg.event

    async def next_result(self, reopened: bool = False) -> pb.Frame | pb.Error | None:
        """The next frame or error (errors are also stored); events on the way are stored.
        Raises SessionClosed at the end of the stream. With ``reopened``, returns None when
        the session reconnected (its pending poses are lost)."""
        while True:
            msg = await self.recv()
            if msg is None:
                raise SessionClosed(f"the stream ended: {self.final_event}")
            kind = msg.WhichOneof("kind")
            if kind == "frame":
                return msg.frame
            if kind == "event":
                self.events.append(msg.event)
                if msg.event.kind in (pb.EVENT_KIND_SESSION_CLOSED,
                                      pb.EVENT_KIND_SERVER_SHUTTING_DOWN):
                    self.final_event = msg.event
                if reopened and msg.event.kind == pb.EVENT_KIND_SESSION_OPENED:
                    return None
            else:
                self.errors.append(msg.error)
                return msg.error

    async def next_frame(self) -> pb.Frame:
        """The next frame; events and errors on the way are stored. Raises SessionClosed."""
        while True:
            result = await self.next_result()
            if isinstance(result, pb.Frame):
                return result

    async def render(self, pose_msg: pb.Pose) -> pb.Frame:
        """Send a pose and wait for its frame (LOCKSTEP sessions); after a reconnection the
        pose is sent again."""
        await self.send(pose_msg)
        while True:
            result = await self.next_result(reopened=True)
            if result is None:
                self.resent += 1
                await self.send(pose_msg)
            elif isinstance(result, pb.Frame) and result.frame_id == pose_msg.frame_id:
                return result

    async def close(self) -> list[pb.SessionResponse]:
        """Send Close and read to the end; returns the messages that were still coming."""
        rest = []
        self.reconnect = False
        try:
            await self.call.write(pb.SessionRequest(close=pb.Close()))
            await self.call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass
        while (msg := await self.recv()) is not None:
            rest.append(msg)
            if msg.WhichOneof("kind") == "event" and msg.event.kind in (
                    pb.EVENT_KIND_SESSION_CLOSED, pb.EVENT_KIND_SERVER_SHUTTING_DOWN):
                self.final_event = msg.event
        return rest

    def cancel(self) -> None:
        """Drop the stream at once (the server frees the session)."""
        self.reconnect = False
        if self.call is not None:
            self.call.cancel()
