"""Tracked cameras: FreeD D1 over UDP drives sessions that only watch.

On a stage the tracker sends poses over UDP and the frames go to whoever drives the wall, so
the pose source is not the frame consumer. A :class:`Tracker` binds one asyncio datagram
endpoint per address on the server's event loop. Each valid D1 packet is mapped by its camera
id to a named :class:`TrackedCamera`, turned into a canonical pose (stage transform, lens
calibration at each watcher's output size) and submitted to every watching session's
:class:`~latentstage.runtime.scheduler.Scheduler`, exactly like a client's Pose message:
latest pose wins, skipped poses are counted, and the pose is predicted to display time from
the arrival times of the last two packets (FreeD carries no timestamp, so the capture time is
the server's monotonic clock when the datagram arrived).

A datagram of the wrong length, with a bad checksum, of another type, or for a camera id that
no tracked camera has is counted per reason (:class:`DropReason`) on its listener and dropped.
Drops reach the metrics (:class:`TrackerObserver`), ``ServerInfo.tracked_cameras[].dropped``
and each watching session (EVENT_KIND_TRACKER_DROPPED, at most once per second). Nothing a
datagram holds can raise out of the listener. Torch-free.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from latentstage.runtime import freed
from latentstage.runtime.camera import Intrinsics, ResolutionBounds
from latentstage.runtime.errors import Incompatible, InvalidInput, NotFound
from latentstage.runtime.freed_config import FreeDConfig, TrackedCameraConfig
from latentstage.runtime.scheduler import Scheduler
from latentstage.runtime.translate import check_plausible
from latentstage.runtime.types import ErrorOut, EventKind, EventOut, PoseIn

log = logging.getLogger(__name__)


class DropReason(StrEnum):
    """Why a datagram was dropped (the ``reason`` label of the metric)."""

    LENGTH = "length"  # not 29 bytes
    TYPE = "type"  # byte 0 is not 0xD1
    CHECKSUM = "checksum"  # byte 28 does not match
    UNMAPPED = "unmapped_camera"  # no tracked camera has this camera id on this address
    INTERNAL = "internal"  # handling it failed (a bug; logged with its traceback)


_REASON_OF_FIELD = {"freed.length": DropReason.LENGTH, "freed.type": DropReason.TYPE,
                    "freed.checksum": DropReason.CHECKSUM, "freed.packet": DropReason.LENGTH}


@dataclass(frozen=True)
class TrackedCameraInfo:
    """What ServerInfo.tracked_cameras reports for one camera."""

    name: str  # what Open.tracked_camera names
    world_id: str  # the world its frames come from
    freed_camera_id: int  # FreeD camera id
    listen: str  # bound UDP address:port
    packets: int  # valid D1 packets received for this camera
    dropped: int  # datagrams its listener dropped (all reasons, shared by its cameras)
    watchers: int  # sessions watching now


class TrackerObserver:
    """Hooks for metrics; the default does nothing."""

    def freed_packet(self, camera: str) -> None: ...

    def freed_dropped(self, listen: str, reason: str) -> None: ...


@dataclass
class Watcher:
    """A session watching a tracked camera, with its output geometry."""

    runner: Scheduler  # the session's frame loop
    width: int  # output width, pixels
    height: int  # output height, pixels
    stride: int  # latent stride: poses carry intrinsics padded to it
    bounds: ResolutionBounds  # server size limits
    pending: collections.Counter = field(default_factory=collections.Counter)  # unreported drops
    last_report_ns: int | None = None  # when drops were last reported
    flush: asyncio.TimerHandle | None = None  # a scheduled report of pending drops
    last_error_ns: int | None = None  # when a lens error was last reported
    lens: tuple[int, Intrinsics] | None = None  # (zoom counts, padded intrinsics) last used


class TrackedCamera:
    """One named camera: its config, its world, its counters and its watchers."""

    def __init__(self, config: TrackedCameraConfig, world_id: str, listener: Listener):
        self.config, self.world_id, self.listener = config, world_id, listener
        self.packets = 0  # valid packets so far (also the frame_id of the latest)
        self.last: freed.FreeDPacket | None = None  # the latest valid packet
        self.watchers: dict[str, Watcher] = {}  # by session id

    @property
    def name(self) -> str:
        return self.config.name

    def info(self) -> TrackedCameraInfo:
        return TrackedCameraInfo(self.name, self.world_id, self.config.freed_camera_id,
                                 self.listener.address, self.packets, self.listener.total_dropped,
                                 len(self.watchers))


class Listener(asyncio.DatagramProtocol):
    """One UDP address: its cameras by FreeD id, and its drop counts by reason."""

    def __init__(self, tracker: Tracker, host: str, port: int):
        self.tracker, self.host, self.port = tracker, host, port
        self.cameras: dict[int, TrackedCamera] = {}  # by FreeD camera id
        self.dropped: collections.Counter = collections.Counter()  # by DropReason
        self.transport: asyncio.DatagramTransport | None = None

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr) -> None:
        self.tracker.datagram(self, data, time.monotonic_ns())

    def error_received(self, exc: Exception) -> None:
        log.warning("event=freed_socket_error listen=%s error=%r", self.address, exc)


class Tracker:
    """Every tracked camera of a server, its UDP listeners, and the sessions watching them."""

    def __init__(self, observer: TrackerObserver | None = None, report_interval_s: float = 1.0,
                 clock: Callable[[], int] = time.monotonic_ns):
        self.observer = observer or TrackerObserver()
        self.cameras: dict[str, TrackedCamera] = {}
        self.listeners: dict[tuple[str, int], Listener] = {}
        self._interval_ns = int(report_interval_s * 1e9)
        self._clock = clock
        self._tasks: set[asyncio.Task] = set()  # pose submissions and events in flight

    # ----- set-up --------------------------------------------------------------------------
    def add(self, config: TrackedCameraConfig, world_id: str) -> TrackedCamera:
        """Register a camera (before :meth:`bind`)."""
        key = (config.host, config.port)
        listener = self.listeners.setdefault(key, Listener(self, *key))
        if config.name in self.cameras or config.freed_camera_id in listener.cameras:
            raise InvalidInput("freed.cameras", config.name, "unique names, and unique FreeD "
                               "camera ids on one address")
        camera = TrackedCamera(config, world_id, listener)
        self.cameras[config.name] = listener.cameras[config.freed_camera_id] = camera
        return camera

    async def bind(self) -> None:
        """Open every listener's UDP socket on the running loop."""
        loop = asyncio.get_running_loop()
        for (host, port), listener in self.listeners.items():
            try:
                await loop.create_datagram_endpoint(lambda lst=listener: lst,
                                                    local_addr=(host, port))
            except OSError as exc:
                self.close()
                raise InvalidInput("freed.listen", listener.address, "a UDP address this "
                                   f"process can bind ({exc.strerror or exc})") from None

    def close(self) -> None:
        """Close the sockets and cancel what is in flight."""
        for listener in self.listeners.values():
            if listener.transport is not None:
                listener.transport.close()
                listener.transport = None
        for camera in self.cameras.values():
            for watcher in camera.watchers.values():
                if watcher.flush is not None:
                    watcher.flush.cancel()
        for task in list(self._tasks):
            task.cancel()

    # ----- receiving -----------------------------------------------------------------------
    def datagram(self, listener: Listener, data: bytes, received_ns: int) -> None:
        """Handle one datagram: deliver it, or count and drop it. Never raises."""
        try:
            try:
                freed.check(data)
            except InvalidInput as exc:
                self._drop(listener, _REASON_OF_FIELD.get(exc.field, DropReason.LENGTH))
                return
            camera = listener.cameras.get(data[1])
            if camera is None:
                self._drop(listener, DropReason.UNMAPPED)
                return
            self._deliver(camera, freed.decode(data, camera.config.unreal_compat), received_ns)
        except Exception:  # a bug must cost one datagram, never the listener
            log.exception("event=freed_datagram_failed listen=%s", listener.address)
            self._drop(listener, DropReason.INTERNAL)

    def _drop(self, listener: Listener, reason: DropReason) -> None:
        listener.dropped[reason] += 1
        self.observer.freed_dropped(listener.address, reason.value)
        for camera in listener.cameras.values():
            for watcher in camera.watchers.values():
                watcher.pending[reason] += 1
                self._maybe_report(watcher, listener)

    def _deliver(self, camera: TrackedCamera, packet: freed.FreeDPacket, received_ns: int) -> None:
        camera.packets += 1
        camera.last = packet
        self.observer.freed_packet(camera.name)
        if not camera.watchers:
            return
        c2w = camera.config.transform.apply(freed.freed_to_pose(packet))  # [4, 4]
        for watcher in list(camera.watchers.values()):
            k = self._intrinsics(camera, watcher, packet.zoom)
            if k is None:
                continue
            pose = PoseIn(camera.packets, received_ns, None, c2w, k, None, received_ns)
            self._spawn(watcher.runner.submit(pose))

    def _intrinsics(self, camera: TrackedCamera, watcher: Watcher, zoom: int
                    ) -> Intrinsics | None:
        """The lens at ``zoom`` for this watcher (padded to the stride), or None after
        reporting why it is unusable (at most once per report interval)."""
        if watcher.lens is not None and watcher.lens[0] == zoom:
            return watcher.lens[1]
        try:
            k = camera.config.lens.intrinsics(zoom, watcher.width, watcher.height, watcher.bounds)
            k = check_plausible(k, "tracked_camera.lens")
        except InvalidInput as exc:
            now = self._clock()
            if watcher.last_error_ns is None or now - watcher.last_error_ns >= self._interval_ns:
                watcher.last_error_ns = now
                message = (f"tracked camera {camera.name!r}: zoom {zoom} through lens "
                           f"{camera.config.lens.source!r} gives no usable lens: {exc}")
                self._spawn(watcher.runner.outbound.put(
                    ErrorOut("FAILED_PRECONDITION", "tracked_camera.lens", message)))
            return None
        watcher.lens = (zoom, k.padded(watcher.stride)[0])
        return watcher.lens[1]

    def _maybe_report(self, watcher: Watcher, listener: Listener) -> None:
        now = self._clock()
        last = watcher.last_report_ns
        if last is None or now - last >= self._interval_ns:
            self._report(watcher, listener)
        elif watcher.flush is None:
            delay = (last + self._interval_ns - now) / 1e9
            watcher.flush = asyncio.get_running_loop().call_later(
                delay, self._report, watcher, listener)

    def _report(self, watcher: Watcher, listener: Listener) -> None:
        """Send the watcher one TRACKER_DROPPED event for its pending drops."""
        if watcher.flush is not None:
            watcher.flush.cancel()
            watcher.flush = None
        if not watcher.pending:
            return
        count = sum(watcher.pending.values())
        reasons = ", ".join(f"{r.value} {n}" for r, n in sorted(watcher.pending.items()))
        watcher.pending.clear()
        watcher.last_report_ns = self._clock()
        runner = watcher.runner
        self._spawn(runner.outbound.put(EventOut(
            EventKind.TRACKER_DROPPED, f"FreeD datagrams dropped on {listener.address}: "
            f"{reasons}", runner.session_id, runner.world_id, count=count)))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event=freed_submit_failed error=%r", task.exception())

    @property
    def in_flight(self) -> int:
        """Submissions and events not yet done (bounded: each is a few microseconds)."""
        return len(self._tasks)

    # ----- watching ------------------------------------------------------------------------
    def camera(self, name: str) -> TrackedCamera:
        """The camera ``name``, ready to watch: NOT_FOUND if unknown, FAILED_PRECONDITION
        without a lens calibration."""
        camera = self.cameras.get(name)
        if camera is None:
            known = ", ".join(sorted(self.cameras)) or "none"
            raise NotFound(f"open.tracked_camera {name!r}: no such tracked camera (this server "
                           f"tracks: {known}; see ServerInfo.tracked_cameras)")
        if camera.config.lens is None:
            raise Incompatible(f"open.tracked_camera {name!r} has no lens calibration: FreeD "
                               "zoom is an encoder count, not a focal length; give the camera "
                               "a lens (a calibration file, or builtin:default) in the server's "
                               "--freed-config or with --freed-lens")
        return camera

    def watch(self, name: str, runner: Scheduler, width: int, height: int, stride: int,
              bounds: ResolutionBounds) -> None:
        """Feed ``runner`` every pose of camera ``name`` from now on."""
        camera = self.camera(name)
        camera.watchers[runner.session_id] = Watcher(runner, width, height, stride, bounds)
        log.info("event=tracked_watch camera=%s session=%s watchers=%d", name,
                 runner.session_id, len(camera.watchers))

    def unwatch(self, name: str, runner: Scheduler) -> None:
        camera = self.cameras.get(name)
        watcher = camera.watchers.pop(runner.session_id, None) if camera else None
        if watcher is not None and watcher.flush is not None:
            watcher.flush.cancel()

    def info(self) -> list[TrackedCameraInfo]:
        return [c.info() for c in self.cameras.values()]


async def start_tracker(core, config: FreeDConfig, observer: TrackerObserver | None = None,
                        ) -> Tracker:
    """Create the cameras' worlds on ``core``, bind the listeners, and return the tracker."""
    tracker = Tracker(observer)
    worlds: dict[str, str] = {}
    for cam in config.cameras:
        if cam.world.name not in worlds:
            worlds[cam.world.name] = (await core.create_world(cam.world.spec())).world_id
        tracker.add(cam, worlds[cam.world.name])
    await tracker.bind()
    for camera in tracker.cameras.values():
        c = camera.config
        log.info("event=tracked_camera name=%s freed_id=%d listen=%s world=%s lens=%s "
                 "transform=%s unreal_compat=%s", c.name, c.freed_camera_id,
                 camera.listener.address, camera.world_id, c.lens.source if c.lens else None,
                 c.transform, c.unreal_compat)
        if c.lens is None:
            log.warning("event=tracked_camera_without_lens name=%s: sessions watching it will "
                        "be refused until it has a lens calibration", c.name)
    return tracker
