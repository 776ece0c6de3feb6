"""The blocking client: :class:`SyncClient` drives an :class:`AsyncClient` on a private
event-loop thread; :class:`SyncSession` reads its stream with one reader task into an inbox,
so a caller's timeout never loses a message."""

from __future__ import annotations

import asyncio
import collections
import threading
import time

import grpc

from latentstage.engine_bridge.client.aio import AsyncClient, AsyncSession, Recovery, SessionClosed
from latentstage.v1 import service_pb2 as pb


class SyncClient:
    """A blocking client: an :class:`AsyncClient` driven on a private event-loop thread."""

    def __init__(self, target: str, **kwargs):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="latentstage-client")
        self._thread.start()

        async def make() -> AsyncClient:
            return AsyncClient(target, **kwargs)

        self.aio: AsyncClient = self._run(make())

    def _run(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._run(self.aio.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def server_info(self) -> pb.ServerInfo:
        return self._run(self.aio.server_info())

    def create_world(self, spec: pb.WorldSpec) -> pb.WorldInfo:
        return self._run(self.aio.create_world(spec))

    def save_world(self, world_id: str, name: str = "", return_data: bool = False,
                   overwrite: bool = False):
        return self._run(self.aio.save_world(world_id, name, return_data, overwrite=overwrite))

    def load_world(self, name: str | None = None, data: bytes | None = None, label: str = "",
                   world_id: str = ""):
        return self._run(self.aio.load_world(name, data, label, world_id=world_id))

    def delete_world(self, world_id: str, force: bool = False) -> None:
        self._run(self.aio.delete_world(world_id, force))

    def list_worlds(self) -> pb.ListWorldsResponse:
        return self._run(self.aio.list_worlds())

    def session(self, open_msg: pb.Open, reconnect: bool = True) -> SyncSession:
        return SyncSession(self, self.aio.session(open_msg, reconnect))


class _Inbox:
    """Messages a session's reader (on the client loop) hands to a caller on another thread.

    One reader owns the stream, so a caller that gives up waiting never abandons a read: what
    arrives later waits here for the next call. At most ``capacity`` messages wait; then the
    reader stops reading, and gRPC flow control holds the server back as if nobody read.
    """

    _END = object()

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int = 8):
        self._loop, self._capacity = loop, capacity
        self._items: collections.deque = collections.deque()
        self._ready = threading.Condition()
        self._room = asyncio.Event()  # set (on the loop) whenever a message is taken

    async def put(self, item, final: bool = False) -> None:
        """Queue ``item`` (on the loop), waiting for room; ``final`` items never wait."""
        while True:
            with self._ready:
                if final or len(self._items) < self._capacity:
                    self._items.append(item)
                    self._ready.notify_all()
                    return
                self._room.clear()
            await self._room.wait()

    def get(self, timeout: float | None):
        """The next item (any thread); raises TimeoutError after ``timeout`` seconds."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._items, timeout):
                raise TimeoutError(f"no message from the server within {timeout:g} s")
            item = self._items[0]
            if item is not self._END and not isinstance(item, BaseException):
                self._items.popleft()  # the end (or an error) stays for every later call
        try:
            self._loop.call_soon_threadsafe(self._room.set)
        except RuntimeError:  # the client's loop is closed
            pass
        return item


class SyncSession:
    """Blocking view of an :class:`AsyncSession`; ``with`` opens and closes it.

    After :meth:`open`, one reader task reads the stream into an inbox, so :meth:`recv`,
    :meth:`next_frame`, :meth:`next_result` and :meth:`render` may time out as often as a
    caller likes (an engine tick, a tracker bridge) without ever losing a message: what they
    did not take is returned by the next call.
    """

    def __init__(self, client: SyncClient, session: AsyncSession):
        self._client, self.aio = client, session
        self._inbox: _Inbox | None = None

    def __enter__(self) -> SyncSession:
        self.open()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()

    def open(self) -> pb.Event:
        event = self._client._run(self.aio.open())
        self._inbox = _Inbox(self._client._loop)
        self._client._run(self._start_reader())
        return event

    async def _start_reader(self) -> None:
        asyncio.get_running_loop().create_task(self._read_all(self._inbox))

    async def _read_all(self, inbox: _Inbox) -> None:
        """The one reader of the stream: every message into the inbox, then the end."""
        try:
            while (msg := await self.aio.recv()) is not None:
                await inbox.put(msg)
        except asyncio.CancelledError:
            await inbox.put(asyncio.CancelledError("the session was cancelled"), final=True)
            raise
        except Exception as exc:  # the call's status (e.g. grpc.aio.AioRpcError)
            await inbox.put(exc, final=True)
            return
        await inbox.put(_Inbox._END, final=True)

    def send(self, pose_msg: pb.Pose) -> None:
        self._client._run(self.aio.send(pose_msg))

    def write(self, request: pb.SessionRequest) -> None:
        """Send any SessionRequest as it is (tests, tools)."""
        self._client._run(self.aio.call.write(request))

    def control(self, **fields) -> None:
        self._client._run(self.aio.control(**fields))

    def recv(self, timeout: float | None = None) -> pb.SessionResponse | None:
        """The next server message, or None at the end of the stream. Raises TimeoutError
        after ``timeout`` seconds; the message that arrives later is kept for the next call."""
        if self._inbox is None:
            return self._client._run(self.aio.recv(), timeout)
        item = self._inbox.get(timeout)
        if item is _Inbox._END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def _take(self, deadline: float | None) -> pb.SessionResponse | None:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.recv(left)

    def next_result(self, timeout: float | None = None) -> pb.Frame | pb.Error:
        """The next frame or error (errors are also stored); events on the way are stored.
        Raises SessionClosed at the end of the stream, TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            msg = self._take(deadline)
            if msg is None:
                raise SessionClosed(f"the stream ended: {self.aio.final_event}")
            kind = msg.WhichOneof("kind")
            if kind == "frame":
                return msg.frame
            if kind == "event":
                self._event(msg.event)
            else:
                self.aio.errors.append(msg.error)
                return msg.error

    def _event(self, event: pb.Event) -> None:
        self.aio.events.append(event)
        if event.kind in (pb.EVENT_KIND_SESSION_CLOSED, pb.EVENT_KIND_SERVER_SHUTTING_DOWN):
            self.aio.final_event = event

    def next_frame(self, timeout: float | None = None) -> pb.Frame:
        """The next frame; events and errors on the way are stored. Raises SessionClosed, or
        TimeoutError after ``timeout`` seconds (no message is lost either way)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            result = self.next_result(left)
            if isinstance(result, pb.Frame):
                return result

    def render(self, pose_msg: pb.Pose, timeout: float | None = None) -> pb.Frame:
        """Send a pose and wait for its frame (LOCKSTEP sessions); after a reconnection the
        pose is sent again."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.send(pose_msg)
        while True:
            msg = self._take(deadline)
            if msg is None:
                raise SessionClosed(f"the stream ended: {self.aio.final_event}")
            kind = msg.WhichOneof("kind")
            if kind == "frame" and msg.frame.frame_id == pose_msg.frame_id:
                return msg.frame
            if kind == "event":
                self._event(msg.event)
                if msg.event.kind == pb.EVENT_KIND_SESSION_OPENED:  # reconnected
                    self.aio.resent += 1
                    self.send(pose_msg)
            elif kind == "error":
                self.aio.errors.append(msg.error)

    def close(self) -> list[pb.SessionResponse]:
        """Send Close and read to the end; returns the messages that were still coming
        (including any a timed-out call left behind)."""
        if self._inbox is None:
            return self._client._run(self.aio.close())
        self._client._run(self._half_close())
        rest = []
        while (msg := self.recv()) is not None:
            rest.append(msg)
            if msg.WhichOneof("kind") == "event":
                self._event(msg.event)
        return rest

    async def _half_close(self) -> None:
        self.aio.reconnect = False
        try:
            await self.aio.call.write(pb.SessionRequest(close=pb.Close()))
            await self.aio.call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass

    def cancel(self) -> None:
        self._client._loop.call_soon_threadsafe(self.aio.cancel)

    @property
    def recoveries(self) -> list[Recovery]:
        return self.aio.recoveries

    @property
    def events(self) -> list[pb.Event]:
        return self.aio.events

    @property
    def errors(self) -> list[pb.Error]:
        return self.aio.errors

    @property
    def world_id(self) -> str:
        return self.aio.world_id
