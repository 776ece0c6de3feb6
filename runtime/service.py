"""The gRPC servicer: translate messages, map errors to status codes, nothing else.

It never imports torch: the model, worlds and sessions live behind the core object the server
hands in (:class:`latentstage.runtime.core.ServingCore`), and the real-time policy lives in
:mod:`.scheduler`. Conversions and validation are in :mod:`.translate`.

Hostile input never reaches a traceback: request bytes that do not parse become
:class:`Undecodable` (INVALID_ARGUMENT, one log line), any exception from a client message
inside a session becomes an Error message and the stream carries on, a session without Pose or
Control for ``Guards.idle_timeout_s`` is closed with a final event, and status messages are
bounded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from latentstage.runtime import routing
from latentstage.runtime import translate as tr
from latentstage.runtime.errors import InvalidInput, NotFound
from latentstage.runtime.guards import ClientId
from latentstage.runtime.scheduler import Scheduler, SchedulerConfig, SessionObserver
from latentstage.runtime.types import (
    ErrorOut,
    EventKind,
    EventOut,
    Exhausted,
    FrameOut,
    WorldSpec,
    status_of,
)
from latentstage.v1 import service_pb2 as pb
from latentstage.v1 import service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.placement import Placement, RestoreInfo

log = logging.getLogger(__name__)

#: Longest status message or Error message sent, characters (gRPC metadata is limited).
MAX_DETAILS = 1000


def _clip(text: str, limit: int = MAX_DETAILS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Undecodable:
    """Request bytes that are not the method's message. The handler answers INVALID_ARGUMENT
    (gRPC itself would answer UNKNOWN and log a traceback for each such call)."""

    message: str  # the expected message type
    size: int  # bytes received
    error: str  # the parser's complaint, one line


def _safe_parser(message_type):
    def parse(data: bytes):
        try:
            return message_type.FromString(data)
        except Exception as exc:  # DecodeError, deep nesting, invalid UTF-8 ...
            return Undecodable(message_type.DESCRIPTOR.full_name, len(data),
                               _clip(f"{type(exc).__name__}: {exc}", 200))
    return parse


def add_to_server(servicer: LatentStageServicer, server: grpc.aio.Server) -> None:
    """Register ``servicer`` as ``latentstage.v1.LatentStageService`` (what the generated
    ``add_LatentStageServiceServicer_to_server`` does, with request parsers that never raise)."""
    service = pb.DESCRIPTOR.services_by_name["LatentStageService"]
    makers = {(False, False): grpc.unary_unary_rpc_method_handler,
              (False, True): grpc.unary_stream_rpc_method_handler,
              (True, False): grpc.stream_unary_rpc_method_handler,
              (True, True): grpc.stream_stream_rpc_method_handler}
    handlers = {}
    for method in service.methods:
        make = makers[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_safe_parser(getattr(pb, method.input_type.name)),
            response_serializer=getattr(pb, method.output_type.name).SerializeToString)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


def _unary(method):
    """A unary handler that answers undecodable requests and maps every error to a status."""

    @functools.wraps(method)
    async def handler(self: LatentStageServicer, request, context: grpc.aio.ServicerContext):
        try:
            if isinstance(request, Undecodable):
                raise InvalidInput("request", f"<{request.size} bytes>",
                                   f"a {request.message} ({request.error})")
            return await method(self, request, context)
        except Exception as exc:
            await self._abort(context, exc)

    return handler


@dataclass
class _Activity:
    """When a session last heard from its client (idle timeout)."""

    last: float  # time.monotonic() of the last Pose or Control (or frame rendered)
    frames: int = 0  # frames rendered at that time


class LatentStageServicer(pb_grpc.LatentStageServiceServicer):
    """``latentstage.v1.LatentStageService`` over a
    :class:`~latentstage.runtime.core.ServingCore`."""

    def __init__(self, core: ServingCore, observer: SessionObserver | None = None,
                 runner_config: SchedulerConfig | None = None):
        self.core = core
        self.observer = observer
        self.runner_config = runner_config or SchedulerConfig()
        self.runners: set[Scheduler] = set()

    async def _abort(self, context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code = status_of(exc)
        details = _clip(str(exc))
        if code == "INTERNAL":
            log.error("event=internal_error peer=%s error=%s", context.peer(),
                      _clip(repr(exc), 300), exc_info=exc)
        else:
            log.info("event=rejected peer=%s code=%s error=%s", context.peer(), code, details)
        await context.abort(getattr(grpc.StatusCode, code), details)

    @staticmethod
    def _client(context: grpc.aio.ServicerContext) -> ClientId:
        return ClientId.from_call(context.peer(), context.invocation_metadata())

    def _stride(self) -> int:
        return self.core.model.latent_spec().stride

    def _bounds(self):
        from latentstage.runtime.camera import ResolutionBounds

        lim, f = self.core.limits, self._stride()
        return ResolutionBounds(f, f, lim.max_width, lim.max_height)

    # ----- unary RPCs ------------------------------------------------------------------------
    @_unary
    async def GetServerInfo(self, request: pb.GetServerInfoRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetServerInfoResponse:
        info = tr.server_info_to_proto(self.core.info())
        info.server_id = getattr(self.core, "server_id", "")
        tracker = getattr(self.core, "tracker", None)
        if tracker is not None:
            info.tracked_cameras.extend(tr.tracked_camera_to_proto(c) for c in tracker.info())
        return pb.GetServerInfoResponse(info=info)

    @_unary
    async def CreateWorld(self, request: pb.CreateWorldRequest,
                          context: grpc.aio.ServicerContext) -> pb.CreateWorldResponse:
        if not request.HasField("spec"):
            raise InvalidInput("spec", None, "a WorldSpec (required)")
        routing.check_header(context.invocation_metadata(), request.spec.world_id, "spec.world_id")
        spec = await self.core.worker.run_io(
            tr.world_spec_from_proto, request.spec, "spec", tr.Convention.OPENCV,
            self._bounds(), self._stride(), True)
        world = await self._create(spec, self._client(context))
        return pb.CreateWorldResponse(world=world)

    @property
    def placement(self) -> Placement | None:
        """The shared snapshot store's keeper (``--snapshot-store``), or None."""
        return getattr(self.core, "placement", None)

    async def _create(self, spec: WorldSpec, client) -> pb.WorldInfo:
        """Create a world; with a snapshot store, its id is claimed first and it is saved."""
        placement = self.placement
        lease = await placement.reserve(spec.world_id) if placement is not None else None
        try:
            world = await self.core.create_world(spec, client, tr.world_info_to_proto)
        except BaseException:
            if placement is not None:
                await placement.unreserve(lease)
            raise
        if placement is not None:
            await placement.track(world.world_id, lease)
        return world

    async def _ensure(self, world_id: str) -> RestoreInfo | None:
        """Restore ``world_id`` from the snapshot store when this worker lacks it."""
        placement = self.placement
        return await placement.ensure(world_id) if placement is not None else None

    @_unary
    async def SaveWorld(self, request: pb.SaveWorldRequest,
                        context: grpc.aio.ServicerContext) -> pb.SaveWorldResponse:
        world_id = tr.check_world_id(request.world_id, "world_id")
        routing.check_header(context.invocation_metadata(), world_id, "world_id")
        if request.name:
            tr.check_snapshot_name(request.name, "name")
        await self._ensure(world_id)
        name, size, path = await self.core.save_world(world_id, request.name, request.overwrite)
        if self.placement is not None:  # the end of a take: the shared store too
            await self.placement.save(world_id)
        if request.return_data and size > self.core.limits.max_send_bytes - 4096:
            raise Exhausted(f"return_data: snapshot {name!r} is {size} bytes, over the "
                            f"{self.core.limits.max_send_bytes}-byte message limit; it is "
                            "saved: load it by name, or copy the file from the server")
        data = await self.core.worker.run_io(path.read_bytes) if request.return_data else b""
        return pb.SaveWorldResponse(name=name, bytes=size, data=data)

    @_unary
    async def LoadWorld(self, request: pb.LoadWorldRequest,
                        context: grpc.aio.ServicerContext) -> pb.LoadWorldResponse:
        source = tr.snapshot_from_proto(request.snapshot, "snapshot")
        name = tr.text_field(request.name, "name")
        routing.check_header(context.invocation_metadata(), request.world_id, "world_id")
        world_id = tr.check_world_id(request.world_id, "world_id") if request.world_id else ""
        spec = WorldSpec(source, name or (source.name or ""), True, world_id)
        world = await self._create(spec, self._client(context))
        return pb.LoadWorldResponse(world=world)

    @_unary
    async def DeleteWorld(self, request: pb.DeleteWorldRequest,
                          context: grpc.aio.ServicerContext) -> pb.DeleteWorldResponse:
        world_id = tr.check_world_id(request.world_id, "world_id")
        routing.check_header(context.invocation_metadata(), world_id, "world_id")
        await self._ensure(world_id)
        await self.core.delete_world(world_id, request.force)
        if self.placement is not None:
            await self.placement.forget(world_id)
        return pb.DeleteWorldResponse()

    @_unary
    async def ListWorlds(self, request: pb.ListWorldsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListWorldsResponse:
        worlds, snapshots = await self.core.worker.run_io(self.core.list_worlds)
        return pb.ListWorldsResponse(
            worlds=[tr.world_info_to_proto(w) for w in worlds],
            snapshots=[pb.SnapshotInfo(name=s.name, bytes=s.bytes,
                                       modified_unix_ms=s.modified_unix_ms) for s in snapshots])

    # ----- the Session stream ----------------------------------------------------------------
    async def Session(self, request_iterator, context: grpc.aio.ServicerContext):
        """Open, then frames and events until Close, half-close, disconnect or shutdown."""
        await context.send_initial_metadata(())  # lets clients tell a refusal from a reset
        client = self._client(context)
        requests = request_iterator.__aiter__()
        wait = self.runner_config.open_timeout_s
        try:
            first = await asyncio.wait_for(requests.__anext__(), wait)
        except StopAsyncIteration:
            first = None
        except TimeoutError:
            await self._abort(context, InvalidInput("open", f"nothing for {wait:g} s",
                                                    "an Open message first"))
            return
        try:
            if isinstance(first, Undecodable):
                raise InvalidInput("open", f"<{first.size} undecodable bytes>",
                                   f"an Open message first ({first.error})")
            if first is None or first.WhichOneof("kind") != "open":
                got = "the end of the stream" if first is None else (
                    f"a {first.WhichOneof('kind') or 'empty'} message")
                raise InvalidInput("open", got, "an Open message first")
            request, edge = await self.core.worker.run_io(
                tr.open_from_proto, first.open, self.core.limits, self._stride(),
                int(self.core.model.sampler_steps))
            if edge.tracked_camera:  # watch: the camera's world (NOT_FOUND, FAILED_PRECONDITION)
                world_id = self._tracker(edge.tracked_camera).camera(edge.tracked_camera).world_id
                request = dataclasses.replace(request, world_id=world_id)
            handle, restored = await self._open(request, client, context)
        except Exception as exc:
            await self._abort(context, exc)
            return
        world_id = handle.world.world_id
        tasks: list[asyncio.Task] = []
        runner = None
        try:
            runner = Scheduler(handle.session_id, world_id, handle.step, self.core.worker,
                                   request.settings, save=self._saver(handle),
                                   observer=self.observer,
                                   config=self.runner_config)
            self.runners.add(runner)
            if edge.tracked_camera:
                self._tracker(edge.tracked_camera).watch(edge.tracked_camera, runner, edge.width,
                                                         edge.height, edge.stride, edge.bounds)
            activity = _Activity(time.monotonic())
            tasks = [asyncio.create_task(self._read(requests, runner, edge, activity)),
                     asyncio.create_task(runner.run())]
            if self.core.guards.idle_timeout_s > 0:
                tasks.append(asyncio.create_task(self._watch_idle(runner, activity)))
            opened = EventOut(EventKind.SESSION_OPENED, f"session open on world {world_id}",
                              handle.session_id, world_id, settings=request.settings)
            yield tr.event_to_proto(opened, edge.convention)
            if restored is not None:
                yield tr.event_to_proto(EventOut(
                    EventKind.WORLD_RESTORED, self.placement.restored_message(restored),
                    handle.session_id, world_id, count=restored.writes), edge.convention)
            server_id = getattr(self.core, "server_id", "")
            async for item in runner.outbound:
                out = tr.message_to_proto(item, edge.convention)
                if server_id and isinstance(item, FrameOut):
                    out.frame.server_id = server_id
                yield out
        finally:
            for task in tasks:
                task.cancel()
            self.runners.discard(runner)
            if runner is not None and edge.tracked_camera:
                self._tracker(edge.tracked_camera).unwatch(edge.tracked_camera, runner)
            self.core.close_session(handle)
            if runner is not None:
                log.info("event=session_closed session=%s world=%s frames=%d poses_skipped=%d "
                         "frames_dropped=%d cancelled=%s", handle.session_id, world_id,
                         runner.frames, runner.poses_skipped, runner.outbound.frames_dropped,
                         context.cancelled())

    async def _open(self, request, client, context):
        """Open a session: the header checked, a world restored from the snapshot store or a
        new world's id claimed there. Returns (handle, RestoreInfo or None)."""
        placement = self.placement
        new = request.new_world
        world_id = new.world_id if new is not None else (request.world_id or "")
        field = "open.new_world.world_id" if new is not None else "open.world_id"
        routing.check_header(context.invocation_metadata(), world_id, field)
        if placement is None:
            handle = await self.core.open_session(request, client, gone=context.done,
                                                 reply=tr.world_info_to_proto)
            return handle, None
        if new is None:
            await placement.ensure(world_id)
            handle = await self.core.open_session(request, client, gone=context.done,
                                                 reply=tr.world_info_to_proto)
            return handle, placement.restored.get(world_id)
        lease = await placement.reserve(new.world_id)
        try:
            handle = await self.core.open_session(request, client, gone=context.done,
                                                 reply=tr.world_info_to_proto)
        except BaseException:
            await placement.unreserve(lease)
            raise
        await placement.track(handle.world.world_id, lease)
        return handle, None

    def _saver(self, handle):
        """``Control.snapshot``: the named snapshot, and the shared store's (end of a take)."""
        if self.placement is None:
            return handle.save

        async def save(name: str) -> tuple[str, int]:
            out = await handle.save(name)
            await self.placement.save(handle.world.world_id)
            return out

        return save

    async def drop_world(self, world_id: str) -> None:
        """End the sessions of a world this worker no longer owns (they reconnect)."""
        for runner in list(self.runners):
            if runner.world_id == world_id:
                await runner.close(shutting_down=True)

    def _tracker(self, name: str):
        """The core's FreeD tracker, or NOT_FOUND when the server tracks no cameras."""
        tracker = getattr(self.core, "tracker", None)
        if tracker is None:
            raise NotFound(f"open.tracked_camera {name!r}: this server tracks no cameras (start "
                           "it with latentstage serve --freed or --freed-config)")
        return tracker

    async def _read(self, requests, runner: Scheduler, edge: tr.Edge,
                    activity: _Activity) -> None:
        """Feed client messages to the runner; a bad message becomes an Error, not the end."""
        try:
            async for msg in requests:
                activity.last = time.monotonic()
                if isinstance(msg, Undecodable):
                    log.info("event=undecodable_message session=%s bytes=%d error=%s",
                             runner.session_id, msg.size, msg.error)
                    await runner.outbound.put(ErrorOut(
                        "INVALID_ARGUMENT", "request", f"request: got {msg.size} bytes that "
                        f"are not a {msg.message} ({msg.error}); the message was ignored"))
                    continue
                kind = msg.WhichOneof("kind")
                if kind == "close":
                    break
                try:
                    if kind == "pose":
                        await runner.submit(tr.pose_from_proto(msg.pose, edge, time.monotonic_ns()))
                    elif kind == "control":
                        await runner.apply(tr.control_from_proto(msg.control, self.core.limits))
                    elif kind == "open":
                        raise InvalidInput("open", "a second Open", "Pose, Control or Close: "
                                           "this session is already open")
                    else:
                        raise InvalidInput("kind", None, "one of open, pose, control or close")
                except InvalidInput as exc:
                    frame_id = msg.pose.frame_id if kind == "pose" else 0
                    await runner.outbound.put(ErrorOut("INVALID_ARGUMENT", exc.field,
                                                       _clip(str(exc)), frame_id))
                except Exception as exc:  # any other failure: reported, the stream carries on
                    code = status_of(exc)
                    frame_id = msg.pose.frame_id if kind == "pose" else 0
                    log.warning("event=message_failed session=%s kind=%s code=%s error=%s",
                                runner.session_id, kind, code, _clip(repr(exc), 300))
                    await runner.outbound.put(ErrorOut(code, kind or "request",
                                                       _clip(f"{kind}: {exc}"), frame_id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the transport failed (client reset): end the session
            log.info("event=stream_read_failed session=%s error=%r", runner.session_id, exc)
        finally:
            await runner.close()

    async def _watch_idle(self, runner: Scheduler, activity: _Activity) -> None:
        """Close the session once no Pose or Control has come for ``idle_timeout_s`` (and no
        frame is being rendered for it): a final SESSION_CLOSED event says why."""
        idle = self.core.guards.idle_timeout_s
        while True:
            await asyncio.sleep(min(max(idle / 4, 0.02), 1.0))
            now = time.monotonic()
            if runner.frames != activity.frames or len(runner.slot):
                activity.frames, activity.last = runner.frames, now
            if now - activity.last < idle:
                continue
            log.info("event=session_idle session=%s world=%s idle_s=%g", runner.session_id,
                     runner.world_id, idle)
            # The runner's final event (SESSION_CLOSED), with the reason in its message.
            runner._final = EventOut(
                EventKind.SESSION_CLOSED, f"session closed: no Pose or Control for {idle:g} s "
                "(the server's --idle-timeout); open a new session to go on",
                runner.session_id, runner.world_id)
            await runner.close()
            return

    async def shutdown_sessions(self) -> None:
        """Tell every open session the server is stopping; their streams then end."""
        for runner in list(self.runners):
            await runner.close(shutting_down=True)
