"""Real-time policy of one session, pure and torch-free: what to render for a pose.

- **Frame budget** (:func:`choose_rung`): with ``target_fps > 0`` each frame must fit
  ``1 / fps`` seconds of model time. :class:`CostModel` predicts a plan's cost from measured
  stage times (exponential moving averages); the first rung that fits is taken, best first:
  full steps, fewer steps, skip the memory write, memory only.
- **Prediction** (:func:`predict_pose`): the pose is extrapolated from the last two capture
  timestamps to its expected display time: the measured pose-to-frame latency plus the
  client's display latency, at most ``max_horizon_s``.
- **The plan** (:func:`make_plan`): the two above turned into a :class:`~.types.FramePlan`,
  whose data (steps, write) drive the frame step.

The session loop (:mod:`.scheduler`) calls these; tests drive them with fake stage times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentstage.runtime.conventions import extrapolate_pose
from latentstage.runtime.types import FramePlan, Pacing, PoseIn, Rung, StreamSettings, Timing


# ----- cost model and the degradation ladder ---------------------------------------------------
@dataclass
class CostModel:
    """Moving averages of stage times (seconds) that predict the cost of a plan."""

    alpha: float = 0.3  # weight of the newest measurement
    queue: float = 0.0  # waiting for the model worker
    readout: float | None = None  # memory readout and conditioning
    per_step: float | None = None  # one sampler step
    decode: float | None = None  # latent to RGB
    write: float | None = None  # memory write

    def _mix(self, old: float | None, new: float) -> float:
        return new if old is None else (1 - self.alpha) * old + self.alpha * new

    def observe(self, steps: int, written: bool, timing: Timing) -> None:
        """Fold in one frame's measured stage times."""
        self.queue = self._mix(self.queue, timing.queue)
        self.readout = self._mix(self.readout, timing.readout)
        self.decode = self._mix(self.decode, timing.decode)
        if steps > 0:
            self.per_step = self._mix(self.per_step, timing.generate / steps)
        if written:
            self.write = self._mix(self.write, timing.write)

    @property
    def ready(self) -> bool:
        """Whether a generated frame has been measured (before that, plans are optimistic)."""
        return None not in (self.readout, self.per_step, self.decode)

    def estimate(self, steps: int, write: bool) -> float:
        """Predicted model-side seconds of a frame of ``steps`` sampler steps (0: memory only)."""
        cost = self.queue + (self.readout or 0.0) + (self.decode or 0.0)
        cost += steps * (self.per_step or 0.0)
        if write:
            cost += self.write or 0.0
        return cost


def choose_rung(costs: CostModel, budget_s: float | None, steps: int,
                margin: float = 0.9) -> tuple[Rung, int, bool]:
    """The best rung whose predicted cost fits ``margin * budget_s``: (rung, steps, write).

    Best first: ``steps`` with a write; fewer steps (``steps - 1`` down to 1) with a write; one
    step without a write; the memory-only frame (always taken when nothing else fits).
    """
    if budget_s is None or not costs.ready:
        return Rung.FULL, steps, True
    limit = budget_s * margin
    if costs.estimate(steps, True) <= limit:
        return Rung.FULL, steps, True
    for fewer in range(steps - 1, 0, -1):
        if costs.estimate(fewer, True) <= limit:
            return Rung.FEWER_STEPS, fewer, True
    if costs.estimate(1, False) <= limit:
        return Rung.SKIP_WRITE, 1, False
    return Rung.MEMORY_ONLY, 0, False


# ----- pose prediction -------------------------------------------------------------------------
def predict_pose(prev: PoseIn | None, pose: PoseIn, horizon_s: float, max_horizon_s: float = 0.1,
                 max_gap_s: float = 0.5) -> tuple[np.ndarray, float]:
    """``pose.c2w`` [4, 4] extrapolated ``horizon_s`` past its capture time, and the horizon used.

    Uses the constant velocity from ``prev`` to ``pose``. Returns the pose unchanged (horizon 0)
    without a usable predecessor: none, no capture times, out of order, or more than
    ``max_gap_s`` apart (a cut or a pause). The horizon is clamped to [0, max_horizon_s].
    """
    horizon = min(max(horizon_s, 0.0), max_horizon_s)
    if prev is None or horizon == 0.0 or prev.capture_time_ns <= 0:
        return pose.c2w, 0.0
    dt = (pose.capture_time_ns - prev.capture_time_ns) / 1e9
    if not 0 < dt <= max_gap_s:
        return pose.c2w, 0.0
    return extrapolate_pose(0.0, prev.c2w, dt, pose.c2w, dt + horizon), horizon


# ----- the plan --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanConfig:
    """Knobs of planning (server-wide; part of the session loop's configuration)."""

    max_horizon_s: float = 0.1  # longest pose extrapolation, seconds
    max_gap_s: float = 0.5  # poses further apart are not extrapolated, seconds
    budget_margin: float = 0.9  # a plan must fit this fraction of the frame budget


def make_plan(pose: PoseIn, prev: PoseIn | None, settings: StreamSettings, costs: CostModel,
              latency_s: float, now_ns: int, config: PlanConfig = PlanConfig()) -> FramePlan:
    """The rung, steps, write and (predicted) pose for ``pose`` at server time ``now_ns``.

    ``latency_s`` is the session's measured pose-to-frame latency; LOCKSTEP always renders the
    full rung; paused writes turn the write off whatever the rung.
    """
    s = settings
    c2w, horizon = pose.c2w, 0.0
    if s.predict:
        elapsed = (now_ns - pose.received_ns) / 1e9
        expected = elapsed + max(latency_s - elapsed, 0.0) + s.display_latency_s
        c2w, horizon = predict_pose(prev, pose, expected, config.max_horizon_s,
                                    config.max_gap_s)
    if s.pacing is Pacing.LOCKSTEP:
        rung, steps, write = Rung.FULL, s.steps, True
    else:
        rung, steps, write = choose_rung(costs, s.budget_s, s.steps, config.budget_margin)
    return FramePlan(pose, c2w, rung, steps, write and not s.writes_paused, horizon, now_ns)
