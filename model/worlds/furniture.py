"""Furniture and decorations for rooms, built from boxes, spheres and cylinders.

Every item is made in a local frame centred on its footprint on the floor (x along the wall
it stands against, y into the room, z up; metres) and placed with a position and a yaw.
Placement keeps footprints apart so that free space remains for cameras.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from latentstage.model.worlds.builder import SceneBuilder, yaw_matrix


@dataclass
class Room:
    """A room being furnished (axis-aligned, floor at z = 0)."""

    cell: int  # cell index of the room
    lo: np.ndarray  # [3] minimum corner, metres
    hi: np.ndarray  # [3] maximum corner, metres
    palette: list[int]  # materials the furniture of this room draws from
    openings: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    #   (face, u0, u1, z0, z1) doors and windows on walls, to keep items clear of
    taken: list[tuple[float, float, float, float]] = field(default_factory=list)
    #   occupied floor rectangles (x0, y0, x1, y1)

    def free_rect(self, rect: tuple[float, float, float, float], gap: float = 0.25) -> bool:
        """Whether ``rect`` lies in the room and keeps ``gap`` metres from taken rectangles."""
        x0, y0, x1, y1 = rect
        if x0 < self.lo[0] or y0 < self.lo[1] or x1 > self.hi[0] or y1 > self.hi[1]:
            return False
        return all(x1 + gap <= a0 or a1 + gap <= x0 or y1 + gap <= b0 or b1 + gap <= y0
                   for a0, b0, a1, b1 in self.taken)


class Placer:
    """Adds primitives given in an item's local frame (origin on the floor, yaw about z)."""

    def __init__(self, b: SceneBuilder, cell: int, origin: np.ndarray, yaw: float):
        self.b, self.cell = b, cell
        self.origin = np.asarray(origin, np.float64)
        self.yaw = yaw
        self.rot = yaw_matrix(yaw)

    def world(self, local) -> np.ndarray:
        """A local point in world metres."""
        return self.origin + self.rot @ np.asarray(local, np.float64)

    def box(self, center, size, mat: int, shadow: bool = True) -> None:
        """A box of full ``size`` (x, y, z) centred at local ``center``."""
        self.b.box(self.world(center), np.asarray(size) / 2, mat, self.cell, rot=self.rot,
                   shadow=shadow)

    def cyl(self, center, radius: float, height: float, mat: int, shadow: bool = True) -> None:
        """A vertical cylinder centred at local ``center``."""
        self.b.cylinder(self.world(center), radius, height / 2, mat, self.cell, shadow=shadow)

    def sphere(self, center, radius: float, mat: int, shadow: bool = True) -> None:
        """A sphere centred at local ``center``."""
        self.b.sphere(self.world(center), radius, mat, self.cell, shadow=shadow)


def _pick(rng: np.random.Generator, room: Room) -> int:
    return int(room.palette[rng.integers(len(room.palette))])


def _decor(p: Placer, rng, room: Room, top: float, w: float, d: float) -> None:
    """Zero to two small objects (vase, ball, box) on a surface at height ``top``."""
    for _ in range(rng.integers(0, 3)):
        x = rng.uniform(-w / 2 + 0.12, w / 2 - 0.12)
        y = rng.uniform(-d / 2 + 0.12, d / 2 - 0.12) if d > 0.3 else 0.0
        choice = rng.integers(3)
        mat = p.b.material("accent")
        if choice == 0:
            hh = rng.uniform(0.15, 0.45)
            p.cyl((x, y, top + hh / 2), rng.uniform(0.05, 0.11), hh, mat)
        elif choice == 1:
            r = rng.uniform(0.06, 0.13)
            p.sphere((x, y, top + r), r, mat)
        else:
            s = rng.uniform(0.1, 0.25)
            p.box((x, y, top + s / 2), (s, s * rng.uniform(0.6, 1.2), s), mat)


def cabinet(p: Placer, rng, room: Room, w: float, d: float) -> float:
    """A cabinet, sideboard, wardrobe or bookshelf against a wall; returns its height."""
    h = float(rng.choice([rng.uniform(0.5, 1.0), rng.uniform(1.4, min(2.3, room.hi[2] - 0.3))]))
    mat = _pick(rng, room)
    if h > 1.3 and rng.random() < 0.5:  # bookshelf: horizontal stripes of books and boards
        mat = p.b.material("furniture", pattern=2, axis=(0.0, 0.0, 1.0),
                           scale=float(rng.uniform(0.3, 0.45)), param=-0.7)
    p.box((0, 0, h / 2), (w, d, h), mat)
    if h < 1.1:
        _decor(p, rng, room, h, w, d)
    return h


def sofa(p: Placer, rng, room: Room, w: float, d: float) -> float:
    """A sofa or a bed: a base, a back against the wall and maybe arms."""
    mat = _pick(rng, room)
    seat = rng.uniform(0.38, 0.5)
    back = rng.uniform(0.75, 1.05)
    t = rng.uniform(0.15, 0.25)
    p.box((0, 0, seat / 2), (w, d, seat), mat)
    p.box((0, t / 2 - d / 2, back / 2), (w, t, back),
          mat if rng.random() < 0.6 else _pick(rng, room))
    if rng.random() < 0.5:
        arm = rng.uniform(0.55, 0.7)
        for sx in (-1, 1):
            p.box((sx * (w / 2 - 0.08), 0, arm / 2), (0.16, d, arm), mat)
    if rng.random() < 0.6:  # cushion or pillow
        p.box((rng.uniform(-w / 4, w / 4), t + 0.1 - d / 2, seat + 0.15), (0.45, 0.15, 0.3),
              p.b.material("accent"))
    return back


