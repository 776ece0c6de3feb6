"""A scene's geometry, lights and materials as tensors on one device (what the renderer reads)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentstage.model.worlds.grids import LightGrid, SunGrid
from latentstage.model.worlds.materials import MaterialTable
from latentstage.model.worlds.scene import Ground, Horizon, Light, Scene
from latentstage.model.worlds.solids import SolidSet

# Tangent axes (u, v) of a face by its normal axis: x -> (y, z), y -> (x, z), z -> (x, y).
TANGENTS = ((1, 2), (0, 2), (0, 1))
# A portal on the device side: face, u axis, v axis, u0, u1, v0, v1, target cell.
PortalRow = tuple[int, int, int, float, float, float, float, int]


@dataclass
class CellTensors:
    """One cell of a scene, ready for tracing on the device."""

    solids: SolidSet | None  # its solids
    casters: SolidSet | None  # its shadow-casting solids
    shell: tuple[torch.Tensor, torch.Tensor] | None  # (lo [3], hi [3]) float32, or None
    portals: list[PortalRow]  # openings of the shell
    ground: Ground | None  # ground plane or None
    horizon: Horizon | None  # mountain ring or None
    horizon_k: torch.Tensor | None  # [3, K] float32 (amplitude, phase, frequency) of the ridge
    sky: bool  # rays leaving the cell see the sky
    ambient_up: torch.Tensor  # [3] float32 RGB ambient from above
    ambient_down: torch.Tensor  # [3] float32 RGB ambient from below
    lights: tuple[Light, ...]  # direct lights
    light_vec: torch.Tensor  # [L, 3] float32 light vectors (direction or position)
    light_col: torch.Tensor  # [L, 3] float32 light colours
    shadow_grids: dict[int, SunGrid | LightGrid]  # per shadowed light (by index): casters


@dataclass
class SceneTensors:
    """A scene's geometry and materials on one device, as the renderer reads them."""

    cells: list[CellTensors]  # per cell
    center: torch.Tensor  # [S, 3] float32 solid centres
    rot: torch.Tensor  # [S, 3, 3] float32 local-to-world rotations
    size: torch.Tensor  # [S, 3] float32 solid sizes
    kind: torch.Tensor  # [S] int64 SolidKind
    material: torch.Tensor  # [S] int64 material index
    cell_material: torch.Tensor  # [C, 8] int64 material of shell faces 0-5, ground, horizon
    materials: MaterialTable  # material table

    def __post_init__(self) -> None:
        self.rot_soa = self.rot.reshape(-1, 9).T.contiguous()  # [9, S] R row-major, by column

    @classmethod
    def build(cls, scene: Scene, device: torch.device) -> SceneTensors:
        """Move ``scene`` to ``device``."""

        def f32(x):
            return torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)

        cells = [_cell(scene, i, device) for i in range(len(scene.cells))]
        table = np.zeros((len(scene.cells), 8), np.int64)
        for i, c in enumerate(scene.cells):
            if c.shell is not None:
                table[i, :6] = c.shell.materials
            if c.ground is not None:
                table[i, 6] = c.ground.material
            if c.horizon is not None:
                table[i, 7] = c.horizon.material
        s = scene.solids
        return cls(
            cells=cells,
            center=f32(s.center).reshape(-1, 3),
            rot=f32(s.rot).reshape(-1, 3, 3),
            size=f32(s.size).reshape(-1, 3),
            kind=torch.as_tensor(s.kind, dtype=torch.int64, device=device),
            material=torch.as_tensor(s.material, dtype=torch.int64, device=device),
            cell_material=torch.as_tensor(table, device=device),
            materials=MaterialTable.from_specs(list(scene.materials), device),
        )


def _cell(scene: Scene, i: int, device: torch.device) -> CellTensors:
    """Cell ``i`` of ``scene`` on ``device``."""
    c = scene.cells[i]

    def f32(x):
        return torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)

    portals = []
    if c.shell is not None:
        for p in c.shell.portals:
            iu, iv = TANGENTS[p.face // 2]
            portals.append((p.face, iu, iv, p.lo[0], p.hi[0], p.lo[1], p.hi[1], p.target))
    hk = None
    if c.horizon is not None:
        n = len(c.horizon.amplitude)
        hk = f32([c.horizon.amplitude, c.horizon.phase, np.arange(1, n + 1)])
    casters = SolidSet.from_scene(scene, i, device, casters_only=True)
    grids = {}
    if casters is not None:
        for k, light in enumerate(c.lights):
            if light.shadow and light.kind == "directional":
                grids[k] = SunGrid.build(casters, np.asarray(light.vector))
            elif light.shadow:
                grids[k] = LightGrid.build(casters, np.asarray(light.vector))
    return CellTensors(
        solids=SolidSet.from_scene(scene, i, device),
        casters=casters,
        shell=None if c.shell is None else (f32(c.shell.lo), f32(c.shell.hi)),
        portals=portals,
        ground=c.ground,
        horizon=c.horizon,
        horizon_k=hk,
        sky=c.sky,
        ambient_up=f32(c.ambient_up),
        ambient_down=f32(c.ambient_down),
        lights=c.lights,
        light_vec=f32([lt.vector for lt in c.lights]).reshape(-1, 3),
        light_col=f32([lt.color for lt in c.lights]).reshape(-1, 3),
        shadow_grids=grids,
    )
