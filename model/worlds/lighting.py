"""Surface attributes and view-independent (Lambertian) shading of ray hits.

Per hit: position, normal, texture coordinates (object frame for solids, world frame for
rooms, ground and mountains), material; then ``albedo * (E * (1 - emissive) + emissive)``
where the irradiance ``E`` sums a hemispherical ambient term (``ambient_up`` for normals
pointing up, ``ambient_down`` down) and the cell's directional and point lights, each with
``max(0, n . l)``. Point lights fall off as ``1 / (1 + (d / range)^2)``. Shadow rays go from
the hit to the light against the cell's shadow-casting solids. Nothing depends on the viewing
direction except the texture anti-aliasing footprint (see materials.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from latentstage.model.worlds.geometry import FAR, GROUND, HORIZON, SHELL, SOLID, Hits
from latentstage.model.worlds.materials import evaluate
from latentstage.model.worlds.scene import SolidKind
from latentstage.model.worlds.solids import any_hit, rotate_columns
from latentstage.model.worlds.tensors import SceneTensors


def _solid_surface(st: SceneTensors, s: torch.Tensor, p: torch.Tensor):
    """Normal (world) [n, 3], local position [n, 3] and local normal [n, 3] on solids ``s``."""
    rot = st.rot_soa.index_select(1, s).view(3, 3, -1)  # [i, j, n]: local-to-world R[i, j]
    v = (p - st.center.index_select(0, s)).T  # [3, n]
    pl = rotate_columns(rot.transpose(0, 1), v).T  # R^T (p - c): [n, 3]
    size, kind = st.size.index_select(0, s), st.kind.index_select(0, s)
    ax = (pl.abs() / size).argmax(1)
    n_box = F.one_hot(ax, 3).to(pl.dtype) * torch.sign(pl.gather(1, ax[:, None]))
    n_sph = pl / size[:, 0:1]
    radial = pl[:, :2].norm(dim=1).clamp(min=1e-9)
    side = (radial - size[:, 0]) > (pl[:, 2].abs() - size[:, 2])
    n_side = torch.cat([pl[:, :2] / radial[:, None], torch.zeros_like(radial)[:, None]], 1)
    n_cap = torch.zeros_like(pl)
    n_cap[:, 2] = torch.sign(pl[:, 2])
    n_cyl = torch.where(side[:, None], n_side, n_cap)
    nl = torch.where((kind == SolidKind.BOX)[:, None], n_box,
                     torch.where((kind == SolidKind.SPHERE)[:, None], n_sph, n_cyl))
    return rotate_columns(rot, nl.T).T, pl, nl


def surface(st: SceneTensors, hits: Hits, idx: torch.Tensor, p: torch.Tensor):
    """Attributes of hits ``idx`` [n] at points ``p`` [n, 3].

    Returns normal [n, 3] (world), texture position q [n, 3], normal in q's frame [n, 3]
    and material [n].
    """
    kind, sid = hits.kind.index_select(0, idx), hits.sid.index_select(0, idx)
    cell = hits.cell.index_select(0, idx)
    n = torch.zeros_like(p)
    q = p.clone()
    qn = torch.zeros_like(p)
    # Material slot per hit in the [C, 8] cell table (shell faces 0-5, ground 6, horizon 7).
    slot = torch.where(kind == SHELL, sid, torch.where(kind == GROUND, 6, 7))
    mat = st.cell_material.view(-1).index_select(0, cell * 8 + slot.clamp(0, 7))
    sel = (kind == SOLID).nonzero().squeeze(1)
    if sel.numel():
        s = sid.index_select(0, sel)
        ns, qs, qns = _solid_surface(st, s, p.index_select(0, sel))
        n.index_copy_(0, sel, ns)
        q.index_copy_(0, sel, qs)
        qn.index_copy_(0, sel, qns)
        mat.index_copy_(0, sel, st.material.index_select(0, s))
    f = torch.where(kind == SHELL, sid, 0)
    wall = F.one_hot(f // 2, 3).to(p.dtype) * (1 - 2 * (f % 2)).to(p.dtype)[:, None]
    up = torch.zeros_like(p)
    up[:, 2] = 1.0
    xy = p.clone()
    xy[:, 2] = 0.0
    ring = -xy / xy.norm(dim=1, keepdim=True).clamp(min=1e-9)
    k = kind[:, None]
    n = torch.where(k == SHELL, wall, torch.where(k == GROUND, up, torch.where(
        k == HORIZON, ring, n)))
    qn = torch.where(k == SOLID, qn, n)
    return n, q, qn, mat


def irradiance(st: SceneTensors, cell: torch.Tensor, p: torch.Tensor, n: torch.Tensor,
               t: torch.Tensor) -> torch.Tensor:
    """Irradiance RGB [n, 3] at points ``p`` [n, 3] with normals ``n`` [n, 3] in ``cell`` [n];
    ``t`` [n] (hit distance parameter) scales the shadow-ray offset."""
    out = torch.zeros_like(p)
    counts = torch.bincount(cell, minlength=len(st.cells)).tolist()
    for c, count in enumerate(counts):
        if count == 0:
            continue
        i = None if count == len(cell) else (cell == c).nonzero().squeeze(1)
        ct = st.cells[c]
        pi = p if i is None else p.index_select(0, i)
        ni = n if i is None else n.index_select(0, i)
        ti = t if i is None else t.index_select(0, i)
        up = (0.5 + 0.5 * ni[:, 2])[:, None]
        e = ct.ambient_up * up + ct.ambient_down * (1 - up)
        for li, light in enumerate(ct.lights):
            vec = ct.light_vec[li]
            point = light.kind == "point"
            if point:
                to_light = vec - pi
                d2 = (to_light * to_light).sum(1)
                w = ((ni * to_light).sum(1) * d2.rsqrt()).clamp(min=0) / (1 + d2 / light.range**2)
            else:
                w = (ni @ vec).clamp(min=0)
            if light.shadow and ct.casters is not None:
                lit = (w > 0).nonzero().squeeze(1)
                if lit.numel():
                    pl, nl = pi.index_select(0, lit), ni.index_select(0, lit)
                    start = pl + nl * (1e-3 + 2e-5 * ti.index_select(0, lit))[:, None]
                    grid = ct.shadow_grids.get(li)
                    if point:  # from the light to the (offset) points: one shared origin
                        occ = any_hit(ct.casters, vec[None], start - vec, 1.0, grid)
                    else:
                        occ = any_hit(ct.casters, start, vec.expand_as(start), FAR, grid)
                    w = w.index_fill(0, lit.index_select(0, occ.nonzero().squeeze(1)), 0.0)
            e = e + ct.light_col[li] * w[:, None]
        if i is None:
            return e
        out.index_copy_(0, i, e)
    return out


def shade(st: SceneTensors, hits: Hits, idx: torch.Tensor, o: torch.Tensor, d: torch.Tensor,
          focal: float) -> torch.Tensor:
    """RGB [n, 3] of hit rays ``idx`` [n] of rays ``o`` [N or 1, 3], ``d`` [N, 3] (``focal``:
    focal length in pixels)."""
    t = hits.t.index_select(0, idx)
    di = d.index_select(0, idx)
    p = (o if o.shape[0] == 1 else o.index_select(0, idx)) + t[:, None] * di
    n, q, qn, mat = surface(st, hits, idx, p)
    cos = ((n * di).sum(1) / di.norm(dim=1)).abs().clamp(min=0.15)
    footprint = t / focal / cos
    albedo, em = evaluate(st.materials, mat, q, qn, footprint)
    e = irradiance(st, hits.cell[idx], p, n, t)
    return tone(albedo * (e * (1 - em)[:, None] + em[:, None]))


def tone(x: torch.Tensor) -> torch.Tensor:
    """Linear below 0.8, then a smooth shoulder towards 1 (never above): [..] -> [0, 1)."""
    over = (x - 0.8).clamp(min=0)
    return x.clamp(min=0) - over + 0.2 * (1 - torch.exp(-over / 0.2))
