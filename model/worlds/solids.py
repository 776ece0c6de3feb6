"""Ray intersection with solids (oriented boxes, spheres, capped cylinders) by candidate pairs.

Fast path, two stages:

1. *Candidates*, conservative (solid, ray) pairs, from one of:
   - camera tiles (:class:`TileView`): each solid's pixel rectangle in each camera (the
     tighter of its projected bounding sphere and projected box corners) gives its rays;
   - any rays: a dense test of every ray against every solid's bounding sphere (one matrix
     product and a few element-wise operations on [N, P]), compacted;
   - shadow rays: the per-light tables of :mod:`grids`.
2. *Exact*: the analytic intersection of each candidate pair only, then the nearest hit per
   ray by a ``scatter_reduce(amin)`` over int32 keys packing ``t`` with the solid's row
   (``amin`` does not depend on the order of the scatter, so the result is deterministic).

Reference: :func:`nearest_solid_reference` runs the same exact kernels on *all* pairs. All
candidate sources are conservative, so they give exactly the reference's hits (tests check
each of them).

Shapes: a ray set is ``o`` [N, 3] or [1, 3] (one shared origin, e.g. a camera or a point
light) and ``d`` [N, 3] (any length; ``t`` is in units of ``d``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentstage.model.worlds.geometry import FAR, finish
from latentstage.model.worlds.scene import Scene, SolidKind

_KEY_MAX = 0x7FFFFFFF


@dataclass
class SolidSet:
    """Solids of one cell on the device, sorted by kind (row p is solid ``index[p]``)."""

    index: torch.Tensor  # [P] int64 global solid index
    kind: torch.Tensor  # [P] int64 SolidKind
    center: torch.Tensor  # [P, 3] float32 world metres
    rt: torch.Tensor  # [P, 3, 3] float32 world-to-local rotation (rows: local axes)
    size: torch.Tensor  # [P, 3] float32 metres (see SolidKind)
    radius: torch.Tensor  # [P] float32 bounding-sphere radius (slightly inflated), metres
    center_np: np.ndarray  # [P, 3] float64, for culling on the host
    radius_np: np.ndarray  # [P] float64
    rot_np: np.ndarray  # [P, 3, 3] float64 local-to-world rotations
    size_np: np.ndarray  # [P, 3] float64 box half extents (cubes around spheres)

    def __post_init__(self) -> None:
        # Column layouts for the pair kernels: [3, P], [9, P] (rt row-major), [3, P].
        self.center_soa = self.center.T.contiguous()
        self.rt_soa = self.rt.reshape(-1, 9).T.contiguous()
        self.size_soa = self.size.T.contiguous()

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @classmethod
    def from_scene(cls, scene: Scene, cell: int, device: torch.device,
                   casters_only: bool = False) -> SolidSet | None:
        """The solids of ``cell`` (only shadow casters if ``casters_only``), or None."""
        s = scene.solids
        sel = s.cell == cell
        if casters_only:
            sel &= s.shadow
        idx = np.flatnonzero(sel)
        if idx.size == 0:
            return None
        idx = idx[np.argsort(s.kind[idx], kind="stable")]
        radius = np.linalg.norm(s.size[idx], axis=1) * 1.001 + 1e-4

        def f32(x):
            return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)

        return cls(
            index=torch.as_tensor(idx, device=device),
            kind=torch.as_tensor(s.kind[idx], device=device),
            center=f32(s.center[idx]),
            rt=f32(np.transpose(s.rot[idx], (0, 2, 1))),
            size=f32(s.size[idx]),
            radius=f32(radius),
            center_np=s.center[idx],
            radius_np=radius,
            rot_np=s.rot[idx],
            size_np=s.size[idx],
        )

    def subset(self, keep: np.ndarray) -> SolidSet | None:
        """The solids where ``keep`` [P] is true (same order), or None if none are."""
        if keep.all():
            return self
        if not keep.any():
            return None
        k = torch.as_tensor(np.flatnonzero(keep), device=self.index.device)
        return SolidSet(self.index[k], self.kind[k], self.center[k], self.rt[k], self.size[k],
                        self.radius[k], self.center_np[keep], self.radius_np[keep],
                        self.rot_np[keep], self.size_np[keep])


def candidates(s: SolidSet, o: torch.Tensor, d: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(solid row [T], ray [T]) pairs whose ray passes within the solid's bounding sphere."""
    u = d / d.norm(dim=1, keepdim=True)
    ref = o[:1]
    c = s.center - ref  # [P, 3], relative to the first origin (keeps float32 precise)
    r = s.radius[None]
    # Layout [N, P]: (N x 3) @ (3 x P) is several times faster than the transpose on CPU.
    co = u @ c.T  # distance along each ray to the foot of each centre
    cc = (c * c).sum(1)[None]  # [1, P] squared distance origin-centre
    if o.shape[0] > 1:
        oo = o - ref
        co = co - (oo * u).sum(1, keepdim=True)
        cc = cc - 2.0 * (oo @ c.T) + (oo * oo).sum(1, keepdim=True)
    keep = torch.minimum(co * co - cc + r * r, co + r) >= 0
    ray, p = keep.nonzero(as_tuple=True)
    return p, ray


