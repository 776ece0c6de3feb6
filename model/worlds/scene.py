"""Procedural scenes: plain data (numpy, float64, world metres, Z up) plus free-space queries.

A scene is a set of *cells*: convex regions that a ray visits one after another. A cell may
have a *shell* (the inside of an axis-aligned box: floor, walls and ceiling of a room) whose
faces carry rectangular *portals* (doorways, windows) leading to another cell, a ground
plane, a horizon ring (distant mountains) and a sky. Each cell holds its own solids (boxes,
spheres, capped cylinders) and lights, so a ray only meets what can be seen from where it is:
a room's lamps do not light the garden seen through its window.

Indoor scenes: cell 0 is the main room (where cameras go), cell 1 the room behind the
doorway and cell 2 the outdoors seen through windows (a ground and a painted, finite-depth
backdrop, so indoor frames never show sky). Outdoor scenes have one cell with a ground, a
horizon ring of mountains and a sky at infinity.

Cameras stay inside :attr:`Scene.bounds` and away from solids; :meth:`Scene.clearance` is the
signed distance (metres) to the nearest obstacle, used by the trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np
import torch

from latentstage.model.worlds.materials import MaterialSpec
from latentstage.runtime.errors import InvalidInput

#: Face order of a shell: -x, +x, -y, +y, -z (floor), +z (ceiling).
FACES = ("-x", "+x", "-y", "+y", "floor", "ceiling")


class SolidKind(IntEnum):
    """Kinds of solid primitives."""

    BOX = 0  # oriented box; size = half extents
    SPHERE = 1  # sphere; size = (r, r, r); rot orients its texture
    CYLINDER = 2  # capped cylinder along its local z; size = (r, r, half height)


@dataclass(frozen=True)
class Solids:
    """All solid primitives of a scene, sorted by (cell, kind). Row p is primitive p."""

    kind: np.ndarray  # [P] int64 SolidKind
    center: np.ndarray  # [P, 3] float64 world metres
    rot: np.ndarray  # [P, 3, 3] float64 local-to-world rotation (columns: local axes)
    size: np.ndarray  # [P, 3] float64 metres (see SolidKind)
    material: np.ndarray  # [P] int64 material index
    cell: np.ndarray  # [P] int64 cell index
    shadow: np.ndarray  # [P] bool: casts shadows (lamps do not)

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (metres, negative inside) of ``points`` [N, 3] to each solid: [N, P]."""
        local = np.einsum("pji,npj->npi", self.rot, points[:, None, :] - self.center[None])
        out = np.empty(local.shape[:2])
        box = self.kind == SolidKind.BOX
        d = np.abs(local[:, box]) - self.size[box]
        out[:, box] = np.linalg.norm(np.maximum(d, 0), axis=-1) + np.minimum(d.max(-1), 0)
        sph = self.kind == SolidKind.SPHERE
        out[:, sph] = np.linalg.norm(local[:, sph], axis=-1) - self.size[sph, 0]
        cyl = self.kind == SolidKind.CYLINDER
        radial = np.linalg.norm(local[:, cyl, :2], axis=-1) - self.size[cyl, 0]
        axial = np.abs(local[:, cyl, 2]) - self.size[cyl, 2]
        dd = np.stack([radial, axial], -1)
        out[:, cyl] = np.linalg.norm(np.maximum(dd, 0), axis=-1) + np.minimum(dd.max(-1), 0)
        return out

    def bounding_radius(self) -> np.ndarray:
        """Radius of a sphere about each centre that holds the solid, [P] metres."""
        return np.linalg.norm(self.size, axis=-1)


@dataclass(frozen=True)
class Portal:
    """A rectangular opening in a shell face through which rays continue into another cell."""

    face: int  # shell face index (FACES)
    lo: tuple[float, float]  # rectangle minimum along the face's (u, v) axes, world metres
    hi: tuple[float, float]  # rectangle maximum along (u, v); u, v = (y, z), (x, z) or (x, y)
    target: int  # cell a ray passing the opening continues into


@dataclass(frozen=True)
class Shell:
    """The inside of an axis-aligned box (a room): rays from inside hit its far faces."""

    lo: tuple[float, float, float]  # minimum corner, world metres
    hi: tuple[float, float, float]  # maximum corner, world metres
    materials: tuple[int, ...]  # material of each face, in FACES order
    portals: tuple[Portal, ...] = ()  # openings


@dataclass(frozen=True)
class Ground:
    """The horizontal plane z = ``z`` inside a disc of ``radius`` about the origin."""

    z: float  # height, metres
    radius: float  # metres
    material: int  # material index


@dataclass(frozen=True)
class Horizon:
    """A ring of distant mountains: the inside of a vertical cylinder, cut by a ridge line."""

    radius: float  # metres from the origin
    base: float  # mean ridge height, metres
    amplitude: tuple[float, ...]  # ridge harmonic k+1 amplitude, metres
    phase: tuple[float, ...]  # ridge harmonic k+1 phase, radians
    material: int  # material index


@dataclass(frozen=True)
class Light:
    """A light of one cell. Shading is Lambertian (view-independent)."""

    kind: Literal["directional", "point"]  # directional: at infinity; point: a position
    vector: tuple[float, float, float]  # directional: unit vector towards the light; point: metres
    color: tuple[float, float, float]  # RGB irradiance at normal incidence (point: at 0 m)
    range: float = 1.0  # point: distance (m) at which irradiance halves; unused otherwise
    shadow: bool = False  # cast shadows from this cell's solids


