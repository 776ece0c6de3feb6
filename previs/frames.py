"""The one place previs calls the runtime's per-frame step (:class:`~latentstage.runtime.
pipeline.FrameStep`, through :class:`~latentstage.runtime.world_camera.WorldCamera`, as the
service does).

:func:`render_frame` renders one camera on a world and (by default) writes the frame to the
world's memory, exactly as a served session would on the full rung. Everything else in
``latentstage.previs`` (renders, seeks, the viewer) calls it, so the runtime's frame step can be
swapped here alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentstage.runtime.backends import Backend
from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.encoding import crop_centre
from latentstage.runtime.types import FramePlan, MemoryInfo, PoseIn, Rung, Timing
from latentstage.runtime.world import World
from latentstage.runtime.world_camera import WorldCamera


@dataclass
class RenderedFrame:
    """One rendered frame on the host and what produced it."""

    pixels: np.ndarray  # [H, W, 3] uint8 at the camera's own size
    rung: Rung  # degradation rung (offline renders: always FULL)
    steps: int  # sampler steps run
    timing: Timing  # seconds per stage (queue is 0 in process)
    memory: MemoryInfo  # the world's memory after the frame (coverage of this frame's readout)


def render_frame(world: World, model: Backend, c2w: np.ndarray, intrinsics: Intrinsics,
                 frame_id: int, *, seed: int, steps: int, write: bool = True) -> RenderedFrame:
    """Render ``c2w`` ([4, 4] canonical camera-to-world, metres) seen through ``intrinsics`` (any
    size, pixels) on ``world``, on the full rung, and write it to the memory when ``write``.

    The noise depends on (``seed``, ``frame_id``) only, so the same memory, camera, seed and
    frame id give the same pixels. The frame is rendered on the stride grid and centre-cropped
    back, as the service does for any output size.
    """
    stride = world.memory.spec.stride
    padded = intrinsics.padded(stride)[0]
    c2w = np.asarray(c2w, np.float64)
    pose = PoseIn(frame_id, 0, None, c2w, padded, None)
    frame = WorldCamera(world, model, seed=seed).step(FramePlan(pose, c2w, Rung.FULL, steps, write))
    pixels = np.ascontiguousarray(crop_centre(frame.pixels, intrinsics.width, intrinsics.height))
    return RenderedFrame(pixels, Rung.FULL, steps, frame.timing, frame.memory)