@dataclass
class TileView:
    """The rays of a tile: rows ``r0`` to ``r1`` (all columns) of B pinhole cameras with the
    same intrinsics, camera after camera, row-major."""

    position: np.ndarray  # [B, 3] camera centres, metres
    rotation: np.ndarray  # [B, 3, 3] camera-to-world rotations (OpenCV axes)
    focal: tuple[float, float]  # fx, fy in pixels
    centre: tuple[float, float]  # cx, cy in pixels
    rows: tuple[int, int]  # r0, r1 (exclusive)
    width: int  # image width, pixels


def _span(a: np.ndarray, z: np.ndarray, r: np.ndarray, f: float, c: float, lo: int, hi: int):
    """Pixel range [first, last] covered by spheres (camera coordinate ``a`` along the axis,
    depth ``z``, radius ``r``) on one image axis, clipped to [lo, hi]; conservative."""
    rho = np.maximum(np.hypot(a, z), 1e-9)
    theta, half = np.arctan2(a, z), np.arcsin(np.clip(r / rho, 0.0, 1.0))
    u0 = c + f * np.tan(np.clip(theta - half, -1.55, 1.55))
    u1 = c + f * np.tan(np.clip(theta + half, -1.55, 1.55))
    near = z - r <= 1e-3  # touches the camera plane: anywhere
    first = np.where(near, lo, np.floor(u0) - 1).clip(lo, hi + 1)
    last = np.where(near, hi, np.ceil(u1) + 1).clip(lo - 1, hi)
    return first.astype(np.int64), last.astype(np.int64)


def _corner_spans(s: SolidSet, view: TileView) -> tuple[np.ndarray, ...]:
    """Pixel rectangles (j0, j1, i0, i1) [B * P] of each solid in each camera: the tighter of
    the projected bounding sphere and the projected corners of its box (boxes and cylinders;
    only when all corners lie in front of the camera)."""
    rel = s.center_np[None] - view.position[:, None]  # [B, P, 3]
    cc = np.einsum("bpi,bij->bpj", rel, view.rotation).reshape(-1, 3)  # camera frames
    r = np.tile(s.radius_np, len(view.position))
    (fx, fy), (cx, cy), (r0, r1) = view.focal, view.centre, view.rows
    j0, j1 = _span(cc[:, 0], cc[:, 2], r, fx, cx, 0, view.width - 1)
    i0, i1 = _span(cc[:, 1], cc[:, 2], r, fy, cy, r0, r1 - 1)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    local = signs[None] * s.size_np[:, None] * 1.001  # [P, 8, 3]
    corners = s.center_np[:, None] + np.einsum("pij,pkj->pki", s.rot_np, local)  # world
    cam = np.einsum("bpki,bij->bpkj", corners[None] - view.position[:, None, None],
                    view.rotation).reshape(-1, 8, 3)
    ok = (cam[..., 2] > 1e-3).all(1)
    z = np.where(ok[:, None], cam[..., 2], 1.0)
    u, v = cx + fx * cam[..., 0] / z, cy + fy * cam[..., 1] / z
    j0 = np.where(ok, np.maximum(j0, np.floor(u.min(1)) - 1), j0)
    j1 = np.where(ok, np.minimum(j1, np.ceil(u.max(1)) + 1), j1)
    i0 = np.where(ok, np.maximum(i0, np.floor(v.min(1)) - 1), i0)
    i1 = np.where(ok, np.minimum(i1, np.ceil(v.max(1)) + 1), i1)
    front = cc[:, 2] + r > 0
    return j0.astype(np.int64), j1.astype(np.int64), i0.astype(np.int64), i1.astype(
        np.int64), front


