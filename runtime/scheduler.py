"""The session loop: poses in, planned frames on the model thread, encoded frames out.

Nothing here knows torch or protobuf: a session is driven through a ``step(plan) -> Frame``
callable that runs on the :class:`ModelWorker` thread, so tests drive the loop on a CPU with a
fake step whose timing they control. What to render for a pose (budget, degradation,
prediction) is the pure policy of :mod:`.policy`.

- **Latest pose wins** (:class:`PoseSlot`): at most one pending pose in REALTIME pacing; a pose
  replaced before it is rendered is skipped and counted. LOCKSTEP keeps a short FIFO instead
  and makes the reader wait (gRPC flow control then holds the client back).
- **Bounded output** (:class:`OutboundQueue`): frames a slow reader has not taken are dropped,
  latest wins, and counted; events are bounded too.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from latentstage.runtime.encoding import crop_centre, encode_frame
from latentstage.runtime.policy import CostModel, PlanConfig, make_plan
from latentstage.runtime.types import (
    ControlIn,
    ErrorOut,
    EventKind,
    EventOut,
    Frame,
    FrameOut,
    FramePlan,
    Pacing,
    PoseIn,
    Rung,
    StreamSettings,
    status_of,
)

log = logging.getLogger(__name__)

Step = Callable[[FramePlan], Frame]
Clock = Callable[[], int]  # monotonic nanoseconds


# ----- the model worker ------------------------------------------------------------------------
class ModelWorker:
    """Runs model work on one dedicated thread (serialised) and encoding on a small pool.

    The asyncio event loop only awaits these, so health checks, stats and other sessions stay
    responsive while a frame is generated.
    """

    def __init__(self, io_threads: int = 2):
        self._model = ThreadPoolExecutor(1, thread_name_prefix="latentstage-model")
        self._io = ThreadPoolExecutor(io_threads, thread_name_prefix="latentstage-io")

    async def run_model(self, fn: Callable, *args):
        """``fn(*args)`` on the model thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._model, functools.partial(fn, *args))

    async def run_io(self, fn: Callable, *args):
        """``fn(*args)`` on the I/O pool (encoding, image decoding, file work)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, functools.partial(fn, *args))

    def shutdown(self, wait: bool = True) -> None:
        self._model.shutdown(wait=wait, cancel_futures=True)
        self._io.shutdown(wait=wait, cancel_futures=True)


# ----- bounded queues --------------------------------------------------------------------------
class PoseSlot:
    """Poses waiting to be rendered: one slot, latest wins (REALTIME), or a short FIFO whose
    ``put`` waits when full (LOCKSTEP). Items are (pose, its predecessor)."""

    def __init__(self, latest_wins: bool, depth: int = 4):
        self.latest_wins = latest_wins
        self._depth = 1 if latest_wins else depth
        self._items: collections.deque = collections.deque()
        self._changed = asyncio.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item) -> bool:
        """Queue ``item``; returns True when it replaced a waiting pose (a skipped pose)."""
        async with self._changed:
            if self._closed:
                return False
            skipped = False
            if self.latest_wins and self._items:
                self._items.clear()
                skipped = True
            else:
                await self._changed.wait_for(lambda: len(self._items) < self._depth or
                                             self._closed)
            self._items.append(item)
            self._changed.notify_all()
            return skipped

    async def get(self):
        """The next item, or None once closed and empty."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._items or self._closed)
            if not self._items:
                return None
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    async def close(self, discard: bool = False) -> int:
        """Take no more poses; ``discard`` drops the waiting ones (returns how many)."""
        async with self._changed:
            self._closed = True
            dropped = len(self._items) if discard else 0
            if discard:
                self._items.clear()
            self._changed.notify_all()
            return dropped


