"""One camera session on a world: the per-frame loop of :mod:`.pipeline` at a chosen rung.

:meth:`WorldSession.step` is the whole frame at a glance: readout and generate (or, on the
memory-only rung, decode the readout directly), copy to the host, then write. It runs on the
model thread and holds the world's lock while it touches the memory. Which rung, how many
steps and whether to write are the scheduler's decisions (:class:`~.types.FramePlan`).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from latentstage.runtime.backends import Backend
from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.pipeline import FramePipeline, write_confidence
from latentstage.runtime.types import FramePlan, FrameResult, Rung, StageTiming
from latentstage.runtime.world import World, memory_info


class WorldSession:
    """A camera on a shared :class:`~.world.World`: its own noise seed and sampler steps."""

    def __init__(self, world: World, model: Backend, seed: int, steps: int):
        self.world = world
        self.model = model
        self.pipeline = FramePipeline(model, world.memory, steps=steps, seed=seed)
        self.device = world.memory.device

    def _sync(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    @torch.inference_mode()
    def step(self, plan: FramePlan) -> FrameResult:
        """Render ``plan`` (model thread). Returns host pixels, stage timings and memory stats."""
        k, c2w = plan.pose.intrinsics, plan.c2w
        with self.world.lock:
            if plan.rung is Rung.MEMORY_ONLY:
                rgb, latent, depth, coverage, timing = self._memory_only(k, c2w)
            else:
                out = self.pipeline.step(k, c2w, plan.pose.frame_id, plan.steps, write=False)
                rgb, latent, depth = out.rgb, out.latent, out.depth
                coverage = out.readout.coverage
                timing = StageTiming(0.0, out.timing.readout, out.timing.generate,
                                     out.timing.decode)
            t0 = self._sync()
            pixels = (rgb.permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).cpu().numpy()
            t1 = self._sync()
            if plan.write and latent is not None:
                camera = self.world.memory.camera(k, c2w)
                self.world.memory.write(
                    latent, depth, camera, dynamic_mask=self._mask(plan.pose.dynamic_mask),
                    confidence=write_confidence(out.readout, self.pipeline.memory_anchor))
            t2 = self._sync()
            memory = memory_info(self.world.memory, float(coverage.mean()))
        write_s = t2 - t1 if plan.write and latent is not None else 0.0
        timing = StageTiming(0.0, timing.readout, timing.generate, timing.decode + t1 - t0,
                             write_s)
        return FrameResult(pixels, timing, memory)

    def _memory_only(self, k: Intrinsics, c2w: np.ndarray):
        """The degraded frame: the memory readout decoded directly, no generator."""
        t0 = self._sync()
        readout = self.world.memory.readout(self.world.memory.camera(k, c2w))
        t1 = self._sync()
        rgb = self.model.decode(readout.features[None])[0].clamp(0, 1)
        t2 = self._sync()
        return rgb, None, None, readout.coverage, StageTiming(0.0, t1 - t0, 0.0, t2 - t1)

    def _mask(self, mask: np.ndarray | None) -> torch.Tensor | None:
        return None if mask is None else torch.from_numpy(mask).to(self.device)