def screen_candidates(s: SolidSet, o: torch.Tensor, d: torch.Tensor, view: TileView
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate (solid row [T], ray [T]) pairs for a tile of camera rows: every ray inside
    the solid's pixel rectangle in its camera (see :func:`_corner_spans`)."""
    j0, j1, i0, i1, front = _corner_spans(s, view)
    r0, r1 = view.rows
    wide = np.maximum(j1 - j0 + 1, 0)
    counts = wide * np.maximum(i1 - i0 + 1, 0) * front
    dev = d.device
    total = int(counts.sum())
    if total == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=dev)
        return empty, empty
    seg = torch.repeat_interleave(torch.arange(len(counts), device=dev),
                                  torch.as_tensor(counts, device=dev), output_size=total)
    table = torch.as_tensor(np.stack([np.cumsum(counts) - counts, wide, i0 - r0, j0], 1),
                            device=dev).index_select(0, seg)  # [T, 4]
    local = torch.arange(total, device=dev) - table[:, 0]
    row = table[:, 2] + local // table[:, 1]
    col = table[:, 3] + local % table[:, 1]
    cam, p = seg // len(s), seg % len(s)
    return p, (cam * (r1 - r0) + row) * view.width + col


# Pair kernels work on "structure of arrays" tensors [3, T] (one row per coordinate): the
# element-wise products then run over contiguous rows, several times faster on CPU than
# batched 3x3 products over [T, 3, 3].


def _local(s: SolidSet, p: torch.Tensor, o: torch.Tensor, d: torch.Tensor):
    """Pair rays ``o``, ``d`` [3, T] in their solid's frame: origins and directions [3, T]."""
    rt = s.rt_soa.index_select(1, p).view(3, 3, -1)  # [i, j, T]: row i of world-to-local
    oc = o - s.center_soa.index_select(1, p)
    return rotate_columns(rt, oc), rotate_columns(rt, d)


