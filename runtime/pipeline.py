"""The per-frame step of DESIGN.md: readout, generate, decode, write, host copy.

:class:`FrameStep` is the whole frame at a glance and its only copy: the server's sessions,
the demo, the evaluation, the benchmarks and ``latentstage render`` all call it. It is driven
by data, not by the degradation rung: ``steps`` sampler steps (0: the memory-only frame, the
readout decoded directly) and whether to ``write``. Policy (budget, degradation, prediction)
lives in :mod:`.policy`; locking lives in :mod:`.world_camera`.

The memory is pluggable (:class:`FrameMemory`): the latent memory itself, or an evaluation
baseline that reads out and writes its own way.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from latentstage.runtime.backends import Backend
from latentstage.runtime.conditioning import (  # noqa: F401 (build_cond: re-exported)
    anchor_to_memory,
    build_cond,
    write_confidence,
)
from latentstage.runtime.memory import LatentMemory, Readout
from latentstage.runtime.rays import FrameCamera
from latentstage.runtime.sampler import sample
from latentstage.runtime.timing import StageClock
from latentstage.runtime.types import Frame, Timing


class FrameMemory(Protocol):
    """What a frame reads its conditioning from and writes back to."""

    def readout(self, camera: FrameCamera) -> Readout:
        """The memory seen from ``camera`` at latent resolution."""
        ...

    def write_frame(
        self,
        latent: torch.Tensor,  # [C, h, w] generated latent
        depth: torch.Tensor,  # [h, w] metres along the optical axis
        rgb: torch.Tensor,  # [3, H, W] in [0, 1], the decoded frame
        camera: FrameCamera,  # the frame's camera
        confidence: torch.Tensor,  # [h, w] write weights (write_confidence)
        dynamic_mask: torch.Tensor | None,  # [h, w] or [H, W] bool: never written
    ) -> None:
        """Remember a generated frame."""
        ...


class LatentFrameMemory:
    """The latent spatial memory as a :class:`FrameMemory` (what serving and render use)."""

    def __init__(self, memory: LatentMemory):
        self.memory = memory

    def readout(self, camera: FrameCamera) -> Readout:
        return self.memory.readout(camera)

    def write_frame(self, latent: torch.Tensor, depth: torch.Tensor, rgb: torch.Tensor,
                    camera: FrameCamera, confidence: torch.Tensor,
                    dynamic_mask: torch.Tensor | None) -> None:
        self.memory.write(latent, depth, camera, dynamic_mask=dynamic_mask,
                          confidence=confidence)


def frame_seed(seed: int, frame_index: int) -> int:
    """The noise seed of one frame: deterministic for (seed, frame), distinct across frames."""
    return (seed * 1_000_003 + frame_index) % (2**63)


def host_pixels(rgb: torch.Tensor) -> np.ndarray:
    """[H, W, 3] uint8 host pixels of ``rgb`` [3, H, W] in [0, 1] (rounded to nearest)."""
    return (rgb.permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).cpu().numpy()


class FrameStep:
    """Frames of one camera on one memory: its noise seed and how strictly it keeps the memory.

    Args:
        model: the networks (a Backend, or anything with ``decode`` and ``denoise``).
        memory: a :class:`~.memory.LatentMemory` (wrapped in :class:`LatentFrameMemory`) or
            any :class:`FrameMemory`.
        seed: noise seed; frame ``i`` uses :func:`frame_seed` (seed, i).
        anchor: 0..1, how strictly places the memory covers are kept (:func:`anchor_to_memory`).

    Usage (an offline render; a served world goes through :class:`.world_camera.WorldCamera`,
    which also holds the world's lock)::

        step = FrameStep(backend, memory, seed=7)
        for i, c2w in enumerate(poses):
            frame = step(memory.camera(intrinsics, c2w), i, steps=2, write=True)
            save(frame.pixels)  # [H, W, 3] uint8; frame.timing.model: seconds of the step
    """

    def __init__(self, model: Backend, memory: LatentMemory | FrameMemory, seed: int = 0,
                 anchor: float = 1.0):
        self.model = model
        self.memory = LatentFrameMemory(memory) if isinstance(memory, LatentMemory) else memory
        self.seed = seed
        self.anchor = anchor
        self.channels = model.latent_spec().channels

    @torch.inference_mode()
    def __call__(self, camera: FrameCamera, frame_index: int, steps: int, write: bool = True,
                 dynamic_mask: torch.Tensor | None = None) -> Frame:
        """Render the frame ``camera`` sees, then remember it if asked.

        ``steps`` > 0 runs the generator; 0 decodes the readout (never written back: it would
        copy the memory into itself). ``dynamic_mask`` ([h, w] or [H, W] bool) marks moving
        objects, never written. The write is queued before the host copy, so the copy's
        synchronisation also completes it and the stage times are read once.
        """
        clock = StageClock(camera.device)
        readout = self.memory.readout(camera)
        latent = depth = None
        if steps > 0:
            cond = build_cond(readout, camera)  # [1, C + 9, h, w]
            clock.lap("readout")
            latent, depth = sample(self.model.denoise, cond, steps,
                                   frame_seed(self.seed, frame_index),
                                   (1, self.channels, camera.h, camera.w))
            latent, depth = anchor_to_memory(latent, depth, readout, self.anchor)
            latent, depth = latent[0], depth[0, 0]  # [C, h, w], [h, w]
            clock.lap("generate")
        else:
            clock.lap("readout")
        rgb = self.model.decode((readout.features if latent is None else latent)[None])
        rgb = rgb[0].clamp(0, 1)  # [3, H, W]
        clock.lap("decode")
        written = write and latent is not None
        if written:
            self.memory.write_frame(latent, depth, rgb, camera,
                                    write_confidence(readout, self.anchor), dynamic_mask)
            clock.lap("write")
        pixels = host_pixels(rgb)
        clock.lap("decode")  # the host copy counts with the decode
        s = clock.seconds()
        timing = Timing(readout=s["readout"], generate=s.get("generate", 0.0),
                        decode=s["decode"], write=s.get("write", 0.0))
        return Frame(pixels, timing, rgb=rgb, latent=latent, depth=depth, readout=readout,
                     written=written)


@torch.inference_mode()
def seed_memory(model: Backend, memory: LatentMemory, rgb: torch.Tensor, depth: torch.Tensor,
                camera: FrameCamera, sky: torch.Tensor | None = None) -> torch.Tensor:
    """Encode a seed image ``rgb`` ([3,H,W] in [0,1]) and write it with ``depth`` at latent
    centres ([h,w] metres, 0 = unknown) and optional ``sky`` ([h,w] bool). Returns the seed
    latent [C, h, w]."""
    latent = model.encode(rgb[None].to(memory.device))[0]
    memory.write(latent, depth, camera, sky_mask=sky)
    return latent
