"""The per-frame loop of DESIGN.md: readout, generate, decode, write.

``FramePipeline.step`` is the whole frame at a glance. The model is a
:class:`~latentstage.runtime.backends.Backend` (or anything with ``encode``, ``decode``,
``denoise``); the memory is a
:class:`~latentstage.runtime.memory.LatentMemory`. Policy (frame budget, degradation, pose
prediction) lives in the scheduler, not here: ``step`` takes the rung's choices as arguments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from latentstage.runtime.backends import Backend
from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.memory import LatentMemory, Readout
from latentstage.runtime.rays import FrameCamera
from latentstage.runtime.sampler import sample


@dataclass
class FrameTiming:
    """Seconds spent in each stage of one frame."""

    readout: float = 0.0  # memory readout and conditioning
    generate: float = 0.0  # sampler steps
    decode: float = 0.0  # latent to RGB
    write: float = 0.0  # memory write
    total: float = 0.0  # the whole step


@dataclass
class FrameOutput:
    """One generated frame and what produced it."""

    rgb: torch.Tensor  # [3, H, W] in [0, 1]
    latent: torch.Tensor  # [C, h, w] generated latent
    depth: torch.Tensor  # [h, w] predicted metres along the optical axis
    readout: Readout  # what the memory showed the generator
    timing: FrameTiming = field(default_factory=FrameTiming)


def build_cond(readout: Readout, camera: FrameCamera) -> torch.Tensor:
    """``cond`` [1, C + 9, h, w] from a readout and the target camera (generator layout)."""
    from latentstage.model.generator import build_cond as stack

    return stack(readout.features[None], readout.depth[None], readout.coverage[None],
                 readout.sky[None], camera.plucker[None])


def anchor_to_memory(latent: torch.Tensor, depth: torch.Tensor, readout: Readout,
                     strength: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pull the generated latent [1,C,h,w] and depth [1,1,h,w] toward the memory where it
    covers: ``x += strength * coverage * (memory - x)``. With strength 1 a place the memory
    holds is reproduced exactly (the generator only fills what the memory lacks); sky pixels
    keep the generated depth, since the environment latent has none."""
    if strength <= 0:
        return latent, depth
    cov = readout.coverage[None, None] * strength  # [1, 1, h, w]
    latent = latent + cov * (readout.features[None] - latent)
    points = cov * (1 - readout.sky[None, None])
    depth = depth + points * (readout.depth[None, None] - depth)
    return latent, depth


#: Confidence of generated content when written back, against 1 for observations (seed
#: images). With the memory's ``yield_ratio`` it keeps generated content, whose depth is only
#: a guess, from hiding what was observed when the camera comes back.
GENERATED_CONFIDENCE = 0.25


def write_confidence(readout: Readout, strength: float,
                     generated: float = GENERATED_CONFIDENCE) -> torch.Tensor:
    """[h, w] write weights of a generated frame: what the memory already held (and the frame
    copied from it) is not written back, so repeated readout interpolation never blurs what is
    stored; the rest is written with the confidence of generated content."""
    return generated * (1 - strength * readout.coverage)


def frame_seed(seed: int, frame_index: int) -> int:
    """The noise seed of one frame: deterministic for (seed, frame), distinct across frames."""
    return (seed * 1_000_003 + frame_index) % (2**63)


class FramePipeline:
    """Readout, generate, decode and write for one camera on one world."""

    def __init__(self, model: Backend, memory: LatentMemory, steps: int = 2,
                 seed: int = 0, memory_anchor: float = 1.0):
        self.model = model
        self.memory = memory
        self.steps = steps
        self.seed = seed
        self.memory_anchor = memory_anchor  # 0..1: how strictly covered places are kept
        self.stride = memory.spec.stride

    def _sync(self) -> float:
        if self.memory.device.type == "cuda":
            torch.cuda.synchronize(self.memory.device)
        return time.perf_counter()

    @torch.inference_mode()
    def seed_world(self, rgb: torch.Tensor, depth: torch.Tensor, intrinsics: Intrinsics,
                   c2w: np.ndarray, sky: torch.Tensor | None = None) -> torch.Tensor:
        """Encode a seed image ([3,H,W] in [0,1]) and write it with depth at latent centres
        ([h,w] metres, 0 = unknown). Returns the seed latent [C, h, w]."""
        latent = self.model.encode(rgb[None].to(self.memory.device))[0]
        self.memory.write(latent, depth, self.memory.camera(intrinsics, c2w), sky_mask=sky)
        return latent

    @torch.inference_mode()
    def step(self, intrinsics: Intrinsics, c2w: np.ndarray, frame_index: int,
             steps: int | None = None, write: bool = True,
             dynamic_mask: torch.Tensor | None = None) -> FrameOutput:
        """Generate the frame seen by ``intrinsics``/``c2w`` and (optionally) remember it.

        ``dynamic_mask`` ([h, w] or [H, W] bool) marks pixels of moving objects: never written.
        """
        camera = self.memory.camera(intrinsics, c2w)
        h, w = camera.h, camera.w
        t0 = self._sync()
        readout = self.memory.readout(camera)
        cond = build_cond(readout, camera)
        t1 = self._sync()
        shape = (1, self.memory.spec.channels, h, w)
        latent, depth = sample(self.model.denoise, cond, steps or self.steps,
                               frame_seed(self.seed, frame_index), shape)
        latent, depth = anchor_to_memory(latent, depth, readout, self.memory_anchor)
        t2 = self._sync()
        rgb = self.model.decode(latent)[0].clamp(0, 1)
        t3 = self._sync()
        if write:
            self.memory.write(latent[0], depth[0, 0], camera, dynamic_mask=dynamic_mask,
                              confidence=write_confidence(readout, self.memory_anchor))
        t4 = self._sync()
        timing = FrameTiming(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)
        return FrameOutput(rgb, latent[0], depth[0, 0], readout, timing)
