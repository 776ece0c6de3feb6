"""The real-time policy on a CPU with a fake model whose stage times the test controls."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.conventions import extrapolate_pose
from latentstage.runtime.policy import CostModel, choose_rung, predict_pose
from latentstage.runtime.scheduler import (
    ModelWorker,
    OutboundQueue,
    PoseSlot,
    Scheduler,
    SchedulerConfig,
)
from latentstage.runtime.types import (
    Encoding,
    EventKind,
    EventOut,
    Frame,
    FrameOut,
    MemoryInfo,
    Pacing,
    PoseIn,
    Rung,
    StreamSettings,
    Timing,
)

K = Intrinsics.from_fov(70, 16, 16)
READOUT, PER_STEP, DECODE, WRITE = 0.003, 0.020, 0.004, 0.010  # seconds the fake reports


def pose(i: int, t_ms: float | None = 0.0, x: float = 0.0) -> PoseIn:
    """Pose ``i`` at x metres, captured ``t_ms`` after a clock origin (None: no capture time)."""
    c2w = look_at([x, 0, 1.6], [x + 1, 0, 1.6])
    return PoseIn(i, 0 if t_ms is None else int((1000 + t_ms) * 1e6), None, c2w, K, None)


class FakeModel:
    """A step that reports fixed stage times (and optionally really takes some time)."""

    def __init__(self, sleep_s: float = 0.0):
        self.sleep_s = sleep_s
        self.plans = []

    def __call__(self, plan):
        self.plans.append(plan)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        timing = Timing(0.0, READOUT, plan.steps * PER_STEP, DECODE,
                             WRITE if plan.write else 0.0)
        rgb = np.full((K.height, K.width, 3), plan.pose.frame_id % 256, np.uint8)
        return Frame(rgb, timing, MemoryInfo(points=len(self.plans)))


def measured(steps: int = 2) -> CostModel:
    costs = CostModel()
    costs.observe(steps, True, Timing(0.0, READOUT, steps * PER_STEP, DECODE, WRITE))
    return costs


# ----- the ladder ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fps, rung, steps, write", [
    (None, Rung.FULL, 2, True),  # no budget: never degrade
    (15, Rung.FULL, 2, True),  # 57 ms fits 0.9 * 66.7 ms
    (20, Rung.FEWER_STEPS, 1, True),  # 37 ms fits 45 ms, 57 does not
    (30, Rung.SKIP_WRITE, 1, False),  # 27 ms fits 30 ms
    (60, Rung.MEMORY_ONLY, 0, False),  # nothing fits 15 ms
])
def test_ladder_takes_the_best_rung_that_fits(fps, rung, steps, write):
    budget = None if fps is None else 1 / fps
    assert choose_rung(measured(), budget, 2) == (rung, steps, write)


def test_ladder_is_optimistic_before_anything_is_measured():
    assert choose_rung(CostModel(), 1 / 240, 3) == (Rung.FULL, 3, True)


def test_ladder_skips_the_fewer_steps_rung_at_one_step():
    assert choose_rung(measured(1), 1 / 30, 1) == (Rung.SKIP_WRITE, 1, False)


def test_cost_model_keeps_the_generator_estimate_through_memory_only_frames():
    costs = measured()
    costs.observe(0, False, Timing(0.0, READOUT, 0.0, DECODE, 0.0))
    assert costs.per_step == pytest.approx(PER_STEP)
    assert costs.estimate(2, True) == pytest.approx(READOUT + 2 * PER_STEP + DECODE + WRITE)


# ----- prediction ---------------------------------------------------------------------------------
def test_prediction_extrapolates_at_constant_velocity_to_the_horizon():
    a, b = pose(0, 0.0, x=0.0), pose(1, 40.0, x=0.1)  # 0.1 m in 40 ms = 2.5 m/s along x
    c2w, horizon = predict_pose(a, b, 0.02)
    assert horizon == pytest.approx(0.02)
    np.testing.assert_allclose(c2w[:3, 3], [0.15, 0.0, 1.6], atol=1e-9)
    np.testing.assert_allclose(c2w, extrapolate_pose(0, a.c2w, 0.04, b.c2w, 0.06), atol=1e-12)


@pytest.mark.parametrize("prev, t_ms, why", [
    (None, 40.0, "no predecessor"),
    (pose(0, None), None, "no capture times"),
    (pose(0, 0.0), 900.0, "a gap longer than 0.5 s"),
])
def test_prediction_leaves_the_pose_alone_without_a_usable_predecessor(prev, t_ms, why):
    b = pose(1, t_ms, x=0.1)
    c2w, horizon = predict_pose(prev, b, 0.02)
    assert horizon == 0.0, why
    np.testing.assert_array_equal(c2w, b.c2w)


def test_prediction_horizon_is_clamped():
    _, horizon = predict_pose(pose(0, 0.0), pose(1, 40.0, x=0.1), 5.0, max_horizon_s=0.1)
    assert horizon == 0.1


# ----- bounded queues -----------------------------------------------------------------------------
def test_pose_slot_keeps_only_the_latest_pose():
    async def run():
        slot = PoseSlot(latest_wins=True)
        skipped = [await slot.put(i) for i in range(5)]
        assert len(slot) == 1
        assert await slot.get() == 4
        return skipped

    assert asyncio.run(run()) == [False, True, True, True, True]


def test_lockstep_slot_makes_the_reader_wait_when_full():
    async def run():
        slot = PoseSlot(latest_wins=False, depth=2)
        await slot.put(0)
        await slot.put(1)
        blocked = asyncio.create_task(slot.put(2))
        await asyncio.sleep(0.05)
        assert not blocked.done() and len(slot) == 2
        assert await slot.get() == 0
        assert await blocked is False
        await slot.close()
        return [await slot.get(), await slot.get(), await slot.get()]

    assert asyncio.run(run()) == [1, 2, None]


def _frame(i: int) -> FrameOut:
    from latentstage.runtime.types import EncodedImage

    p = pose(i)
    img = EncodedImage(Encoding.RAW_RGB8, 1, 1, 3, b"\0\0\0")
    return FrameOut(p, p.c2w, img, Timing(0, 0, 0, 0, 0, 0, 0), MemoryInfo(), Rung.FULL, 2,
                    True, 0, 0, 0.0, i)


def test_outbound_queue_drops_old_frames_for_a_slow_reader_but_keeps_events():
    async def run():
        q = OutboundQueue(max_frames=2, max_events=3)
        for i in range(10):
            await q.put_frame(_frame(i))
        for i in range(5):
            await q.put(EventOut(EventKind.POSES_DROPPED, count=i))
        await q.close(EventOut(EventKind.SESSION_CLOSED))
        return q, [item async for item in q]

    q, items = asyncio.run(run())
    frames = [x for x in items if isinstance(x, FrameOut)]
    assert [f.pose.frame_id for f in frames] == [8, 9]  # latest wins
    assert q.frames_dropped == 8 and q.high_water == 2
    assert all(f.frames_dropped == 8 for f in frames)
    events = [x.count for x in items if isinstance(x, EventOut)][:-1]
    assert events == [2, 3, 4] and q.events_dropped == 2
    assert items[-1].kind is EventKind.SESSION_CLOSED  # the final message is never dropped


# ----- the session loop ---------------------------------------------------------------------------
def _runner(model, pacing=Pacing.REALTIME, fps=0.0, steps=2, predict=False, **cfg):
    settings = StreamSettings(16, 16, Encoding.RAW_RGB8, target_fps=fps, steps=steps,
                              pacing=pacing, predict=predict)
    return Scheduler("s", "w", model, ModelWorker(1), settings,
                         config=SchedulerConfig(**cfg))


async def _drain(runner):
    return [item async for item in runner.outbound]


def test_runner_degrades_when_a_frame_would_miss_its_budget():
    model = FakeModel()

    async def run():
        runner = _runner(model, fps=30)  # 27 ms fits (skip write), 37 ms does not
        loop = asyncio.create_task(runner.run())
        reader = asyncio.create_task(_drain(runner))
        for i in range(6):
            await runner.submit(pose(i, 33.0 * i))
            await asyncio.sleep(0.02)
        await runner.close()
        await loop
        return await reader

    items = asyncio.run(run())
    frames = [x for x in items if isinstance(x, FrameOut)]
    assert frames[0].rung is Rung.FULL  # nothing measured yet
    assert {f.rung for f in frames[1:]} == {Rung.SKIP_WRITE}
    assert all(f.steps == 1 and not f.written for f in frames[1:])
    degraded = [x for x in items if isinstance(x, EventOut) and x.kind is EventKind.DEGRADED]
    assert len(degraded) == 1 and degraded[0].rung is Rung.SKIP_WRITE
    assert [p.write for p in model.plans[1:]] == [False] * (len(model.plans) - 1)


def test_runner_latest_pose_wins_and_counts_skips():
    model = FakeModel(sleep_s=0.05)

    async def run():
        runner = _runner(model)
        loop = asyncio.create_task(runner.run())
        reader = asyncio.create_task(_drain(runner))
        for i in range(40):
            await runner.submit(pose(i, 5.0 * i))
            await asyncio.sleep(0.005)
        await runner.close()
        await loop
        return runner, await reader

    runner, items = asyncio.run(run())
    frames = [x for x in items if isinstance(x, FrameOut)]
    ids = [f.pose.frame_id for f in frames]
    assert ids == sorted(ids) and ids[-1] == 39  # in order; the last pose is always rendered
    assert len(frames) + runner.poses_skipped == 40  # every pose rendered or counted
    assert 0 < len(frames) < 20
    reported = sum(x.count for x in items
                   if isinstance(x, EventOut) and x.kind is EventKind.POSES_DROPPED)
    assert reported == runner.poses_skipped == frames[-1].poses_skipped


def test_runner_lockstep_renders_every_pose_in_order_at_full_quality():
    model = FakeModel()

    async def run():
        runner = _runner(model, pacing=Pacing.LOCKSTEP, fps=60)  # a budget nothing fits
        loop = asyncio.create_task(runner.run())
        reader = asyncio.create_task(_drain(runner))
        for i in range(30):
            await runner.submit(pose(i, 1.0 * i))
        await runner.close()
        await loop
        return await reader

    frames = [x for x in asyncio.run(run()) if isinstance(x, FrameOut)]
    assert [f.pose.frame_id for f in frames] == list(range(30))
    assert {f.rung for f in frames} == {Rung.FULL}
    assert [f.sequence for f in frames] == list(range(1, 31))


def test_runner_never_buffers_frames_for_a_reader_that_does_not_read():
    model = FakeModel()

    async def run():
        runner = _runner(model, outbound_frames=2)
        loop = asyncio.create_task(runner.run())
        for i in range(50):
            await runner.submit(pose(i))
            await asyncio.sleep(0.003)
        await runner.close()
        await loop
        return runner, await _drain(runner)

    runner, items = asyncio.run(run())
    frames = [x for x in items if isinstance(x, FrameOut)]
    assert runner.outbound.high_water <= 2 and len(frames) <= 2
    assert runner.outbound.frames_dropped == runner.frames - len(frames) > 0
    assert frames[-1].frames_dropped == runner.outbound.frames_dropped


def test_runner_predicts_with_the_measured_latency():
    model = FakeModel(sleep_s=0.02)

    async def run():
        runner = _runner(model, pacing=Pacing.LOCKSTEP, predict=True)
        loop = asyncio.create_task(runner.run())
        reader = asyncio.create_task(_drain(runner))
        for i in range(5):
            await runner.submit(pose(i, 40.0 * i, x=0.1 * i))  # 2.5 m/s along x
        await runner.close()
        await loop
        return await reader

    frames = [x for x in asyncio.run(run()) if isinstance(x, FrameOut)]
    assert frames[0].predicted_s == 0.0  # no predecessor
    for f in frames[2:]:  # latency measured by now
        assert 0.01 < f.predicted_s <= 0.1
        ahead = f.c2w[0, 3] - f.pose.c2w[0, 3]
        assert ahead == pytest.approx(2.5 * f.predicted_s, rel=1e-6)


def test_runner_applies_controls_and_reports_them():
    from latentstage.runtime.types import ControlIn

    model = FakeModel()
    saved = []

    async def save(name):
        saved.append(name)
        return name or "auto", 123

    async def run():
        runner = _runner(model, pacing=Pacing.LOCKSTEP)
        runner._save = save
        loop = asyncio.create_task(runner.run())
        reader = asyncio.create_task(_drain(runner))
        await runner.submit(pose(0))
        await runner.apply(ControlIn(steps=3, pause_writes=True, encoding=Encoding.RAW_RGBA8,
                                     snapshot_name="snap"))
        await runner.submit(pose(1))
        await runner.close()
        await loop
        return await reader

    items = asyncio.run(run())
    frames = [x for x in items if isinstance(x, FrameOut)]
    assert frames[-1].steps == 3 and not frames[-1].written
    assert frames[-1].image.encoding is Encoding.RAW_RGBA8 and frames[-1].image.stride == 16 * 4
    kinds = [x.kind for x in items if isinstance(x, EventOut)]
    assert EventKind.SETTINGS_CHANGED in kinds and EventKind.WORLD_SAVED in kinds
    assert saved == ["snap"]
