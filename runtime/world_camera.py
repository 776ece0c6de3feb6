"""One camera on a shared world: the frame step (:mod:`.pipeline`) under the world's lock.

:meth:`WorldCamera.step` turns the scheduler's :class:`~.types.FramePlan` into one call of
:class:`~.pipeline.FrameStep`: it derives the frame's camera once from the plan's pose, holds
the world's lock while the step touches the memory, and adds the memory's stats. It runs on
the model thread.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from latentstage.runtime.backends import Backend
from latentstage.runtime.pipeline import FrameStep
from latentstage.runtime.types import Frame, FramePlan
from latentstage.runtime.world import World, memory_info


class WorldCamera:
    """A camera on a shared :class:`~.world.World`, with its own noise seed."""

    def __init__(self, world: World, model: Backend, seed: int):
        self.world = world
        self.frame_step = FrameStep(model, world.memory, seed=seed)

    def step(self, plan: FramePlan) -> Frame:
        """Render ``plan`` (model thread): host pixels, stage timings and memory stats."""
        memory = self.world.memory
        camera = memory.camera(plan.pose.intrinsics, plan.c2w)  # the pose's one validation
        mask = plan.pose.dynamic_mask
        mask = None if mask is None else torch.from_numpy(mask).to(memory.device)
        with self.world.lock:
            frame = self.frame_step(camera, plan.pose.frame_id, plan.steps, plan.write, mask)
            info = memory_info(memory, float(frame.readout.coverage.mean()))
        return replace(frame, memory=info)