class OutboundQueue:
    """Messages waiting for the client: at most ``max_frames`` frames and ``max_events`` events.

    With ``drop_frames`` a new frame replaces the oldest waiting one (counted in
    :attr:`frames_dropped`); without it ``put_frame`` waits for room. The final message
    (session closed, server shutting down) is never dropped.
    """

    def __init__(self, max_frames: int = 2, max_events: int = 64, drop_frames: bool = True):
        self.max_frames, self.max_events, self.drop_frames = max_frames, max_events, drop_frames
        self._items: collections.deque = collections.deque()
        self._changed = asyncio.Condition()
        self._closed = False
        self.frames_dropped = 0  # frames replaced before the client took them
        self.events_dropped = 0  # events dropped over max_events
        self.high_water = 0  # most frames ever waiting at once

    def _count(self, kind) -> int:
        return sum(isinstance(item, kind) for item in self._items)

    def _drop_oldest(self, kind) -> None:
        for item in self._items:
            if isinstance(item, kind):
                self._items.remove(item)
                return

    async def put_frame(self, frame: FrameOut) -> int:
        """Queue a frame; returns how many older frames it displaced (0 or 1)."""
        async with self._changed:
            dropped = 0
            if self.drop_frames:
                while self._count(FrameOut) >= self.max_frames:
                    self._drop_oldest(FrameOut)
                    dropped += 1
            else:
                await self._changed.wait_for(lambda: self._count(FrameOut) < self.max_frames or
                                             self._closed)
            if not self._closed:
                self._items.append(frame)
                self.high_water = max(self.high_water, self._count(FrameOut))
            self.frames_dropped += dropped
            self._changed.notify_all()
            return dropped

    async def put(self, message: EventOut | ErrorOut) -> None:
        """Queue an event or error (dropping the oldest one over ``max_events``)."""
        async with self._changed:
            if self._closed:
                return
            if len(self._items) - self._count(FrameOut) >= self.max_events:
                self._drop_oldest((EventOut, ErrorOut))
                self.events_dropped += 1
            self._items.append(message)
            self._changed.notify_all()

    async def close(self, final: EventOut | None = None) -> None:
        """Queue ``final`` (never dropped) and end the stream after what is waiting."""
        async with self._changed:
            if self._closed:
                return
            if final is not None:
                self._items.append(final)
            self._closed = True
            self._changed.notify_all()

    async def get(self):
        """The next message (frames carry the current drop count), or None at the end."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._items or self._closed)
            if not self._items:
                return None
            item = self._items.popleft()
            self._changed.notify_all()
        if isinstance(item, FrameOut):
            item = replace(item, frames_dropped=self.frames_dropped)
        return item

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.get()
        if item is None:
            raise StopAsyncIteration
        return item


class _Throttle:
    """At most one emission per ``interval_ns`` for each key."""

    def __init__(self, clock: Clock, interval_s: float = 1.0):
        self.clock, self.interval, self._last = clock, int(interval_s * 1e9), {}

    def due(self, key) -> bool:
        now = self.clock()
        if now - self._last.get(key, -self.interval) >= self.interval:
            self._last[key] = now
            return True
        return False


# ----- the session loop ------------------------------------------------------------------------
class SessionObserver:
    """Hooks for metrics; the default does nothing."""

    def frame(self, frame: FrameOut) -> None: ...

    def poses_skipped(self, count: int) -> None: ...

    def frames_dropped(self, count: int) -> None: ...


@dataclass(frozen=True)
class SchedulerConfig:
    """Knobs of the session loop (server-wide)."""

    max_horizon_s: float = 0.1  # longest pose extrapolation, seconds
    max_gap_s: float = 0.5  # poses further apart are not extrapolated, seconds
    budget_margin: float = 0.9  # a plan must fit this fraction of the frame budget
    lockstep_depth: int = 4  # poses that may wait in LOCKSTEP before the reader waits
    outbound_frames: int = 2  # frames that may wait for a slow reader (REALTIME)
    event_interval_s: float = 1.0  # least time between two rate-limited events of a kind
    open_timeout_s: float = 30.0  # a stream must send Open within this, seconds


class Scheduler:
    """Schedules one session's poses onto the model worker and queues frames for the client.

    ``step`` renders a plan (on the model thread); ``save(name)`` saves the world and returns
    (name, bytes). :meth:`submit`, :meth:`apply` and :meth:`close` are called by the reader;
    :meth:`run` is the frame loop; :attr:`outbound` is what the client receives.
    """

    def __init__(self, session_id: str, world_id: str, step: Step, worker: ModelWorker,
                 settings: StreamSettings, *,
                 save: Callable[[str], Awaitable[tuple[str, int]]] | None = None,
                 observer: SessionObserver | None = None, config: SchedulerConfig | None = None,
                 clock: Clock = time.monotonic_ns):
        self.session_id, self.world_id = session_id, world_id
        self.settings, self.config = settings, config or SchedulerConfig()
        self._step, self._worker, self._save = step, worker, save
        self._observer, self._clock = observer or SessionObserver(), clock
        realtime = settings.pacing is Pacing.REALTIME
        self.slot = PoseSlot(latest_wins=realtime, depth=self.config.lockstep_depth)
        self.outbound = OutboundQueue(self.config.outbound_frames, drop_frames=realtime)
        self.costs = CostModel()
        self.poses_skipped = 0
        self.frames = 0
        self.latency_s = 0.0  # moving average of pose received -> frame ready
        self._last_pose: PoseIn | None = None
        self._unreported_skips = 0
        self._last_rung = Rung.FULL
        self._throttle = _Throttle(clock, self.config.event_interval_s)
        self._tail: asyncio.Task | None = None
        self._final = EventOut(EventKind.SESSION_CLOSED, "session closed", session_id, world_id)

    # ----- reader side ---------------------------------------------------------------------
    async def submit(self, pose: PoseIn) -> None:
        """Queue a pose (REALTIME: replacing a waiting one; LOCKSTEP: waiting for room)."""
        if pose.received_ns == 0:
            pose = replace(pose, received_ns=self._clock())
        prev = self._last_pose
        if prev is None or pose.capture_time_ns > prev.capture_time_ns:
            self._last_pose = pose
        if await self.slot.put((pose, prev)):
            self.poses_skipped += 1
            self._unreported_skips += 1
            self._observer.poses_skipped(1)
            if self._throttle.due(EventKind.POSES_DROPPED):
                await self._report_skips()

    async def apply(self, control: ControlIn) -> None:
        """Apply a Control: change settings, and save a snapshot if asked."""
        s, changed = self.settings, False
        for name, value in (("steps", control.steps), ("target_fps", control.target_fps),
                            ("encoding", control.encoding), ("jpeg_quality", control.jpeg_quality),
                            ("writes_paused", control.pause_writes)):
            if value is not None and getattr(s, name) != value:
                setattr(s, name, value)
                changed = True
        if changed:
            await self.outbound.put(self._event(EventKind.SETTINGS_CHANGED, "settings changed",
                                                settings=replace(s)))
        if control.snapshot_name is not None and self._save is not None:
            try:
                name, size = await self._save(control.snapshot_name)
            except Exception as exc:  # reported to the client, the stream carries on
                log.warning("event=snapshot_failed session=%s error=%r", self.session_id, exc)
                await self.outbound.put(ErrorOut(status_of(exc), "control.snapshot.name",
                                                 str(exc)))
                return
            await self.outbound.put(self._event(EventKind.WORLD_SAVED, f"saved {name!r}",
                                                count=size, snapshot_name=name))

    async def close(self, shutting_down: bool = False) -> None:
        """No more poses. Waiting poses are still rendered, unless the server is stopping."""
        if shutting_down:
            self._final = EventOut(EventKind.SERVER_SHUTTING_DOWN,
                                   "the server is shutting down; reconnect to another server",
                                   self.session_id, self.world_id)
        await self.slot.close(discard=shutting_down)

    # ----- frame loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Render poses until closed, then end the outbound stream with the final event."""
        try:
            while (item := await self.slot.get()) is not None:
                await self._frame(*item)
            if self._tail is not None:
                await self._tail
            if self._unreported_skips:
                await self._report_skips()
        except asyncio.CancelledError:  # the client went away: drop the frame being encoded
            if self._tail is not None:
                self._tail.cancel()
            raise
        finally:
            await self.outbound.close(self._final)

    def plan(self, pose: PoseIn, prev: PoseIn | None) -> FramePlan:
        """The rung, steps, write and (predicted) pose for ``pose`` (:func:`.policy.make_plan`)."""
        c = self.config
        return make_plan(pose, prev, self.settings, self.costs, self.latency_s, self._clock(),
                         PlanConfig(c.max_horizon_s, c.max_gap_s, c.budget_margin))

    def _timed_step(self, plan: FramePlan) -> Frame:
        """Runs on the model thread: the step, with its wait for the thread measured."""
        started = self._clock()
        result = self._step(plan)
        timing = replace(result.timing, queue=(started - plan.submitted_ns) / 1e9)
        return replace(result, timing=timing)

    async def _frame(self, pose: PoseIn, prev: PoseIn | None) -> None:
        plan = self.plan(pose, prev)
        try:
            result = await self._worker.run_model(self._timed_step, plan)
        except Exception as exc:  # one bad frame must not end the session
            log.exception("event=frame_failed session=%s frame_id=%d", self.session_id,
                          pose.frame_id)
            await self.outbound.put(ErrorOut(status_of(exc), "pose", str(exc), pose.frame_id))
            return
        self.costs.observe(plan.steps, plan.write, result.timing)
        self.frames += 1
        if self._tail is not None:  # at most one frame encoding while the next is generated
            await self._tail
        self._tail = asyncio.create_task(self._finish(plan, result, self.frames))

    async def _finish(self, plan: FramePlan, result: Frame, sequence: int) -> None:
        """Encode (on the I/O pool) and queue one frame, with its events."""
        s = self.settings
        t0 = time.perf_counter()
        rgb = crop_centre(result.pixels, s.width, s.height)  # rendered on the stride grid
        image = await self._worker.run_io(encode_frame, rgb, s.encoding, s.jpeg_quality,
                                          s.bottom_up)
        encode = time.perf_counter() - t0
        total = (self._clock() - plan.pose.received_ns) / 1e9
        self.latency_s = total if sequence == 1 else 0.8 * self.latency_s + 0.2 * total
        pre_step = (plan.submitted_ns - plan.pose.received_ns) / 1e9
        timing = replace(result.timing, queue=pre_step + result.timing.queue, encode=encode,
                         total=total)
        frame = FrameOut(plan.pose, plan.c2w, image, timing, result.memory, plan.rung,
                         plan.steps, plan.write, self.poses_skipped, self.outbound.frames_dropped,
                         plan.predicted_s, sequence)
        self._observer.frame(frame)
        await self._rung_events(plan)
        dropped = await self.outbound.put_frame(frame)
        if dropped:
            self._observer.frames_dropped(dropped)
            if self._throttle.due(EventKind.FRAMES_DROPPED):
                await self.outbound.put(self._event(
                    EventKind.FRAMES_DROPPED, "frames dropped: the client reads slower than "
                    "frames are made", count=self.outbound.frames_dropped))

    async def _rung_events(self, plan: FramePlan) -> None:
        if plan.rung == self._last_rung or not self._throttle.due("rung"):
            return
        self._last_rung = plan.rung
        if plan.rung is Rung.FULL:
            await self.outbound.put(self._event(EventKind.RECOVERED, "back to full quality",
                                                frame_id=plan.pose.frame_id, rung=plan.rung))
        else:
            await self.outbound.put(self._event(
                EventKind.DEGRADED, f"frame budget missed: {plan.rung.name.lower()}",
                frame_id=plan.pose.frame_id, rung=plan.rung))

    async def _report_skips(self) -> None:
        count, self._unreported_skips = self._unreported_skips, 0
        await self.outbound.put(self._event(
            EventKind.POSES_DROPPED, "poses replaced by newer ones before rendering",
            count=count))

    def _event(self, kind: EventKind, message: str, **fields) -> EventOut:
        return EventOut(kind, message, self.session_id, self.world_id, **fields)