def table(p: Placer, rng, room: Room, w: float, d: float) -> float:
    """A table: a top on four legs or a pedestal, with things on it."""
    h = rng.uniform(0.68, 0.8)
    t = rng.uniform(0.03, 0.07)
    top = _pick(rng, room)
    legs = _pick(rng, room)
    p.box((0, 0, h - t / 2), (w, d, t), top)
    if rng.random() < 0.7:
        for sx in (-1, 1):
            for sy in (-1, 1):
                x, y = sx * (w / 2 - 0.07), sy * (d / 2 - 0.07)
                if rng.random() < 0.5:
                    p.cyl((x, y, (h - t) / 2), 0.035, h - t, legs)
                else:
                    p.box((x, y, (h - t) / 2), (0.06, 0.06, h - t), legs)
    else:
        p.cyl((0, 0, (h - t) / 2), rng.uniform(0.06, 0.12), h - t, legs)
    _decor(p, rng, room, h, w, d)
    return h


def pillar(p: Placer, rng, room: Room, w: float, d: float) -> float:
    """A column from floor to ceiling, round or square."""
    h = float(room.hi[2] - room.lo[2])
    mat = p.b.material("stone" if rng.random() < 0.5 else "wall")
    if rng.random() < 0.6:
        p.cyl((0, 0, h / 2), w / 2, h, mat)
    else:
        p.box((0, 0, h / 2), (w, w, h), mat)
    return h


def plant(p: Placer, rng, room: Room, w: float, d: float) -> float:
    """A pot with round foliage."""
    ph = rng.uniform(0.25, 0.5)
    r = w / 2
    p.cyl((0, 0, ph / 2), r * 0.6, ph, p.b.material("accent"))
    fr = rng.uniform(0.8, 1.3) * r
    p.sphere((0, 0, ph + fr * 0.8), fr, p.b.material("foliage"))
    return ph + 1.8 * fr


def ball(p: Placer, rng, room: Room, w: float, d: float) -> float:
    """A large ball, or a sculpture: a sphere on a pedestal."""
    r = w / 2
    if rng.random() < 0.5:
        p.sphere((0, 0, r), r, p.b.material("accent"))
        return 2 * r
    ph = rng.uniform(0.6, 1.1)
    p.box((0, 0, ph / 2), (w * 0.8, w * 0.8, ph), p.b.material("stone"))
    sr = r * rng.uniform(0.5, 0.8)
    p.sphere((0, 0, ph + sr), sr, p.b.material("accent"))
    return ph + 2 * sr


def stool(p: Placer, rng, room: Room, w: float, d: float) -> float:
    """A stool, a barrel or a drum: cylinders."""
    h = rng.uniform(0.4, 0.9)
    mat = _pick(rng, room)
    if rng.random() < 0.5:
        p.cyl((0, 0, h / 2), w / 2, h, mat)
    else:
        p.cyl((0, 0, h - 0.03), w / 2, 0.06, mat)
        p.cyl((0, 0, (h - 0.06) / 2), 0.04, h - 0.06, _pick(rng, room))
    return h


def floor_lamp(p: Placer, rng, room: Room, w: float, d: float) -> float:
    """A pole with a glowing shade (decorative; the room's lights are separate)."""
    h = rng.uniform(1.3, 1.8)
    p.cyl((0, 0, 0.02), 0.15, 0.04, _pick(rng, room))
    p.cyl((0, 0, h / 2), 0.02, h, p.b.material("metal"))
    glow = p.b.material("accent", pattern=0, emissive=1.0, variation=0.0,
                        color_a=(1.0, 0.93, 0.75))
    p.sphere((0, 0, h + 0.1), 0.16, glow, shadow=False)
    return h + 0.26


# (builder, width range, depth range, against a wall?)
Item = tuple[Callable[..., float], tuple[float, float], tuple[float, float], bool]
ITEMS: dict[str, Item] = {
    "cabinet": (cabinet, (0.6, 2.0), (0.35, 0.6), True),
    "sofa": (sofa, (1.4, 2.4), (0.8, 1.9), True),
    "desk": (table, (0.9, 1.6), (0.55, 0.8), True),
    "table": (table, (0.8, 2.0), (0.6, 1.1), False),
    "pillar": (pillar, (0.3, 0.6), (0.3, 0.6), False),
    "plant": (plant, (0.35, 0.7), (0.35, 0.7), False),
    "ball": (ball, (0.4, 0.9), (0.4, 0.9), False),
    "stool": (stool, (0.35, 0.6), (0.35, 0.6), False),
    "lamp": (floor_lamp, (0.35, 0.35), (0.35, 0.35), False),
}
WEIGHTS = {"cabinet": 4, "sofa": 2, "desk": 2, "table": 3, "pillar": 1, "plant": 2, "ball": 2,
           "stool": 2, "lamp": 1}


def wall_frame(room: Room, face: int) -> tuple[np.ndarray, float, int, float, float]:
    """For a wall face: inward normal, yaw of items against it, along-wall axis and range."""
    axis = face // 2
    normal = np.zeros(3)
    normal[axis] = 1.0 if face % 2 == 0 else -1.0
    yaw = math.atan2(-normal[0], normal[1])
    along = 1 - axis
    return normal, yaw, along, float(room.lo[along]), float(room.hi[along])
