"""A batched torch ray caster for procedural scenes: RGB, depth along the optical axis, sky.

Conventions (DESIGN.md): world right-handed, Z up, metres; poses are camera-to-world with
OpenCV camera axes (x right, y down, z forward); the centre of pixel (col j, row i) is at
(j, i). Camera rays are those of :func:`latentstage.runtime.rays.pixel_rays`: their
directions have camera-z component 1, so the ray parameter of a hit *is* its depth.

Per ray: intersect the solids of the camera's cell (frustum-culled), its shell, ground and
horizon; rays through a portal (doorway, window) continue into the next cell. Hits are
shaded Lambertian (ambient from above and below plus directional and point lights, with
shadows for the lights that ask for them), so a surface point has the same colour from any
viewpoint. Rays that leave a cell with a sky see :func:`sky.sky_color` and get depth +inf.

Work is split into tiles of at most ``max_rays`` rays (whole cameras when they fit, else
bands of rows), so memory stays bounded for long batches and large images.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from latentstage.model.worlds.geometry import (
    FAR,
    GROUND,
    HORIZON,
    NONE,
    SHELL,
    SOLID,
    Hits,
    frustum_keep,
    frustum_planes,
    hit_ground,
    hit_horizon,
    hit_shell,
    nearest,
)
from latentstage.model.worlds.lighting import shade
from latentstage.model.worlds.scene import Scene
from latentstage.model.worlds.sky import sky_color
from latentstage.model.worlds.solids import SolidSet, TileView, nearest_solid
from latentstage.model.worlds.tensors import CellTensors, SceneTensors
from latentstage.runtime.camera import Intrinsics, validate_pose
from latentstage.runtime.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_HOPS = 4  # portals a ray may pass
CPU_TILE_RAYS = 1 << 17  # rays per tile on the CPU
GPU_TILE_RAYS = 1 << 20  # rays per tile on an accelerator


@dataclass
class RenderOutput:
    """Rendered frames with ground truth, always batched (B = 1 for a single pose)."""

    rgb: torch.Tensor  # [B, 3, H, W] float32 in [0, 1]
    depth: torch.Tensor  # [B, H, W] float32 metres along the optical axis; +inf at sky
    sky: torch.Tensor  # [B, H, W] bool: the pixel sees the sky at infinity


def _poses(c2w) -> np.ndarray:
    """``c2w`` as validated float64 poses [B, 4, 4]."""
    if isinstance(c2w, torch.Tensor):
        c2w = c2w.detach().cpu().numpy()
    arr = np.asarray(c2w, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (4, 4) or arr.shape[0] == 0:
        raise InvalidInput("c2w", c2w, "a camera-to-world pose [4, 4] or a batch [B, 4, 4]")
    return np.stack([validate_pose(m, f"c2w[{i}]") for i, m in enumerate(arr)])


def _tiles(b: int, h: int, w: int, budget: int):
    """(b0, b1, r0, r1): cameras b0..b1 and rows r0..r1 of each tile.

    Whole cameras are grouped up to ``budget`` rays; larger images are cut in bands of rows.
    """
    if h * w <= budget:
        step = max(1, budget // (h * w))
        for b0 in range(0, b, step):
            yield b0, min(b, b0 + step), 0, h
    else:
        rows = max(1, budget // w)
        for i in range(b):
            for r0 in range(0, h, rows):
                yield i, i + 1, r0, min(h, r0 + rows)


def trace_cell(
    ct: CellTensors, solids: SolidSet | None, o: torch.Tensor, d: torch.Tensor,
    view: TileView | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Nearest hit of rays ``o`` [N or 1, 3], ``d`` [N, 3] inside one cell.

    ``view``: the rays are exactly one camera's tile (enables screen-space candidates).
    Returns t [N], kind [N], sid [N] and, if the cell has portals, the cell each ray passes
    into [N] (-1: none; such rays have kind NONE).
    """
    n = d.shape[0]
    dev = d.device
    cands, kinds = [], []
    solid_sid = None
    if solids is not None:
        ts, solid_sid = nearest_solid(solids, o, d, view)
        cands.append(ts[None])
        kinds.append(SOLID)
    target = face = None
    if ct.shell is not None:
        ts, face = hit_shell(ct.shell[0], ct.shell[1], o, d)
        if ct.portals:
            p = o + ts[:, None] * d
            target = torch.full((n,), -1, dtype=torch.int64, device=dev)
            for f, iu, iv, u0, u1, v0, v1, tgt in ct.portals:
                u, v = p[:, iu], p[:, iv]
                inside = (face == f) & (u > u0) & (u < u1) & (v > v0) & (v < v1)
                target = target.masked_fill(inside, tgt)
            ts = ts.masked_fill(target >= 0, math.inf)
        cands.append(ts[None])
    extras = [(SHELL, ct.shell is not None)]
    if ct.ground is not None:
        cands.append(hit_ground(ct.ground.z, ct.ground.radius, o, d)[None])
    extras.append((GROUND, ct.ground is not None))
    if ct.horizon is not None:
        cands.append(hit_horizon(ct.horizon, ct.horizon_k, o, d)[None])
    extras.append((HORIZON, ct.horizon is not None))
    kinds += [kind for kind, present in extras if present]
    zero = torch.zeros(n, dtype=torch.int64, device=dev)
    if not cands:
        return torch.full((n,), math.inf, device=dev), zero + NONE, zero - 1, target
    t, row = nearest(torch.cat(cands, 0) if len(cands) > 1 else cands[0])
    kind = torch.tensor(kinds, device=dev).index_select(0, row).masked_fill(t >= FAR, NONE)
    sid = zero - 1
    if solid_sid is not None:
        sid = torch.where(kind == SOLID, solid_sid, sid)
    if face is not None:
        sid = torch.where(kind == SHELL, face, sid)
    return t, kind, sid, target


