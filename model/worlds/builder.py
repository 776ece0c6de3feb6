"""A small helper that collects primitives and materials while a scene is generated."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from latentstage.model.worlds.materials import MaterialSpec, random_material
from latentstage.model.worlds.scene import Cell, Scene, Sky, SolidKind, Solids

_PATTERN_KEYS = ("pattern", "scale", "param", "param2")


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation about world Z by ``yaw`` radians, [3, 3]."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class SceneBuilder:
    """Accumulates solids, materials and landmarks; :meth:`build` makes the :class:`Scene`.

    All randomness comes from ``rng`` (``numpy.random.default_rng(seed)``), so a seed fixes
    the scene.
    """

    def __init__(self, seed: int, kind: str, low_frequency: bool):
        self.seed = seed
        self.kind = kind
        self.low_frequency = low_frequency
        self.rng = np.random.default_rng([seed, 0 if kind == "indoor" else 1])
        self.materials: list[MaterialSpec] = []
        self.landmarks: list[np.ndarray] = []
        self._rows: list[tuple] = []

    # ----- materials ---------------------------------------------------------------------
    def add_material(self, spec: MaterialSpec) -> int:
        """Append ``spec``; return its index."""
        self.materials.append(spec)
        return len(self.materials) - 1

    def material(self, role: str, **overrides) -> int:
        """A new random material for ``role`` (see materials.random_material); its index.

        In low-frequency scenes, overrides of the pattern and its scale are ignored.
        """
        if self.low_frequency:
            overrides = {k: v for k, v in overrides.items() if k not in _PATTERN_KEYS}
        return self.add_material(random_material(self.rng, role, self.low_frequency, **overrides))

    # ----- solids ------------------------------------------------------------------------
    def _add(self, kind, center, rot, size, material, cell, shadow) -> None:
        self._rows.append((int(kind), np.asarray(center, np.float64), np.asarray(rot, np.float64),
                           np.asarray(size, np.float64), int(material), int(cell), bool(shadow)))

    def box(self, center, half, material: int, cell: int, yaw: float = 0.0,
            rot: np.ndarray | None = None, shadow: bool = True) -> None:
        """An oriented box of half extents ``half`` (metres), rotated by ``rot`` or ``yaw``."""
        self._add(SolidKind.BOX, center, yaw_matrix(yaw) if rot is None else rot, half,
                  material, cell, shadow)

    def sphere(self, center, radius: float, material: int, cell: int, shadow: bool = True) -> None:
        """A sphere; its texture gets a random orientation."""
        rot = Rotation.from_rotvec(self.rng.normal(size=3)).as_matrix()
        self._add(SolidKind.SPHERE, center, rot, (radius, radius, radius), material, cell, shadow)

    def cylinder(self, center, radius: float, half_height: float, material: int, cell: int,
                 rot: np.ndarray | None = None, shadow: bool = True) -> None:
        """A capped cylinder along ``rot``'s z axis (vertical by default)."""
        rot = yaw_matrix(self.rng.uniform(0, 2 * math.pi)) if rot is None else rot
        self._add(SolidKind.CYLINDER, center, rot, (radius, radius, half_height), material, cell,
                  shadow)

    def landmark(self, point) -> None:
        """Record a point worth looking at (trajectories aim cameras at landmarks)."""
        self.landmarks.append(np.asarray(point, np.float64))

    # ----- result ------------------------------------------------------------------------
    def solids(self) -> Solids:
        """The solids so far, sorted by (cell, kind)."""
        rows = sorted(self._rows, key=lambda r: (r[5], r[0]))
        if not rows:
            return Solids(np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3, 3)),
                          np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros(0, np.int64),
                          np.zeros(0, bool))
        cols = list(zip(*rows, strict=True))
        return Solids(
            kind=np.array(cols[0], np.int64),
            center=np.stack(cols[1]),
            rot=np.stack(cols[2]),
            size=np.stack(cols[3]),
            material=np.array(cols[4], np.int64),
            cell=np.array(cols[5], np.int64),
            shadow=np.array(cols[6], bool),
        )

    def build(self, bounds: np.ndarray, cells: tuple[Cell, ...], sky: Sky | None,
              device: torch.device) -> Scene:
        """The finished scene."""
        marks = np.stack(self.landmarks) if self.landmarks else np.zeros((0, 3))
        return Scene(
            seed=self.seed,
            kind=self.kind,
            low_frequency=self.low_frequency,
            bounds=np.asarray(bounds, np.float64),
            solids=self.solids(),
            cells=cells,
            materials=tuple(self.materials),
            sky=sky,
            landmarks=marks,
            device=device,
        )
