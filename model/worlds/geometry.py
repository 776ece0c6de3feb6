"""Ray intersection with the per-cell surfaces (room shell, ground, mountain ring), the
nearest-hit reduction and frustum culling. Solids are in :mod:`solids`.

Rays are ``origin + t * dir`` with ``dir`` not necessarily unit length: for camera rays dir
has camera-z component 1, so ``t`` is directly the depth along the optical axis (metres).
Kernels return ``t`` per ray; a miss is ``t >= FAR`` (``inf`` or a huge number). Misses are
marked with arithmetic penalties rather than boolean masks, which are several times slower
on CPU.

The nearest hit among R candidates is found with one ``amin`` over int32 keys that pack the
float32 ``t`` (positive floats order like their bit patterns) with the candidate's row in
the low bits; the exact ``t`` is then gathered back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from latentstage.model.worlds.scene import Horizon

FAR = 1e20  # t at or beyond this is a miss
_BIG = 1e30  # penalty per metre of miss
EPS = 1e-5  # smallest accepted t
NONE, SOLID, SHELL, GROUND, HORIZON = range(5)  # what a ray hit (Hits.kind)


@dataclass
class Hits:
    """Where each ray ended (one row per ray)."""

    t: torch.Tensor  # [N] float32 ray parameter (depth for camera rays); inf where none
    kind: torch.Tensor  # [N] int64 NONE, SOLID, SHELL, GROUND or HORIZON
    sid: torch.Tensor  # [N] int64 solid index (SOLID) or shell face (SHELL)
    cell: torch.Tensor  # [N] int64 cell where the ray ended


def finish(t: torch.Tensor, miss: torch.Tensor | float = 0.0) -> torch.Tensor:
    """``t`` where ``miss`` is 0 and ``t >= EPS``; ``>= FAR`` elsewhere (NaN becomes inf)."""
    t = t + _BIG * (miss + (EPS - t).relu())
    return torch.nan_to_num(t, nan=math.inf)


def hit_shell(
    lo: torch.Tensor, hi: torch.Tensor, o: torch.Tensor, d: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exit of rays ``o``, ``d`` [N, 3] from the box (lo, hi) [3]: t [N] and face [N] (FACES)."""
    t_lo = (lo - o) / d
    t_hi = (hi - o) / d
    tf, axis = torch.maximum(t_lo, t_hi).min(1)
    tn = torch.minimum(t_lo, t_hi).amax(1)
    positive = (d.gather(1, axis[:, None]).squeeze(1) > 0).to(torch.int64)
    return finish(tf, (tn - tf).relu()), 2 * axis + positive


def hit_ground(z: float, radius: float, o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Plane z = ``z`` inside a disc of ``radius`` about the origin: t [N]."""
    t = (z - o[:, 2]) / d[:, 2]
    x = o[:, 0] + t * d[:, 0]
    y = o[:, 1] + t * d[:, 1]
    return finish(t, (x * x + y * y - radius * radius).relu())


def horizon_height(h: Horizon, phi: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Ridge height (metres) at azimuths ``phi`` [N] (radians); ``k`` holds the harmonics."""
    amp, phase, freq = k[0:1].T, k[1:2].T, k[2:3].T  # [K, 1] each
    return h.base + (amp * torch.sin(freq * phi[None] + phase)).sum(0)


def hit_horizon(h: Horizon, k: torch.Tensor, o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Inside of the mountain ring, below its ridge: t [N]. ``k`` [3, K] harmonics table.

    The ridge (a sum of sines) is evaluated only for rays that reach the ring between its
    lowest and highest possible ridge heights.
    """
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
    c = o[:, 0] ** 2 + o[:, 1] ** 2 - h.radius**2
    t = (-b + (b * b - a * c).sqrt()) / a
    z = o[:, 2] + t * d[:, 2]
    spread = float(k[0].abs().sum())
    over = (z - (h.base + spread)).relu()  # above the highest ridge: a miss
    unsure = ((z > h.base - spread) & (z < h.base + spread)).nonzero().squeeze(1)
    if unsure.numel():
        tu, du = t.index_select(0, unsure), d.index_select(0, unsure)
        ou = o.index_select(0, unsure) if o.shape[0] > 1 else o
        x = ou[:, 0] + tu * du[:, 0]
        y = ou[:, 1] + tu * du[:, 1]
        ridge = horizon_height(h, torch.atan2(y, x), k)
        over = over.index_copy(0, unsure, (z.index_select(0, unsure) - ridge).relu())
    return finish(t, over)


def nearest(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest candidate per ray: ``t`` [R, N] -> (t [N], row [N] int64)."""
    rows = t.shape[0]
    bits = max(1, (rows - 1).bit_length())
    mask = (1 << bits) - 1
    ids = torch.arange(rows, dtype=torch.int32, device=t.device)[:, None]
    key = (t.contiguous().view(torch.int32) & ~mask) | ids
    row = (key.amin(0) & mask).to(torch.int64)
    return t.gather(0, row[None]).squeeze(0), row


def frustum_keep(
    centers: np.ndarray,  # [P, 3] metres
    radii: np.ndarray,  # [P] metres
    planes: np.ndarray,  # [B, 5, 4] inward plane (normal, offset) of each camera's frustum
) -> np.ndarray:
    """Which spheres touch at least one frustum: [P] bool."""
    dist = np.einsum("bkj,pj->bpk", planes[..., :3], centers) + planes[:, None, :, 3]
    return (dist > -radii[None, :, None]).all(-1).any(0)


def frustum_planes(k: np.ndarray, size: tuple[int, int], c2w: np.ndarray) -> np.ndarray:
    """Inward side and near planes of each camera, [B, 5, 4]; ``k`` is the 3x3 calibration."""
    w, h = size
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [w - 0.5, h - 0.5, 1],
                        [-0.5, h - 0.5, 1]])
    rays = corners @ np.linalg.inv(k).T  # [4, 3] camera frame
    normals = [np.cross(rays[i], rays[(i + 1) % 4]) for i in range(4)] + [np.array([0, 0, 1.0])]
    n_cam = np.stack(normals)
    n_cam = n_cam / np.linalg.norm(n_cam, axis=1, keepdims=True)
    inside = rays.mean(axis=0)  # the image centre's ray is inside the frustum
    n_cam[:4] *= np.sign(n_cam[:4] @ inside)[:, None]  # point inwards
    n_world = np.einsum("bij,kj->bki", c2w[:, :3, :3], n_cam)
    offset = -np.einsum("bki,bi->bk", n_world, c2w[:, :3, 3])
    return np.concatenate([n_world, offset[..., None]], axis=-1)