def trace(
    st: SceneTensors, solids: list[SolidSet | None], o: torch.Tensor, d: torch.Tensor,
    cell0: torch.Tensor, view: TileView | None = None,
) -> Hits:
    """Trace rays ``o`` [N or 1, 3], ``d`` [N, 3] from cells ``cell0`` [N] through portals.

    ``solids`` holds the (culled) solids of each cell; ``view`` describes the rays when they
    are one camera's tile.
    """
    n = d.shape[0]
    dev = d.device
    hits = Hits(torch.full((n,), math.inf, device=dev), torch.zeros(n, dtype=torch.int64,
                device=dev), torch.full((n,), -1, dtype=torch.int64, device=dev), cell0.clone())
    active = torch.arange(n, device=dev)
    cells = cell0
    for _ in range(MAX_HOPS):
        moved, moved_to = [], []
        counts = torch.bincount(cells, minlength=len(st.cells)).tolist()
        for c, count in enumerate(counts):
            if count == 0:
                continue
            whole = count == n
            sel = active if count == len(active) else active[(cells == c).nonzero().squeeze(1)]
            oc = o if o.shape[0] == 1 else o.index_select(0, sel)
            dc = d if whole else d.index_select(0, sel)
            t, kind, sid, target = trace_cell(st.cells[c], solids[c], oc, dc,
                                              view if whole else None)
            hits.t.index_copy_(0, sel, t)
            hits.kind.index_copy_(0, sel, kind)
            hits.sid.index_copy_(0, sel, sid)
            hits.cell.index_fill_(0, sel, c)
            if target is not None:
                go = ((kind == NONE) & (target >= 0)).nonzero().squeeze(1)
                moved.append(sel.index_select(0, go))
                moved_to.append(target.index_select(0, go))
        if sum(len(m) for m in moved) == 0:
            break
        active, cells = torch.cat(moved), torch.cat(moved_to)
    return hits


def _culled(st: SceneTensors, planes: np.ndarray) -> list[SolidSet | None]:
    """Each cell's solids that touch some camera's frustum ``planes`` [B, 5, 4]."""
    return [None if ct.solids is None else
            ct.solids.subset(frustum_keep(ct.solids.center_np, ct.solids.radius_np, planes))
            for ct in st.cells]


def camera_directions(intrinsics: Intrinsics, device: torch.device) -> torch.Tensor:
    """Pixel-centre ray directions in the camera frame with z = 1: [H, W, 3] float64."""
    rows = torch.arange(intrinsics.height, device=device, dtype=torch.float64)
    cols = torch.arange(intrinsics.width, device=device, dtype=torch.float64)
    h, w = intrinsics.height, intrinsics.width
    y = ((rows - intrinsics.cy) / intrinsics.fy)[:, None].expand(h, w)
    x = ((cols - intrinsics.cx) / intrinsics.fx)[None, :].expand(h, w)
    return torch.stack([x, y, torch.ones_like(x)], -1)


