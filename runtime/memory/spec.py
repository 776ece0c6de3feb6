"""What a memory is made of: the latent spec, the memory config and the readout's result."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from latentstage.runtime.errors import InvalidInput


@dataclass(frozen=True)
class LatentSpec:
    """What a latent token is: saved with every snapshot and checked on load."""

    channels: int  # C, latent channels
    stride: int  # f, image pixels per latent pixel along each axis
    scaling: float = 1.0  # latent = (encoder_output - shift) * scaling
    shift: float = 0.0  # see scaling


@dataclass(frozen=True)
class MemoryConfig:
    """Capacity and voxel parameters of a :class:`LatentMemory` (saved with snapshots)."""

    capacity: int = 262_144  # maximum number of stored points (voxels)
    voxel_base: float = 1.0 / 128  # metres: voxel size at level 0; level L is base * 2**L
    voxel_scale: float = 0.5  # voxel size relative to the token footprint depth / fx'
    near: float = 0.05  # metres: tokens and points closer than this are ignored
    far: float = 500.0  # metres: tokens beyond this go to the environment latent
    max_weight: float = 16.0  # cap on accumulated confidence so old entries can still adapt
    replace_rms: float = 1.5  # RMS feature difference that counts as a strong disagreement
    replace_confidence: float = 0.5  # observation confidence needed to replace an entry
    recency_per_weight: float = 8.0  # eviction: writes of recency one unit of log2 weight buys
    evict_fraction: float = 1.0 / 64  # evict at least this fraction of capacity when full
    max_splat: int = 4  # largest splat side, latent pixels
    splat_scale: float = 1.0  # splat side relative to the projected footprint
    depth_tolerance: float = 0.05  # readout: relative depth range that counts as one surface
    # Readout: a point whose trust is below this fraction of the most trusted point at a pixel
    # never hides it (0 turns this off). Trust is the highest confidence a point was written
    # with; generated content is written with less than observations (runtime.pipeline).
    yield_ratio: float = 0.5
    env_height: int = 32  # environment latent rows (elevation, from +Z down to -Z)
    env_width: int = 64  # environment latent columns (azimuth)

    def __post_init__(self) -> None:
        positive = ("capacity", "voxel_base", "voxel_scale", "near", "far", "max_weight",
                    "max_splat", "env_height", "env_width", "splat_scale")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InvalidInput(f"memory.{name}", value, "a finite number > 0")
        if self.capacity >= 1 << 31:
            raise InvalidInput("memory.capacity", self.capacity, "< 2**31 points")
        if self.far <= self.near:
            raise InvalidInput("memory.far", self.far, f"> near ({self.near})")
        if not (isinstance(self.yield_ratio, int | float) and 0 <= self.yield_ratio <= 1):
            raise InvalidInput("memory.yield_ratio", self.yield_ratio, "a number in [0, 1]")


@dataclass
class Readout:
    """The memory seen from a target camera at latent resolution."""

    features: torch.Tensor  # [C, h, w] latent features; 0 where uncovered
    depth: torch.Tensor  # [h, w] metres along the optical axis; 0 where no point (sky/uncovered)
    coverage: torch.Tensor  # [h, w] float 1 where a point or the environment covers, else 0
    sky: torch.Tensor  # [h, w] float 1 where the environment latent filled the pixel