@dataclass(frozen=True)
class Sky:
    """A sky at infinity: a function of direction only (gradient, sun, procedural clouds)."""

    zenith: tuple[float, float, float]  # RGB straight up
    horizon: tuple[float, float, float]  # RGB at the horizon
    sun_direction: tuple[float, float, float]  # unit vector towards the sun
    sun_color: tuple[float, float, float]  # RGB of the sun disc and glow
    cloud_color: tuple[float, float, float]  # RGB of lit clouds
    cloud_cover: float  # 0 (clear) .. 1 (overcast)
    cloud_scale: float  # cloud features per unit of the projected sky plane
    seed: int  # cloud noise seed


@dataclass(frozen=True)
class Cell:
    """One convex region of a scene with what a ray can meet inside it."""

    shell: Shell | None = None  # room box, or None
    ground: Ground | None = None  # ground plane, or None
    horizon: Horizon | None = None  # mountain ring, or None
    sky: bool = False  # rays that leave the cell see the sky
    ambient_up: tuple[float, float, float] = (0.3, 0.3, 0.3)  # RGB ambient from above
    ambient_down: tuple[float, float, float] = (0.15, 0.15, 0.15)  # RGB ambient from below
    lights: tuple[Light, ...] = ()  # direct lights


@dataclass
class Scene:
    """A procedural world: geometry, materials, lights and sky, plus free-space queries.

    Build it with :func:`latentstage.model.worlds.make_scene`. The torch form used by the
    renderer lives on ``device`` and is rebuilt by :meth:`to`.
    """

    seed: int  # generator seed
    kind: str  # "indoor" or "outdoor"
    low_frequency: bool  # only smooth, >= 1 m materials
    bounds: np.ndarray  # [2, 3] float64 (min, max) corners of where cameras may go, metres
    solids: Solids  # all solid primitives
    cells: tuple[Cell, ...]  # cell 0 holds `bounds`
    materials: tuple[MaterialSpec, ...]  # material table
    sky: Sky | None  # sky at infinity (outdoor), or None
    landmarks: np.ndarray  # [K, 3] float64 points worth looking at (object centres), metres
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # render device
    tensors: object = field(default=None, repr=False)  # geometry.SceneTensors on `device`

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        if self.tensors is None:
            from latentstage.model.worlds.tensors import SceneTensors

            self.tensors = SceneTensors.build(self, self.device)

    def to(self, device: torch.device | str) -> Scene:
        """The same scene with its tensors on ``device``."""
        from dataclasses import replace

        return replace(self, device=torch.device(device), tensors=None)

    @property
    def camera_height(self) -> tuple[float, float]:
        """Range of camera heights (metres above the floor or ground) trajectories use."""
        top = self.bounds[1, 2]
        return (1.0, min(2.0, top - 0.5)) if self.kind == "indoor" else (1.3, 4.0)

    def clearance(self, points: np.ndarray) -> np.ndarray:
        """Distance (metres) from each of ``points`` [N, 3] to the nearest obstacle or to the
        boundary of :attr:`bounds`; negative inside a solid or outside the bounds. [N]."""
        p = np.asarray(points, np.float64).reshape(-1, 3)
        box = np.minimum(p - self.bounds[0], self.bounds[1] - p).min(axis=1)
        if len(self.solids) == 0:
            return box
        return np.minimum(box, self.solids.sdf(p).min(axis=1))

    def is_free(self, points: np.ndarray, margin: float = 0.3) -> np.ndarray:
        """Whether each of ``points`` [N, 3] is at least ``margin`` metres from every obstacle
        and inside :attr:`bounds` by that much. [N] bool."""
        return self.clearance(points) >= margin

    def cell_of(self, point: np.ndarray) -> int:
        """Index of the cell holding ``point`` [3]: the first shell containing it, else the
        first cell without a shell."""
        p = np.asarray(point, np.float64)
        for i, cell in enumerate(self.cells):
            if cell.shell is not None and np.all(p > cell.shell.lo) and np.all(p < cell.shell.hi):
                return i
        for i, cell in enumerate(self.cells):
            if cell.shell is None:
                return i
        return 0


def make_scene(
    seed: int,
    kind: Literal["indoor", "outdoor"],
    *,
    low_frequency: bool = False,
    device: torch.device | str = "cpu",
) -> Scene:
    """A procedural scene, fully determined by ``seed`` and ``kind``.

    Args:
        seed: any non-negative integer; each seed is an independent world.
        kind: "indoor" (two rooms and a garden seen through windows) or "outdoor" (ground,
            objects, mountains and a sky at infinity).
        low_frequency: only smooth materials with features of 1 m or more.
        device: where the renderer's tensors live ("cpu", "cuda", ...).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidInput("seed", seed, "a non-negative integer")
    if kind == "indoor":
        from latentstage.model.worlds.indoor import build_indoor as build
    elif kind == "outdoor":
        from latentstage.model.worlds.outdoor import build_outdoor as build
    else:
        raise InvalidInput("kind", kind, "'indoor' or 'outdoor'")
    return build(int(seed), low_frequency, torch.device(device))