def rotate_columns(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per-column matrix-vector products: ``m`` [3, 3, T] times ``v`` [3, T] -> [3, T]."""
    return torch.addcmul(torch.addcmul(m[:, 0] * v[0], m[:, 1], v[1]), m[:, 2], v[2])


def _box(s: SolidSet, p: torch.Tensor, o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Slab test from outside -> t [T]."""
    ol, dl = _local(s, p, o, d)
    h = s.size_soa.index_select(1, p)
    inv = 1.0 / dl
    t1 = (-h - ol) * inv
    t2 = (h - ol) * inv
    tn = torch.minimum(t1, t2).amax(0)
    tf = torch.maximum(t1, t2).amin(0)
    return finish(tn, (tn - tf).relu())


def _sphere(s: SolidSet, p: torch.Tensor, o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Nearest root of |o + t d - c| = r -> t [T]."""
    oc = o - s.center_soa.index_select(1, p)
    a = (d * d).sum(0)
    b = (oc * d).sum(0)
    c = (oc * oc).sum(0) - s.size_soa[0].index_select(0, p) ** 2
    return finish((-b - (b * b - a * c).sqrt()) / a)


def _cylinder(s: SolidSet, p: torch.Tensor, o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Side and near cap of a capped cylinder along its local z -> t [T]."""
    ol, dl = _local(s, p, o, d)
    ox, oy, oz = ol
    dx, dy, dz = dl
    r, hh = s.size_soa[0].index_select(0, p), s.size_soa[2].index_select(0, p)
    a = dx * dx + dy * dy
    b = ox * dx + oy * dy
    c = ox * ox + oy * oy - r * r
    ts = (-b - (b * b - a * c).sqrt()) / a
    ts = finish(ts, ((oz + ts * dz).abs() - hh).relu())
    tc = (hh * torch.sign(oz) - oz) / dz
    xc = ox + tc * dx
    yc = oy + tc * dy
    tc = finish(tc, (xc * xc + yc * yc - r * r).relu())
    return torch.minimum(ts, tc)


_KERNELS = {SolidKind.BOX: _box, SolidKind.SPHERE: _sphere, SolidKind.CYLINDER: _cylinder}


def pair_t(s: SolidSet, p: torch.Tensor, ray: torch.Tensor, o: torch.Tensor,
           d: torch.Tensor) -> torch.Tensor:
    """Exact ``t`` [T] of pairs (solid row ``p`` [T], ``ray`` [T]), in any order."""
    t = torch.empty(p.shape[0], dtype=d.dtype, device=d.device)
    if p.numel() == 0:
        return t
    kinds = s.kind.index_select(0, p)
    counts = torch.bincount(kinds, minlength=len(_KERNELS)).tolist()
    d_soa = d.T.contiguous()
    o_soa = o.T.contiguous()
    for kind, fn in _KERNELS.items():
        if counts[kind] == 0:
            continue
        sel = None if counts[kind] == p.numel() else (kinds == kind).nonzero().squeeze(1)
        pk = p if sel is None else p.index_select(0, sel)
        rk = ray if sel is None else ray.index_select(0, sel)
        ok = o_soa.index_select(1, rk) if o.shape[0] > 1 else o_soa
        tk = fn(s, pk, ok, d_soa.index_select(1, rk))
        if sel is None:
            return tk
        t.index_copy_(0, sel, tk)
    return t


def _reduce(s: SolidSet, p: torch.Tensor, ray: torch.Tensor, t: torch.Tensor, n: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest pair per ray -> (t [n], global solid index [n]; inf and -1 where none)."""
    bits = max(1, (len(s) - 1).bit_length())
    mask = (1 << bits) - 1
    key = (t.view(torch.int32) & ~mask) | p.to(torch.int32)
    best = torch.full((n,), _KEY_MAX, dtype=torch.int32, device=t.device)
    best.scatter_reduce_(0, ray, key, "amin")
    win = (key == best.index_select(0, ray)).nonzero().squeeze(1)
    t_out = torch.full((n,), float("inf"), dtype=t.dtype, device=t.device)
    sid = torch.full((n,), -1, dtype=torch.int64, device=t.device)
    hit = win[t.index_select(0, win) < FAR]
    rays = ray.index_select(0, hit)
    t_out.index_copy_(0, rays, t.index_select(0, hit))
    sid.index_copy_(0, rays, s.index.index_select(0, p.index_select(0, hit)))
    return t_out, sid


def nearest_solid(s: SolidSet, o: torch.Tensor, d: torch.Tensor, view: TileView | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest solid hit of each ray: (t [N], global solid index [N]; inf and -1 if none).

    With ``view`` (the rays are a tile of camera rows), candidates come from screen
    rectangles.
    """
    p, ray = candidates(s, o, d) if view is None else screen_candidates(s, o, d, view)
    return _reduce(s, p, ray, pair_t(s, p, ray, o, d), d.shape[0])


def nearest_solid_reference(s: SolidSet, o: torch.Tensor, d: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nearest_solid` without the bounding-sphere culling (all pairs)."""
    n = d.shape[0]
    p = torch.arange(len(s), device=d.device).repeat_interleave(n)
    ray = torch.arange(n, device=d.device).repeat(len(s))
    return _reduce(s, p, ray, pair_t(s, p, ray, o, d), n)


def any_hit(s: SolidSet, o: torch.Tensor, d: torch.Tensor, tmax: float,
            grid=None) -> torch.Tensor:
    """Whether each ray hits a solid with ``t < tmax``: [N] bool.

    ``grid`` (a ``grids.SunGrid`` or ``grids.LightGrid`` built for these rays' direction or
    origin) supplies the candidate pairs instead of the dense bounding-sphere test.
    """
    p, ray = candidates(s, o, d) if grid is None else grid.candidates(o, d)
    hit = (pair_t(s, p, ray, o, d) < tmax).nonzero().squeeze(1)
    out = torch.zeros(d.shape[0], dtype=torch.bool, device=d.device)
    return out.index_fill_(0, ray.index_select(0, hit), True)
