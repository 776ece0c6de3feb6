"""Candidate tables for shadow rays, built once per scene and light.

Shadow rays towards one light share either a direction (the sun) or an origin (a point
light, traced from the light towards the points). Solids are binned once by where such
rays can meet them: on a grid across the sun's direction (:class:`SunGrid`), or on the
faces of a cube around the point light (:class:`LightGrid`). A ray then only meets the
solids listed in its cell. Bins are conservative (bounding spheres), so shadows are exactly
those of the dense test (tests check this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentstage.model.worlds.solids import SolidSet

# Tangent axes of each cube-face axis: x -> (y, z), y -> (x, z), z -> (x, y).
_TANGENTS = ((1, 2), (0, 2), (0, 1))


def _table(cells: list[list[int]], device: torch.device) -> torch.Tensor:
    """Per-cell solid rows as a [cells, K] int64 table padded with -1."""
    k = max(1, max(len(c) for c in cells))
    table = np.full((len(cells), k), -1, np.int64)
    for i, c in enumerate(cells):
        table[i, :len(c)] = c
    return torch.as_tensor(table, device=device)


def _pairs(table: torch.Tensor, cell: torch.Tensor, valid: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(solid row [T], ray [T]) for rays in cells ``cell`` [N] (``valid`` [N] masks rays)."""
    rows = table.index_select(0, cell)  # [N, K]
    keep = rows >= 0 if valid is None else (rows >= 0) & valid[:, None]
    flat = keep.view(-1).nonzero().squeeze(1)
    return rows.view(-1).index_select(0, flat), flat // rows.shape[1]


@dataclass
class SunGrid:
    """Solids binned on a grid across a direction, for rays parallel to it (sun shadows).

    A ray from point ``o`` along ``direction`` can only hit solids whose bounding disc, seen
    along the direction, covers ``o``'s grid cell: those are listed per cell.
    """

    axes: torch.Tensor  # [3, 2] float32 two unit vectors across the direction
    lo: torch.Tensor  # [2] float32 grid corner in those coordinates, metres
    cell: float  # cell size, metres
    shape: tuple[int, int]  # cells along each axis
    table: torch.Tensor  # [cells, K] int64 solid rows per cell, sorted, -1 padded

    @classmethod
    def build(cls, s: SolidSet, direction: np.ndarray, cell: float = 0.5) -> SunGrid:
        """Bin ``s`` across unit vector ``direction`` (e.g. towards the sun)."""
        u = np.asarray(direction, np.float64) / np.linalg.norm(direction)
        e1 = np.cross(u, [0.0, 0.0, 1.0] if abs(u[2]) < 0.9 else [1.0, 0.0, 0.0])
        e1 /= np.linalg.norm(e1)
        axes = np.stack([e1, np.cross(u, e1)], 1)  # [3, 2]
        c2 = s.center_np @ axes
        lo = (c2 - s.radius_np[:, None]).min(0) - cell
        hi = (c2 + s.radius_np[:, None]).max(0) + cell
        shape = tuple(int(x) for x in np.ceil((hi - lo) / cell))
        cells: list[list[int]] = [[] for _ in range(shape[0] * shape[1])]
        a = np.floor((c2 - s.radius_np[:, None] - lo) / cell).astype(int)
        b = np.floor((c2 + s.radius_np[:, None] - lo) / cell).astype(int)
        for row in range(len(s)):
            for i in range(a[row, 0], b[row, 0] + 1):
                for j in range(a[row, 1], b[row, 1] + 1):
                    cells[i * shape[1] + j].append(row)
        dev = s.index.device
        return cls(torch.as_tensor(axes, dtype=torch.float32, device=dev),
                   torch.as_tensor(lo, dtype=torch.float32, device=dev), cell, shape,
                   _table(cells, dev))

    def candidates(self, o: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(solid row [T], ray [T]) pairs for rays from ``o`` [N, 3] along the direction."""
        ij = torch.floor((o @ self.axes - self.lo) / self.cell).to(torch.int64)
        inside = ((ij[:, 0] >= 0) & (ij[:, 0] < self.shape[0]) & (ij[:, 1] >= 0)
                  & (ij[:, 1] < self.shape[1]))
        cell = (ij[:, 0] * self.shape[1] + ij[:, 1]).clamp(0, self.table.shape[0] - 1)
        return _pairs(self.table, cell, inside)


@dataclass
class LightGrid:
    """Solids binned by direction as seen from a point light: ``size`` x ``size`` cells on
    each face of a cube around it. For rays that start at the light."""

    size: int  # cells along each side of a cube face
    table: torch.Tensor  # [6 * size * size, K] int64 solid rows per cell, -1 padded

    def __post_init__(self) -> None:
        self.tangents = torch.tensor(_TANGENTS, device=self.table.device)  # [3, 2] int64

    @classmethod
    def build(cls, s: SolidSet, origin: np.ndarray, size: int = 48) -> LightGrid:
        """Bin ``s`` by direction from ``origin`` (metres)."""
        g = (np.arange(size) + 0.5) / size * 2 - 1
        corner = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]]) / size
        dirs, radius = [], []
        for face in range(6):
            axis, sign = face // 2, 1.0 - 2.0 * (face % 2)
            b, c = _TANGENTS[axis]
            u, v = np.meshgrid(g, g, indexing="ij")
            centre = np.zeros((size, size, 3))
            centre[..., axis], centre[..., b], centre[..., c] = sign, u, v
            centre /= np.linalg.norm(centre, axis=-1, keepdims=True)
            worst = np.zeros((size, size))
            for du, dv in corner:
                corner_dir = np.zeros((size, size, 3))
                corner_dir[..., axis], corner_dir[..., b], corner_dir[..., c] = sign, u + du, v + dv
                corner_dir /= np.linalg.norm(corner_dir, axis=-1, keepdims=True)
                worst = np.maximum(worst, np.arccos(np.clip((centre * corner_dir).sum(-1), -1, 1)))
            dirs.append(centre.reshape(-1, 3))
            radius.append(worst.reshape(-1))
        dirs, radius = np.concatenate(dirs), np.concatenate(radius)
        rel = s.center_np - origin
        dist = np.linalg.norm(rel, axis=1)
        spread = np.where(dist > s.radius_np, np.arcsin(np.clip(s.radius_np / np.maximum(
            dist, 1e-9), 0, 1)), np.pi)
        angle = np.arccos(np.clip(dirs @ (rel / np.maximum(dist, 1e-9)[:, None]).T, -1, 1))
        hit = angle <= radius[:, None] + spread[None] + 1e-3  # [cells, P]
        cells = [np.flatnonzero(row).tolist() for row in hit]
        return cls(size, _table(cells, s.index.device))

    def candidates(self, o: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(solid row [T], ray [T]) pairs for rays ``d`` [N, 3] from the light."""
        a = d.abs()
        axis = a.argmax(1)
        major = d.gather(1, axis[:, None]).squeeze(1)
        face = 2 * axis + (major < 0).to(torch.int64)
        tang = self.tangents.index_select(0, axis)  # [N, 2]
        uv = d.gather(1, tang) / major.abs()[:, None]
        ij = ((uv + 1) / 2 * self.size).floor().to(torch.int64).clamp(0, self.size - 1)
        cell = (face * self.size + ij[:, 0]) * self.size + ij[:, 1]
        return _pairs(self.table, cell)
