"""Camera rays on torch tensors: pixel rays and Plücker coordinates (canonical conventions)."""

from __future__ import annotations

import numpy as np
import torch

from latentstage.runtime.camera import Intrinsics, validate_pose


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
    pose = pose_tensor(c2w, device)
    rows = torch.arange(intrinsics.height, device=device, dtype=torch.float64)
    cols = torch.arange(intrinsics.width, device=device, dtype=torch.float64)
    y = ((rows - intrinsics.cy) / intrinsics.fy)[:, None].expand(-1, intrinsics.width)
    x = ((cols - intrinsics.cx) / intrinsics.fx)[None, :].expand(intrinsics.height, -1)
    cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # [H, W, 3]
    dirs = cam @ pose[:3, :3].T
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
