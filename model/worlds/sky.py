"""The sky at infinity: a colour that depends on the viewing direction only.

A vertical gradient from the horizon colour to the zenith colour, a sun disc with a glow in
the direction of the scene's sun light, and procedural clouds: fractal noise on the plane
``dir.xy / (dir.z + 0.15)``. No camera position enters, so the sky looks the same from
anywhere (the spatial memory stores it per direction).
"""

from __future__ import annotations

import torch

from latentstage.model.worlds.noise import fbm, seed_offset
from latentstage.model.worlds.scene import Sky


def _smoothstep(e0: float, e1: float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def sky_color(sky: Sky, d: torch.Tensor, pixel_angle: float) -> torch.Tensor:
    """RGB [N, 3] in [0, 1] of the sky in directions ``d`` [N, 3] (any length).

    ``pixel_angle`` (radians per pixel) only fades cloud detail finer than a pixel.
    """
    dev, dt = d.device, d.dtype
    u = d / d.norm(dim=1, keepdim=True)
    e = u[:, 2]
    zen = torch.tensor(sky.zenith, device=dev, dtype=dt)
    hor = torch.tensor(sky.horizon, device=dev, dtype=dt)
    w = _smoothstep(0.0, 0.55, e).pow(0.8)[:, None]
    col = hor + (zen - hor) * w
    col = col * (1.0 - 0.25 * _smoothstep(0.0, -0.3, e))[:, None]  # darker below the horizon
    sun_dir = torch.tensor(sky.sun_direction, device=dev, dtype=dt)
    sun_col = torch.tensor(sky.sun_color, device=dev, dtype=dt)
    cos = (u @ sun_dir).clamp(min=0.0)
    glow = 0.25 * cos.pow(8) + 0.35 * cos.pow(120)
    col = col + sun_col * glow[:, None]
    if sky.cloud_cover > 0:
        ec = e.clamp(min=0.02) + 0.15
        plane = torch.stack([u[:, 0] / ec, u[:, 1] / ec, torch.zeros_like(e)], 1)
        fp = pixel_angle * sky.cloud_scale / (ec * ec)
        off = torch.tensor(seed_offset(sky.seed), device=dev, dtype=dt)
        n = fbm(plane * sky.cloud_scale + off, 5, fp)
        lo = 1.0 - sky.cloud_cover
        cover = _smoothstep(lo - 0.05, lo + 0.25, n) * _smoothstep(0.0, 0.12, e)
        shade = 0.78 + 0.22 * fbm(plane * sky.cloud_scale * 2.0 + off + 5.0, 2, fp * 2)
        cloud = torch.tensor(sky.cloud_color, device=dev, dtype=dt) * shade[:, None]
        col = col + (cloud - col) * cover[:, None]
    else:
        cover = torch.zeros_like(e)
    disc = _smoothstep(0.99955, 0.99975, cos) * (1.0 - cover)
    col = col + (torch.ones_like(col) - col) * disc[:, None]
    return col.clamp(0.0, 1.0)
