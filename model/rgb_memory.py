"""The prior art's memory, kept as a baseline: an RGB point cloud at pixel resolution.

GEN3C, Voyager and Spatia keep every decoded frame as coloured 3D points, appended with
``torch.cat`` and never merged, then rasterise the cloud at pixel resolution and re-encode the
render through the VAE encoder on every step. This module reproduces that faithfully (one
point per pixel, a one-pixel z-buffer splat) so that evaluation and benchmarks can compare it
with :class:`~latentstage.runtime.memory.LatentMemory` on the same frames.

``write`` takes an optional pixel mask so that evaluation can give both memories the same
write policy (only what the memory did not already cover is written back); the cloud itself
still only ever appends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.rays import pixel_rays, pose_tensor

_INT64_MAX = torch.iinfo(torch.int64).max


@dataclass
class RGBRender:
    """The point cloud rasterised into a camera at pixel resolution."""

    rgb: torch.Tensor  # [3, H, W] in [0, 1]; 0 where uncovered
    depth: torch.Tensor  # [H, W] metres along the optical axis; 0 where uncovered
    coverage: torch.Tensor  # [H, W] float 1 where a point landed


class RGBPointCloudMemory:
    """An unbounded, append-only RGB point cloud (the baseline; see the module docstring)."""

    def __init__(self, device: torch.device | str = "cpu", max_depth: float = 500.0):
        self.device = torch.device(device)
        self.max_depth = max_depth  # metres: farther pixels (and sky) are not kept
        self.pos = torch.zeros(0, 3, device=self.device)  # [N, 3] world metres
        self.rgb = torch.zeros(0, 3, device=self.device)  # [N, 3] in [0, 1]

    def __len__(self) -> int:
        return self.pos.shape[0]

    @property
    def bytes(self) -> int:
        """Device bytes held by the cloud."""
        return self.pos.numel() * self.pos.element_size() + self.rgb.numel() * 4

    def write(
        self,
        rgb: torch.Tensor,  # [3, H, W] in [0, 1]
        depth: torch.Tensor,  # [H, W] metres; 0 or inf are skipped
        intrinsics: Intrinsics,
        pose: np.ndarray,  # [4, 4] camera-to-world
        sky_mask: torch.Tensor | None = None,  # [H, W] bool
        mask: torch.Tensor | None = None,  # [H, W] bool: pixels that may be written
    ) -> int:
        """Append every valid pixel (within ``mask``) as a point. Returns the points added."""
        h, w = intrinsics.height, intrinsics.width
        for name, t in (("rgb", rgb[0]), ("depth", depth), ("sky_mask", sky_mask),
                        ("mask", mask)):
            if t is not None and tuple(t.shape) != (h, w):
                raise ValueError(f"{name}: expected [{h}, {w}] pixels, got {list(t.shape)}")
        origin, dirs = pixel_rays(intrinsics, pose, self.device)
        d = depth.to(self.device).reshape(-1)
        keep = (d > 0) & (d < self.max_depth)
        if sky_mask is not None:
            keep &= ~sky_mask.to(self.device).reshape(-1)
        if mask is not None:
            keep &= mask.to(self.device, torch.bool).reshape(-1)
        pts = origin + d[keep, None] * dirs.reshape(-1, 3)[keep]
        cols = rgb.to(self.device).reshape(3, -1).T[keep]
        self.pos = torch.cat([self.pos, pts])  # the prior art's growth, kept as it is
        self.rgb = torch.cat([self.rgb, cols])
        return int(keep.sum())

    def render(self, intrinsics: Intrinsics, pose: np.ndarray) -> RGBRender:
        """Rasterise at pixel resolution with a deterministic z-buffer (one pixel per point)."""
        h, w = intrinsics.height, intrinsics.width
        w2c = torch.linalg.inv(pose_tensor(pose, self.device)).float()
        cam = self.pos @ w2c[:3, :3].T + w2c[:3, 3]
        z = cam[:, 2]
        front = z > 1e-3
        zs = torch.where(front, z, torch.ones_like(z))
        u = torch.round(intrinsics.fx * cam[:, 0] / zs + intrinsics.cx).long()
        v = torch.round(intrinsics.fy * cam[:, 1] / zs + intrinsics.cy).long()
        ok = (front & (u >= 0) & (u < w) & (v >= 0) & (v < h)).nonzero().squeeze(1)
        pix = v[ok] * w + u[ok]
        # Pack (float32 depth bits, point index): the nearest point wins, ties by index.
        packed = (z[ok].contiguous().view(torch.int32).long() << 31) | ok
        zbuf = torch.full((h * w,), _INT64_MAX, dtype=torch.int64, device=self.device)
        zbuf.scatter_reduce_(0, pix, packed, "amin")
        hit = zbuf != _INT64_MAX
        idx = zbuf[hit] & ((1 << 31) - 1)
        rgb = torch.zeros(h * w, 3, device=self.device)
        depth = torch.zeros(h * w, device=self.device)
        rgb[hit] = self.rgb[idx]
        depth[hit] = z[idx]
        return RGBRender(
            rgb=rgb.T.reshape(3, h, w), depth=depth.view(h, w), coverage=hit.float().view(h, w)
        )
