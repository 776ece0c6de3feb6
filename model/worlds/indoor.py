"""Indoor scenes: a furnished room, a second room behind a doorway, a garden behind windows.

Cells: 0 is the main room (5–10 m by 4.5–9 m, 2.6–3.6 m high), where cameras go; 1 is the
room behind the doorway (it lies along that wall, within its length, so no window of the
main room can see its outside); 2 is the outdoors: a ground, trees and a painted
sky backdrop 40 m away (finite depth, so indoor frames have no sky pixels). Each room has
its own pendant lights (the first one casts shadows) and a faint directional fill so that
walls facing different ways differ in brightness.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentstage.model.worlds.builder import SceneBuilder, yaw_matrix
from latentstage.model.worlds.furniture import ITEMS, WEIGHTS, Placer, Room, wall_frame
from latentstage.model.worlds.materials import MaterialSpec, Pattern
from latentstage.model.worlds.outdoor import random_sky, sun_lights, tree
from latentstage.model.worlds.scene import Cell, Light, Portal, Scene, Shell

GARDEN = 40.0  # half size of the outdoor backdrop box, metres
Opening = tuple[int, float, float, float, float]  # face, u0, u1, z0, z1 (world metres)


def _second_room(rng, lo: np.ndarray, hi: np.ndarray, face: int):
    """Room 1 behind wall ``face`` of room 0, and the doorway between them."""
    a, side = face // 2, face % 2
    t = 1 - a
    length = hi[t] - lo[t]
    wide = rng.random() < 0.3 and length > 4.0
    width = rng.uniform(1.8, min(3.0, length - 1.5)) if wide else rng.uniform(0.9, 1.4)
    height_b = rng.uniform(2.5, hi[2] + 0.6)
    top_max = min(hi[2], height_b) - 0.25
    top = top_max - rng.uniform(0.0, 0.3) if wide else rng.uniform(2.0, min(2.4, top_max))
    uc = rng.uniform(lo[t] + width / 2 + 0.4, hi[t] - width / 2 - 0.4)
    u0, u1 = uc - width / 2, uc + width / 2
    span = rng.uniform(min(max(width + 1.0, 2.5), length), length)
    t_lo, t_hi = max(lo[t], u1 + 0.3 - span), min(hi[t] - span, u0 - 0.3)
    start = rng.uniform(t_lo, t_hi) if t_lo < t_hi else min(max(lo[t], u0 - 0.3), hi[t] - span)
    depth = rng.uniform(2.5, 6.0)
    lo_b, hi_b = lo.copy(), hi.copy()
    lo_b[t], hi_b[t] = start, start + span
    lo_b[a], hi_b[a] = (hi[a], hi[a] + depth) if side else (lo[a] - depth, lo[a])
    hi_b[2] = height_b
    return lo_b, hi_b, (face, u0, u1, 0.0, top)


def _windows(rng, lo: np.ndarray, hi: np.ndarray, faces: list[int]) -> list[Opening]:
    """Zero to three walls of windows; one or two windows per wall."""
    out = []
    n_walls = min(len(faces), int(rng.choice([0, 1, 1, 2, 2, 3])))
    for f in rng.permutation(faces)[:n_walls]:
        t = 1 - f // 2
        n = int(rng.integers(1, 3))
        slot = (hi[t] - lo[t]) / n
        for k in range(n):
            s0 = lo[t] + k * slot
            if slot < 1.8:
                continue
            width = rng.uniform(0.8, min(2.4, slot - 0.8))
            c = rng.uniform(s0 + 0.4 + width / 2, s0 + slot - 0.4 - width / 2)
            z0 = rng.uniform(0.5, 1.0)
            z1 = min(hi[2] - 0.25, z0 + rng.uniform(1.0, 1.8))
            out.append((int(f), c - width / 2, c + width / 2, z0, z1))
    return out


def _frame(b: SceneBuilder, room: Room, o: Opening, mat: int, door: bool) -> None:
    """Trim around an opening: jambs and a lintel, plus a sill and maybe a mullion."""
    f, u0, u1, z0, z1 = o
    normal, yaw, along, _, _ = wall_frame(room, f)
    origin = np.zeros(3)
    origin[f // 2] = room.lo[f // 2] if f % 2 == 0 else room.hi[f // 2]
    origin[along] = (u0 + u1) / 2
    p = Placer(b, room.cell, origin, yaw)
    w, j = u1 - u0, 0.08
    for sx in (-1, 1):
        p.box((sx * (w / 2 + j / 2), 0, (z0 + z1) / 2), (j, 0.24, z1 - z0), mat)
    p.box((0, 0, z1 + j / 2), (w + 2 * j, 0.24, j), mat)
    if not door:
        p.box((0, 0.03, z0 - 0.03), (w + 2 * j, 0.3, 0.06), mat)
        if w > 1.2 and b.rng.random() < 0.6:
            p.box((0, 0, (z0 + z1) / 2), (0.05, 0.08, z1 - z0), mat)


def _furnish(b: SceneBuilder, room: Room, count: int) -> None:
    """Place ``count`` items (fewer if they do not fit) and record them as landmarks."""
    rng = b.rng
    names = list(WEIGHTS)
    weights = np.array([WEIGHTS[n] for n in names], np.float64)
    for _ in range(count):
        fn, (w0, w1), (d0, d1), on_wall = ITEMS[names[rng.choice(len(names),
                                                                 p=weights / weights.sum())]]
        for _ in range(25):
            w, d = rng.uniform(w0, w1), rng.uniform(d0, d1)
            origin, yaw = _spot(rng, room, w, d, on_wall)
            if origin is None:
                continue
            rot = yaw_matrix(yaw)[:2, :2]
            corners = np.array([[sx * w / 2, sy * d / 2] for sx in (-1, 1) for sy in (-1, 1)])
            xy = corners @ rot.T + origin[:2]
            rect = (*xy.min(0), *xy.max(0))
            if room.free_rect(rect):
                room.taken.append(rect)
                h = fn(Placer(b, room.cell, origin, yaw), rng, room, w, d)
                b.landmark(origin + (0, 0, min(h / 2, 1.2)))
                break


def _spot(rng, room: Room, w: float, d: float, on_wall: bool):
    """A floor position and yaw for an item of footprint ``w`` x ``d`` (or None, 0)."""
    if not on_wall:
        lo, hi = room.lo[:2] + 0.3 + max(w, d) / 2, room.hi[:2] - 0.3 - max(w, d) / 2
        if np.any(lo >= hi):
            return None, 0.0
        yaw = float(rng.choice([0.0, math.pi / 2, rng.uniform(0, 2 * math.pi)]))
        return np.append(rng.uniform(lo, hi), 0.0), yaw
    face = int(rng.integers(4))
    normal, yaw, along, a0, a1 = wall_frame(room, face)
    if a1 - a0 < w + 0.2:
        return None, 0.0
    u = rng.uniform(a0 + w / 2 + 0.05, a1 - w / 2 - 0.05)
    for f, u0, u1, _, _ in room.openings:
        if f == face and u + w / 2 + 0.1 > u0 and u - w / 2 - 0.1 < u1:
            return None, 0.0
    origin = np.zeros(3)
    axis = face // 2
    origin[axis] = (room.lo[axis] if face % 2 == 0 else room.hi[axis]) + normal[axis] * (
        d / 2 + 0.02)
    origin[along] = u
    return origin, yaw


def _decorate(b: SceneBuilder, room: Room) -> None:
    """Rugs on the floor, pictures and clocks on the walls."""
    rng = b.rng
    for _ in range(rng.integers(0, 3)):
        size = rng.uniform([1.2, 0.9], [3.2, 2.2])
        lo, hi = room.lo[:2] + size.max() / 2, room.hi[:2] - size.max() / 2
        if np.any(hi < lo):  # the rug does not fit this room
            continue
        c = rng.uniform(lo, hi)
        if np.all(np.isfinite(c)):
            b.box((c[0], c[1], 0.008), (size[0] / 2, size[1] / 2, 0.008), b.material("furniture"),
                  room.cell, yaw=float(rng.choice([0.0, rng.uniform(0, math.pi)])), shadow=False)
    for _ in range(rng.integers(1, 4)):
        face = int(rng.integers(4))
        normal, yaw, along, a0, a1 = wall_frame(room, face)
        w = rng.uniform(0.4, 1.6)
        if a1 - a0 < w + 1.0:
            continue
        u = rng.uniform(a0 + w / 2 + 0.3, a1 - w / 2 - 0.3)
        if any(f == face and u + w / 2 > u0 - 0.2 and u - w / 2 < u1 + 0.2
               for f, u0, u1, _, _ in room.openings):
            continue
        origin = np.zeros(3)
        origin[face // 2] = room.lo[face // 2] if face % 2 == 0 else room.hi[face // 2]
        origin[along] = u
        p = Placer(b, room.cell, origin, yaw)
        z = rng.uniform(1.4, min(1.9, room.hi[2] - 0.7))
        if rng.random() < 0.25:  # a clock: a short cylinder facing the room
            r = rng.uniform(0.15, 0.3)
            rx = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
            b.cylinder(p.world((0, 0.03, z)), r, 0.03, b.material("accent"), room.cell,
                       rot=yaw_matrix(yaw) @ rx)
        else:
            h = rng.uniform(0.3, min(1.1, 2 * (room.hi[2] - z) - 0.3))
            p.box((0, 0.02, z), (w, 0.04, h), b.material("accent"))
        b.landmark(p.world((0, 0.05, z)))


def _lights(b: SceneBuilder, room: Room, count: int) -> Cell:
    """Pendant point lights (visible glowing globes), ambient and a directional fill."""
    rng = b.rng
    warm = (1.0, rng.uniform(0.86, 0.97), rng.uniform(0.72, 0.9))
    ext = room.hi - room.lo
    area = ext[0] * ext[1]
    lights = []
    for k in range(count):
        pos = np.append(rng.uniform(room.lo[:2] + 0.25 * ext[:2], room.hi[:2] - 0.25 * ext[:2]),
                        room.hi[2] - rng.uniform(0.35, 0.6))
        power = rng.uniform(0.55, 0.75) * (1.0 + area / 60) / math.sqrt(count)
        lights.append(Light("point", tuple(pos), tuple(power * c for c in warm),
                            range=float(rng.uniform(2.5, 3.5)), shadow=k == 0))
        glow = b.add_material(MaterialSpec(int(Pattern.FLAT), warm, warm, warm, 1.0,
                                           emissive=1.0))
        r = rng.uniform(0.08, 0.13)
        b.sphere(pos, r, glow, room.cell, shadow=False)
        cord = room.hi[2] - pos[2] - r
        b.cylinder(pos + (0, 0, r + cord / 2), 0.01, cord / 2, glow, room.cell, shadow=False)
    fill = rng.normal(size=3)
    fill[2] = abs(fill[2]) + 0.5
    fill /= np.linalg.norm(fill)
    lights.append(Light("directional", tuple(fill), (0.22, 0.22, 0.24)))
    amb = rng.uniform(0.3, 0.42)
    return Cell(ambient_up=(amb, amb, amb * 1.02), ambient_down=(0.75 * amb,) * 3,
                lights=tuple(lights))


def _garden(b: SceneBuilder, rooms: list[Room]) -> Cell:
    """Cell 2: ground, trees and a sky backdrop inside a 80 m box around the house."""
    rng = b.rng
    sky = random_sky(rng)
    light = tuple(min(1.0, c * 1.12 + 0.05) for c in sky.horizon)
    backdrop = b.add_material(MaterialSpec(int(Pattern.SMOOTH), sky.horizon, light, light,
                                           float(rng.uniform(6, 12)), emissive=1.0,
                                           seed=int(rng.integers(1 << 30))))
    zenith = b.add_material(MaterialSpec(int(Pattern.FLAT), sky.zenith, sky.zenith, sky.zenith,
                                         1.0, emissive=1.0))
    ground = b.material("ground")
    leaves = [b.material("foliage") for _ in range(2)]
    bark = b.material("bark")
    lo = np.min([r.lo for r in rooms], axis=0)[:2] - 2.5
    hi = np.max([r.hi for r in rooms], axis=0)[:2] + 2.5
    for _ in range(rng.integers(4, 10)):
        xy = rng.uniform(-GARDEN / 2, GARDEN / 2, 2)
        if np.all(xy > lo) and np.all(xy < hi):
            continue
        tree(b, 2, np.append(xy, 0.0), leaves[rng.integers(2)], bark)
    shell = Shell((-GARDEN, -GARDEN, 0.0), (GARDEN, GARDEN, 30.0),
                  (backdrop,) * 4 + (ground, zenith))
    up = tuple(0.25 + 0.35 * c for c in sky.zenith)
    return Cell(shell=shell, ambient_up=up, ambient_down=(0.2, 0.19, 0.17),
                lights=sun_lights(rng, sky))


def _room_shell(b: SceneBuilder, room: Room, portals: list[Portal]) -> Shell:
    """Floor, walls (maybe one accent wall) and ceiling materials of a room."""
    rng = b.rng
    wall = b.material("wall")
    walls = [wall] * 4
    if rng.random() < 0.4:
        walls[rng.integers(4)] = b.material("wall")
    mats = (*walls, b.material("floor"), b.material("ceiling"))
    return Shell(tuple(room.lo), tuple(room.hi), mats, tuple(portals))


def _portal(o: Opening, target: int) -> Portal:
    f, u0, u1, z0, z1 = o
    return Portal(f, (u0, z0 - (0.01 if z0 <= 0 else 0.0)), (u1, z1), target)


def build_indoor(seed: int, low_frequency: bool, device: torch.device) -> Scene:
    """An indoor scene for ``seed`` (see the module docstring)."""
    b = SceneBuilder(seed, "indoor", low_frequency)
    rng = b.rng
    size = np.array([rng.uniform(5, 10), rng.uniform(4.5, 9), rng.uniform(2.6, 3.6)])
    lo, hi = np.array([-size[0] / 2, -size[1] / 2, 0.0]), np.array([*size[:2] / 2, size[2]])
    door_face = int(rng.integers(4))
    lo_b, hi_b, door = _second_room(rng, lo, hi, door_face)
    windows = _windows(rng, lo, hi, [f for f in range(4) if f != door_face])
    far_window = []
    if rng.random() < 0.5:
        far_window = [w for w in _windows(rng, lo_b, hi_b, [door_face]) if w[0] == door_face][:1]
    palette = [b.material(r) for r in ("furniture", "furniture", "wood", "furniture", "metal")]
    main = Room(0, lo, hi, palette, openings=[door, *windows])
    back = Room(1, lo_b, hi_b, palette[:3] + [b.material("furniture")], openings=far_window)
    trim = b.material("wood" if rng.random() < 0.6 else "wall")
    for o in main.openings:
        _frame(b, main, o, trim, door=o is door)
    for room, o in ((main, door), (back, door)):  # keep the doorway clear on both sides
        _, _, along, _, _ = wall_frame(room, o[0])
        axis = o[0] // 2
        wall_at = hi[axis] if o[0] % 2 else lo[axis]
        band = (wall_at - 1.3, wall_at + 1.3)
        rect = [0.0] * 4
        rect[along], rect[along + 2] = o[1] - 0.3, o[2] + 0.3
        rect[axis], rect[axis + 2] = band
        room.taken.append(tuple(rect))
    area = size[0] * size[1]
    _furnish(b, main, int(np.clip(area / 7 + rng.integers(2, 7), 5, 16)))
    _furnish(b, back, int(rng.integers(2, 6)))
    for room in (main, back):
        _decorate(b, room)
    cells = [
        _lights(b, main, int(rng.integers(1, 4))),
        _lights(b, back, 1),
    ]
    shells = [_room_shell(b, main, [_portal(door, 1)] + [_portal(w, 2) for w in windows]),
              _room_shell(b, back, [_portal(w, 2) for w in far_window])]
    cells = [Cell(shell=s, ambient_up=c.ambient_up, ambient_down=c.ambient_down,
                  lights=c.lights) for s, c in zip(shells, cells, strict=True)]
    cells.append(_garden(b, [main, back]))
    doorway = np.array([0.0, 0.0, 1.2])
    doorway[door_face // 2] = hi[door_face // 2] if door_face % 2 else lo[door_face // 2]
    doorway[1 - door_face // 2] = (door[1] + door[2]) / 2
    b.landmark(doorway)
    b.landmark((lo + hi) / 2 * np.array([1, 1, 0]) + (0, 0, 1.0))
    b.landmarks = [m for m in b.landmarks if np.all(m > lo - 0.3) and np.all(m < hi + 0.3)]
    return b.build(np.stack([lo, hi]), tuple(cells), None, device)