def world_directions(cam: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """Camera-frame directions ``cam`` [h, W, 3] rotated by poses ``c2w`` [B, 4, 4] (float64)
    into the world: [B, h, W, 3] (same rays as ``runtime.rays.pixel_rays``)."""
    return torch.einsum("hwj,bij->bhwi", cam, c2w[:, :3, :3])


def render(
    scene: Scene,
    intrinsics: Intrinsics,
    c2w,
    *,
    max_rays: int | None = None,
) -> RenderOutput:
    """Render ``scene`` from one pose [4, 4] or a batch [B, 4, 4] (camera-to-world, OpenCV).

    Args:
        scene: from :func:`make_scene`; the output lives on ``scene.device``.
        intrinsics: pinhole intrinsics (pixels) of every pose.
        c2w: camera-to-world poses, numpy or torch, float64 preferred.
        max_rays: rays per tile (default: 131072 on CPU, about a million on a GPU).
    """
    if not isinstance(intrinsics, Intrinsics):
        raise InvalidInput("intrinsics", intrinsics, "a latentstage Intrinsics")
    poses = _poses(c2w)
    b, h, w = poses.shape[0], intrinsics.height, intrinsics.width
    dev = scene.device
    st: SceneTensors = scene.tensors
    budget = max_rays or (CPU_TILE_RAYS if dev.type == "cpu" else GPU_TILE_RAYS)
    cam = camera_directions(intrinsics, dev)
    pose_t = torch.as_tensor(poses, device=dev)
    planes = frustum_planes(intrinsics.matrix(), (w, h), poses)
    starts = torch.as_tensor([scene.cell_of(p[:3, 3]) for p in poses], device=dev)
    focal = math.sqrt(intrinsics.fx * intrinsics.fy)
    out = RenderOutput(
        rgb=torch.empty((b, 3, h, w), device=dev),
        depth=torch.empty((b, h, w), device=dev),
        sky=torch.empty((b, h, w), dtype=torch.bool, device=dev),
    )
    with torch.no_grad():
        for b0, b1, r0, r1 in _tiles(b, h, w, budget):
            nb, nr = b1 - b0, r1 - r0
            d = world_directions(cam[r0:r1], pose_t[b0:b1]).reshape(-1, 3).float()
            o = pose_t[b0:b1, None, :3, 3].expand(nb, nr * w, 3).reshape(-1, 3).float()
            if nb == 1:
                o = o[:1]  # one shared origin: cheaper tests
            view = TileView(poses[b0:b1, :3, 3], poses[b0:b1, :3, :3],
                            (intrinsics.fx, intrinsics.fy), (intrinsics.cx, intrinsics.cy),
                            (r0, r1), w)
            cell0 = starts[b0:b1, None].expand(nb, nr * w).reshape(-1)
            hits = trace(st, _culled(st, planes[b0:b1]), o, d, cell0, view)
            rgb, depth, sky = _shade_all(scene, st, hits, o, d, focal)
            out.rgb[b0:b1, :, r0:r1] = rgb.view(nb, nr, w, 3).permute(0, 3, 1, 2)
            out.depth[b0:b1, r0:r1] = depth.view(nb, nr, w)
            out.sky[b0:b1, r0:r1] = sky.view(nb, nr, w)
    return out


def _shade_all(
    scene: Scene, st: SceneTensors, hits: Hits, o: torch.Tensor, d: torch.Tensor, focal: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RGB [N, 3], depth [N] and sky [N] of traced rays."""
    hit = hits.kind != NONE
    rgb = torch.zeros_like(d)
    idx = hit.nonzero().squeeze(1)
    if idx.numel():
        rgb.index_copy_(0, idx, shade(st, hits, idx, o, d, focal))
    sky = ~hit
    if scene.sky is not None and bool(sky.any()):
        s = sky.nonzero().squeeze(1)
        rgb.index_copy_(0, s, sky_color(scene.sky, d.index_select(0, s), 1.0 / focal))
    depth = hits.t.masked_fill(sky, math.inf)
    return rgb, depth, sky
