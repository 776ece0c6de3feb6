"""Camera rays on torch tensors: pixel rays, Plücker coordinates (canonical conventions), and
:class:`FrameCamera`, one frame's camera derived once for readout, write and conditioning."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from latentstage.runtime.camera import Intrinsics, validate_pose
from latentstage.runtime.errors import InvalidInput


def pose_tensor(c2w: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """A validated camera-to-world pose as a float64 tensor on ``device``, [4, 4]."""
    return torch.as_tensor(validate_pose(c2w), dtype=torch.float64, device=device)


def pixel_rays(
    intrinsics: Intrinsics,
    c2w: np.ndarray,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """World-space rays through every pixel centre.

    Returns:
        origin: [3] camera centre in world metres.
        dirs: [H, W, 3] world directions scaled so that their camera-z component is 1, so a
            point at depth ``d`` (metres along the optical axis) is ``origin + d * dirs``.
    """
    return _rays(intrinsics, pose_tensor(c2w, device), dtype)


def _rays(intrinsics: Intrinsics, pose: torch.Tensor,
          dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`pixel_rays` of an already validated ``pose`` [4, 4] float64 tensor."""
    device = pose.device
    rows = torch.arange(intrinsics.height, device=device, dtype=torch.float64)
    cols = torch.arange(intrinsics.width, device=device, dtype=torch.float64)
    y = ((rows - intrinsics.cy) / intrinsics.fy)[:, None].expand(-1, intrinsics.width)
    x = ((cols - intrinsics.cx) / intrinsics.fx)[None, :].expand(intrinsics.height, -1)
    cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # [H, W, 3]
    dirs = cam @ pose[:3, :3].T  # [H, W, 3]
    return pose[:3, 3].to(dtype), dirs.to(dtype)


def plucker_rays(
    intrinsics: Intrinsics,
    c2w: np.ndarray,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Plücker coordinates (unit direction d, moment o x d) of every pixel ray, [6, H, W]."""
    origin, dirs = pixel_rays(intrinsics, c2w, device, torch.float64)
    d = dirs / dirs.norm(dim=-1, keepdim=True)
    m = torch.cross(origin.expand_as(d), d, dim=-1)
    return torch.cat([d, m], dim=-1).permute(2, 0, 1).to(dtype).contiguous()


@dataclass(frozen=True, eq=False)
class FrameCamera:
    """One frame's camera, validated once and shared by readout, write and conditioning.

    ``intrinsics`` describe the image the latent grid decodes to, ``(w*f) x (h*f)`` pixels.
    Everything on the latent grid (``latent``, ``dirs``, ``plucker``) is computed on first use
    and cached, so a frame derives its latent intrinsics and rays once however many stages
    use them. Build one with :meth:`of` (or ``LatentMemory.camera``).
    """

    intrinsics: Intrinsics  # of the image; width and height are multiples of ``stride``
    c2w: np.ndarray  # [4, 4] float64 camera-to-world, validated (canonical axes)
    stride: int  # f: image pixels per latent pixel along each axis
    device: torch.device  # where the rays live

    @classmethod
    def of(cls, intrinsics: Intrinsics, c2w, stride: int,
           device: torch.device | str = "cpu", field: str = "pose") -> FrameCamera:
        """Validate ``c2w`` (named ``field`` in errors) and the image size against ``stride``."""
        if intrinsics.width % stride or intrinsics.height % stride:
            raise InvalidInput("intrinsics.size", (intrinsics.width, intrinsics.height),
                               f"multiples of the latent stride {stride}")
        return cls(intrinsics, validate_pose(c2w, field), stride, torch.device(device))

    @property
    def h(self) -> int:
        """Latent rows."""
        return self.intrinsics.height // self.stride

    @property
    def w(self) -> int:
        """Latent columns."""
        return self.intrinsics.width // self.stride

    @cached_property
    def w2c64(self) -> torch.Tensor:
        """[4, 4] float64 world-to-camera on ``device`` (the inverse of :attr:`pose64`)."""
        return torch.linalg.inv(self.pose64)

    @cached_property
    def latent(self) -> Intrinsics:
        """The intrinsics of the latent grid, ``w`` x ``h``."""
        return self.intrinsics.latent(self.stride)

    @cached_property
    def pose64(self) -> torch.Tensor:
        """[4, 4] float64 camera-to-world on ``device`` (validated once, in :meth:`of`)."""
        return torch.as_tensor(self.c2w, dtype=torch.float64, device=self.device)

    @cached_property
    def _rays64(self) -> tuple[torch.Tensor, torch.Tensor]:
        return _rays(self.latent, self.pose64, torch.float64)  # [3], [h, w, 3]

    @cached_property
    def origin(self) -> torch.Tensor:
        """[3] float32 camera centre, world metres."""
        return self._rays64[0].float()

    @cached_property
    def dirs(self) -> torch.Tensor:
        """[h, w, 3] float32 world ray directions with camera-z component 1 (see pixel_rays)."""
        return self._rays64[1].float()

    @cached_property
    def plucker(self) -> torch.Tensor:
        """[6, h, w] float32 Plücker coordinates of the latent pixel rays (plucker_rays)."""
        origin, dirs = self._rays64
        d = dirs / dirs.norm(dim=-1, keepdim=True)
        m = torch.cross(origin.expand_as(d), d, dim=-1)
        return torch.cat([d, m], dim=-1).permute(2, 0, 1).float().contiguous()
