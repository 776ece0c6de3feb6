"""The gRPC servicer: translate messages, map errors to status codes, nothing else.

It never imports torch: the model, worlds and sessions live behind the hub object the server
hands in (:class:`latentstage.runtime.hub.Hub`), and the real-time policy lives in
:mod:`.scheduler`. Conversions and validation are in :mod:`.translate`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import grpc

from latentstage.runtime import translate as tr
from latentstage.runtime.errors import InvalidInput, NotFound
from latentstage.runtime.scheduler import RunnerConfig, SessionObserver, SessionRunner
from latentstage.runtime.types import ErrorOut, EventKind, EventOut, Exhausted, status_of
from latentstage.v1 import service_pb2 as pb
from latentstage.v1 import service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from latentstage.runtime.hub import Hub

log = logging.getLogger(__name__)


class LatentStageServicer(pb_grpc.LatentStageServiceServicer):
    """``latentstage.v1.LatentStageService`` over a :class:`~latentstage.runtime.hub.Hub`."""

    def __init__(self, hub: Hub, observer: SessionObserver | None = None,
                 runner_config: RunnerConfig | None = None):
        self.hub = hub
        self.observer = observer
        self.runner_config = runner_config or RunnerConfig()
        self.runners: set[SessionRunner] = set()

    async def _abort(self, context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code = status_of(exc)
        if code == "INTERNAL":
            log.error("event=internal_error peer=%s error=%r", context.peer(), exc, exc_info=exc)
        else:
            log.info("event=rejected peer=%s code=%s error=%s", context.peer(), code, exc)
        await context.abort(getattr(grpc.StatusCode, code), str(exc))

    def _stride(self) -> int:
        return self.hub.model.latent_spec().stride

    def _bounds(self):
        from latentstage.runtime.camera import ResolutionBounds

        lim, f = self.hub.limits, self._stride()
        return ResolutionBounds(f, f, lim.max_width, lim.max_height)

    # ----- unary RPCs ------------------------------------------------------------------------
    async def GetServerInfo(self, request: pb.GetServerInfoRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetServerInfoResponse:
        info = tr.server_info_to_proto(self.hub.info())
        tracker = getattr(self.hub, "tracker", None)
        if tracker is not None:
            info.tracked_cameras.extend(tr.tracked_camera_to_proto(c) for c in tracker.info())
        return pb.GetServerInfoResponse(info=info)

    async def CreateWorld(self, request: pb.CreateWorldRequest,
                          context: grpc.aio.ServicerContext) -> pb.CreateWorldResponse:
        try:
            if not request.HasField("spec"):
                raise InvalidInput("spec", None, "a WorldSpec (required)")
            spec = await self.hub.worker.run_io(
                tr.world_spec_from_proto, request.spec, "spec", tr.Convention.OPENCV,
                self._bounds(), self._stride(), True)
            world = tr.world_info_to_proto(await self.hub.create_world(spec))
            return pb.CreateWorldResponse(world=world)
        except Exception as exc:
            await self._abort(context, exc)

    async def SaveWorld(self, request: pb.SaveWorldRequest,
                        context: grpc.aio.ServicerContext) -> pb.SaveWorldResponse:
        try:
            if request.name:
                tr.check_snapshot_name(request.name, "name")
            name, size, path = await self.hub.save_world(request.world_id, request.name)
            if request.return_data and size > self.hub.limits.max_send_bytes - 4096:
                raise Exhausted(f"return_data: snapshot {name!r} is {size} bytes, over the "
                                f"{self.hub.limits.max_send_bytes}-byte message limit; it is "
                                "saved: load it by name, or copy the file from the server")
            data = await self.hub.worker.run_io(path.read_bytes) if request.return_data else b""
            return pb.SaveWorldResponse(name=name, bytes=size, data=data)
        except Exception as exc:
            await self._abort(context, exc)

    async def LoadWorld(self, request: pb.LoadWorldRequest,
                        context: grpc.aio.ServicerContext) -> pb.LoadWorldResponse:
        try:
            source = tr.snapshot_from_proto(request.snapshot, "snapshot")
            name = tr.text_field(request.name, "name")
            world = tr.world_info_to_proto(await self.hub.load_world(source, name))
            return pb.LoadWorldResponse(world=world)
        except Exception as exc:
            await self._abort(context, exc)

    async def DeleteWorld(self, request: pb.DeleteWorldRequest,
                          context: grpc.aio.ServicerContext) -> pb.DeleteWorldResponse:
        try:
            await self.hub.delete_world(request.world_id, request.force)
            return pb.DeleteWorldResponse()
        except Exception as exc:
            await self._abort(context, exc)

    async def ListWorlds(self, request: pb.ListWorldsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListWorldsResponse:
        worlds, snapshots = await self.hub.worker.run_io(self.hub.list_worlds)
        return pb.ListWorldsResponse(
            worlds=[tr.world_info_to_proto(w) for w in worlds],
            snapshots=[pb.SnapshotInfo(name=s.name, bytes=s.bytes,
                                       modified_unix_ms=s.modified_unix_ms) for s in snapshots])

    # ----- the Session stream ----------------------------------------------------------------
    async def Session(self, request_iterator, context: grpc.aio.ServicerContext):
        """Open, then frames and events until Close, half-close, disconnect or shutdown."""
        await context.send_initial_metadata(())  # lets clients tell a refusal from a reset
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
            if first is None or first.WhichOneof("kind") != "open":
                got = "the end of the stream" if first is None else (
                    f"a {first.WhichOneof('kind') or 'empty'} message")
                raise InvalidInput("open", got, "an Open message first")
            request, edge = await self.hub.worker.run_io(
                tr.open_from_proto, first.open, self.hub.limits, self._stride(),
                int(self.hub.model.sampler_steps))
            if edge.tracked_camera:  # watch: the camera's world (NOT_FOUND, FAILED_PRECONDITION)
                world_id = self._tracker(edge.tracked_camera).camera(edge.tracked_camera).world_id
                request = dataclasses.replace(request, world_id=world_id)
            handle = await self.hub.open_session(request)
        except Exception as exc:
            await self._abort(context, exc)
            return
        world_id = handle.world.world_id
        tasks: list[asyncio.Task] = []
        runner = None
        try:
            runner = SessionRunner(handle.session_id, world_id, handle.step, self.hub.worker,
                                   request.settings, save=handle.save, observer=self.observer,
                                   config=self.runner_config)
            self.runners.add(runner)
            if edge.tracked_camera:
                self._tracker(edge.tracked_camera).watch(edge.tracked_camera, runner, edge.width,
                                                         edge.height, edge.stride, edge.bounds)
            tasks = [asyncio.create_task(self._read(requests, runner, edge)),
                     asyncio.create_task(runner.run())]
            opened = EventOut(EventKind.SESSION_OPENED, f"session open on world {world_id}",
                              handle.session_id, world_id, settings=request.settings)
            yield tr.event_to_proto(opened, edge.convention)
            async for item in runner.outbound:
                yield tr.message_to_proto(item, edge.convention)
        finally:
            for task in tasks:
                task.cancel()
            self.runners.discard(runner)
            if runner is not None and edge.tracked_camera:
                self._tracker(edge.tracked_camera).unwatch(edge.tracked_camera, runner)
            self.hub.close_session(handle)
            if runner is not None:
                log.info("event=session_closed session=%s world=%s frames=%d poses_skipped=%d "
                         "frames_dropped=%d cancelled=%s", handle.session_id, world_id,
                         runner.frames, runner.poses_skipped, runner.outbound.frames_dropped,
                         context.cancelled())

    def _tracker(self, name: str):
        """The hub's FreeD tracker, or NOT_FOUND when the server tracks no cameras."""
        tracker = getattr(self.hub, "tracker", None)
        if tracker is None:
            raise NotFound(f"open.tracked_camera {name!r}: this server tracks no cameras (start "
                           "it with latentstage serve --freed or --freed-config)")
        return tracker

    async def _read(self, requests, runner: SessionRunner, edge: tr.Edge) -> None:
        """Feed client messages to the runner; a bad message becomes an Error, not the end."""
        try:
            async for msg in requests:
                kind = msg.WhichOneof("kind")
                if kind == "close":
                    break
                try:
                    if kind == "pose":
                        await runner.submit(tr.pose_from_proto(msg.pose, edge, time.monotonic_ns()))
                    elif kind == "control":
                        await runner.apply(tr.control_from_proto(msg.control, self.hub.limits))
                    elif kind == "open":
                        raise InvalidInput("open", "a second Open", "Pose, Control or Close: "
                                           "this session is already open")
                    else:
                        raise InvalidInput("kind", None, "one of open, pose, control or close")
                except InvalidInput as exc:
                    frame_id = msg.pose.frame_id if kind == "pose" else 0
                    await runner.outbound.put(ErrorOut("INVALID_ARGUMENT", exc.field, str(exc),
                                                       frame_id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the transport failed (client reset): end the session
            log.info("event=stream_read_failed session=%s error=%r", runner.session_id, exc)
        finally:
            await runner.close()

    async def shutdown_sessions(self) -> None:
        """Tell every open session the server is stopping; their streams then end."""
        for runner in list(self.runners):
            await runner.close(shutting_down=True)
