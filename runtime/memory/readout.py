"""Reading points: a deterministic splatting z-buffer at latent resolution.

Each visible point covers the pixel centres of its footprint square (side = its extent
projected, at least the nearest pixel): these *primary* candidates decide the front surface of
a pixel by an exact ``amin`` over float32 depth bits. Every candidate within a tent of radius
``half + 0.5`` around the point and within ``depth_tolerance`` of that front depth is then
averaged with its tent weight. Sums run in float64 over candidates sorted by (pixel, voxel
key): the order comes from the content, never from storage or scatter order, so any subset
of slots that holds every point that can reach the view (what block culling keeps) gives a
bit-identical result.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentstage.runtime.memory.spec import MemoryConfig
from latentstage.runtime.memory.store import INT64_MAX, PointStore, decode_slant
from latentstage.runtime.rays import FrameCamera

CULL_MARGIN = 1.0  # latent pixels of slack in the block test, far above float32 rounding


@dataclass
class Splats:
    """The points that reach the view, projected."""

    slots: torch.Tensor  # [M] store slots
    u: torch.Tensor  # [M] latent-pixel column of the centre
    v: torch.Tensor  # [M] latent-pixel row of the centre
    z: torch.Tensor  # [M] metres along the optical axis (> near)
    half: torch.Tensor  # [M] footprint half-width, latent pixels (>= 0.5)
    radius: torch.Tensor  # [M] tent radius, latent pixels (>= 1)


@dataclass
class Candidates:
    """(point, pixel) pairs a splat may write."""

    point: torch.Tensor  # [K] index into the Splats
    pix: torch.Tensor  # [K] pixel index i * w + j
    weight: torch.Tensor  # [K] tent weight in (0, 1]
    primary: torch.Tensor  # [K] bool: inside the footprint square (decides the front)


def cull_planes(camera: FrameCamera, cfg: MemoryConfig) -> torch.Tensor:
    """[5, 4] float64 world half-spaces ``n . p + d >= 0`` outside which no point can reach
    the latent view: the four sides widened by the largest tent radius plus
    :data:`CULL_MARGIN`, and half the near plane."""
    k, h, w = camera.latent, camera.h, camera.w
    r = cfg.max_splat / 2 + 0.5 + CULL_MARGIN
    cam = torch.tensor([  # camera axes: n . (x, y, z) + d
        [k.fx, 0.0, k.cx + r, 0.0],  # u > -r
        [-k.fx, 0.0, w - 1 + r - k.cx, 0.0],  # u < w - 1 + r
        [0.0, k.fy, k.cy + r, 0.0],  # v > -r
        [0.0, -k.fy, h - 1 + r - k.cy, 0.0],  # v < h - 1 + r
        [0.0, 0.0, 1.0, -cfg.near / 2],  # z > near / 2
    ], dtype=torch.float64, device=camera.device)
    w2c = camera.w2c64  # [4, 4]
    return cam[:, :3] @ w2c[:3] + torch.cat([torch.zeros(5, 3, dtype=torch.float64,
                                                         device=camera.device), cam[:, 3:]], 1)


def project(store: PointStore, cfg: MemoryConfig, camera: FrameCamera,
            slots: torch.Tensor) -> Splats:
    """Project the points in ``slots`` [N]; keep those whose tent reaches the view."""
    k, h, w = camera.latent, camera.h, camera.w
    w2c = camera.w2c64.float()  # [4, 4]
    p = store.positions(slots)  # [N, 3]
    # Elementwise projection (no matmul) so that each point's result is independent of the
    # batch it is computed in: this is what makes the readout storage-order invariant.
    x, y, z = (p[:, 0] * w2c[r, 0] + p[:, 1] * w2c[r, 1] + p[:, 2] * w2c[r, 2] + w2c[r, 3]
               for r in range(3))
    front = z > cfg.near
    zs = torch.where(front, z, torch.ones_like(z))
    u, v = k.fx * x / zs + k.cx, k.fy * y / zs + k.cy
    # m > 1: seen closer than written. A slanted surface spreads faster than m (up to m^2
    # along its slope), so its splat grows with its slant as m rises from 1 to 2.
    m = store.extent[slots].float() * k.fx / zs
    grow = 1 + (decode_slant(store.slant[slots]) - 1) * (m - 1).clamp(0, 1)
    half = (cfg.splat_scale * m * grow).clamp(1, cfg.max_splat) / 2
    radius = half + 0.5
    vis = front & (u + radius > 0) & (u - radius < w - 1) & (v + radius > 0)
    vis = (vis & (v - radius < h - 1)).nonzero().squeeze(1)
    return Splats(slots[vis], u[vis], v[vis], z[vis], half[vis], radius[vis])


def candidates(s: Splats, h: int, w: int, max_splat: int) -> Candidates:
    """Pixels with ``|j - u| < radius`` and ``|i - v| < radius``, at most k x k per point."""
    j0 = torch.floor(s.u - s.radius).long() + 1  # [M] first candidate column
    i0 = torch.floor(s.v - s.radius).long() + 1  # [M] first candidate row
    small = s.radius <= 1.0  # the common case: a 2 x 2 neighbourhood
    point, cj, ci = [], [], []
    for group, span in ((small.nonzero().squeeze(1), 2),
                        ((~small).nonzero().squeeze(1), max_splat + 1)):
        off = torch.arange(span, device=s.u.device)
        point.append(group.repeat_interleave(span * span))
        cj.append((j0[group][:, None] + off.repeat(span)).reshape(-1))
        ci.append((i0[group][:, None] + off.repeat_interleave(span)).reshape(-1))
    point, cj, ci = torch.cat(point), torch.cat(cj), torch.cat(ci)  # [K']
    dj, di = (cj - s.u[point]).abs(), (ci - s.v[point]).abs()
    r = s.radius[point]
    ok = (dj < r) & (di < r) & (cj >= 0) & (cj < w) & (ci >= 0) & (ci < h)
    point, dj, di, r = point[ok], dj[ok], di[ok], r[ok]
    weight = (1 - dj / r) * (1 - di / r)
    primary = (dj <= s.half[point]) & (di <= s.half[point])
    return Candidates(point, (ci * w + cj)[ok], weight, primary)


def eligible(store: PointStore, cfg: MemoryConfig, s: Splats, c: Candidates,
             n_pix: int) -> torch.Tensor:
    """[K] bool: candidates whose trust is at least ``yield_ratio`` times the most trusted
    primary candidate of their pixel (generated content in front of an observed surface
    contradicts the observation and takes no part there)."""
    if cfg.yield_ratio <= 0:
        return torch.ones_like(c.primary)
    trust = store.trust[s.slots[c.point]].float()  # [K]
    most = torch.zeros(n_pix, device=trust.device)  # [h*w]
    most.scatter_reduce_(0, c.pix[c.primary], trust[c.primary], "amax")
    return trust >= cfg.yield_ratio * most[c.pix]


def front(s: Splats, c: Candidates, ok: torch.Tensor, n_pix: int, tolerance: float):
    """(hit [h*w] bool, keep [K] bool): pixels with a front surface, from an exact ``amin``
    over the float32 depth bits of eligible primaries (IEEE bits sort like positive values),
    and the eligible candidates within ``tolerance`` (relative) of it."""
    zbits = s.z.contiguous().view(torch.int32).long()  # [M]
    zmin = torch.full((n_pix,), INT64_MAX, dtype=torch.int64, device=zbits.device)
    first = c.primary & ok
    zmin.scatter_reduce_(0, c.pix[first], zbits[c.point[first]], "amin")
    hit = zmin != INT64_MAX
    zfront = torch.where(hit, zmin, 0).to(torch.int32).view(torch.float32)  # [h*w] metres
    keep = hit[c.pix] & (s.z[c.point] <= zfront[c.pix] * (1 + tolerance)) & ok
    return hit, keep


def blend(store: PointStore, s: Splats, c: Candidates, keep: torch.Tensor, n_pix: int):
    """(features [h*w, C], depth [h*w]): tent-weighted means per pixel of the kept
    candidates, summed in float64 in (pixel, voxel key) order."""
    point, pix, weight = c.point[keep], c.pix[keep], c.weight[keep]
    order = torch.sort(store.key[s.slots[point]], stable=True).indices
    order = order[torch.sort(pix[order], stable=True).indices]
    point, pix, weight = point[order], pix[order], weight[order].double()[:, None]
    data = torch.cat([weight, weight * s.z[point, None].double(),
                      weight * store.feat[s.slots[point]].double()], dim=1)  # [K, 2 + C]
    csum = torch.cumsum(data, dim=0)
    upix, counts = torch.unique_consecutive(pix, return_counts=True)
    ends = torch.cumsum(counts, dim=0) - 1
    sums = csum[ends]
    sums[1:] -= csum[ends[:-1]]
    mean = (sums[:, 1:] / sums[:, :1]).float()  # [P, 1 + C]
    features = torch.zeros(n_pix, store.channels, device=mean.device)
    depth = torch.zeros(n_pix, device=mean.device)
    features[upix] = mean[:, 1:]
    depth[upix] = mean[:, 0]
    return features, depth


def zbuffer(store: PointStore, cfg: MemoryConfig, camera: FrameCamera, cull: bool = True):
    """(features [h*w, C], depth [h*w] metres, hit [h*w] bool) of the points seen from
    ``camera``; ``cull`` reads only the blocks in the frustum (same result, less work)."""
    n_pix = camera.h * camera.w
    slots = store.visible_slots(cull_planes(camera, cfg)) if cull else store.occupied()
    splats = project(store, cfg, camera, slots)
    cand = candidates(splats, camera.h, camera.w, cfg.max_splat)
    ok = eligible(store, cfg, splats, cand, n_pix)
    hit, keep = front(splats, cand, ok, n_pix, cfg.depth_tolerance)
    features, depth = blend(store, splats, cand, keep, n_pix)
    return features, depth, hit

