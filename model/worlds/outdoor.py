"""Outdoor scenes: a ground disc, objects, a ring of mountains and a sky at infinity.

One cell. Cameras move in a square of half-size 10–18 m about the origin (``bounds``, up to
8 m high); objects stand inside and around it: trees, houses with gable roofs, rocks,
columns, arches, sculptures, walls, ponds, crates, bushes, lamp posts and towers. The
mountains are a finite-depth ring 180 m away; only the sky above them is at infinity.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import replace

import numpy as np
import torch

from latentstage.model.worlds.builder import SceneBuilder, yaw_matrix
from latentstage.model.worlds.furniture import Placer
from latentstage.model.worlds.materials import Pattern
from latentstage.model.worlds.scene import Cell, Ground, Horizon, Light, Scene, Sky

HORIZON_RADIUS = 180.0  # metres


def random_sky(rng: np.random.Generator) -> Sky:
    """A clear, cloudy or sunset sky with its sun."""
    sunset = rng.random() < 0.2
    hue = rng.uniform(0.55, 0.64)
    zenith = colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 0.8), rng.uniform(0.55, 0.9))
    horizon = colorsys.hsv_to_rgb(hue + rng.uniform(-0.03, 0.03), rng.uniform(0.08, 0.3),
                                  rng.uniform(0.85, 0.98))
    elevation = math.radians(rng.uniform(25, 65))
    sun_color, cloud = (1.0, 0.96, 0.88), (0.97, 0.97, 0.98)
    if sunset:
        horizon = colorsys.hsv_to_rgb(rng.uniform(0.02, 0.1), rng.uniform(0.3, 0.55),
                                      rng.uniform(0.88, 1.0))
        elevation = math.radians(rng.uniform(10, 22))
        sun_color, cloud = (1.0, 0.75, 0.5), (1.0, 0.86, 0.78)
    az = rng.uniform(0, 2 * math.pi)
    sun = (math.cos(elevation) * math.cos(az), math.cos(elevation) * math.sin(az),
           math.sin(elevation))
    return Sky(zenith=tuple(zenith), horizon=tuple(horizon), sun_direction=sun,
               sun_color=sun_color, cloud_color=cloud,
               cloud_cover=float(rng.choice([0.0, rng.uniform(0.25, 0.7)], p=[0.15, 0.85])),
               cloud_scale=float(rng.uniform(0.8, 2.0)), seed=int(rng.integers(1 << 30)))


def sun_lights(rng: np.random.Generator, sky: Sky) -> tuple[Light, ...]:
    """The sun (casting shadows) and a weak bounce light from below the horizon."""
    k = rng.uniform(0.85, 1.05)
    sun = Light("directional", sky.sun_direction, tuple(k * c for c in sky.sun_color),
                shadow=True)
    opposite = (-sky.sun_direction[0], -sky.sun_direction[1], 0.3)
    n = math.sqrt(sum(c * c for c in opposite))
    bounce = Light("directional", tuple(c / n for c in opposite), (0.12, 0.12, 0.14))
    return sun, bounce


def tree(b: SceneBuilder, cell: int, base: np.ndarray, leaves: int, bark: int) -> float:
    """A trunk with a round, stacked (conifer-like) or clustered crown; returns its height."""
    rng = b.rng
    th = rng.uniform(1.2, 2.8)
    b.cylinder(base + (0, 0, th / 2), rng.uniform(0.1, 0.25), th / 2, bark, cell)
    style = rng.integers(3)
    if style == 0:
        r = rng.uniform(1.0, 2.2)
        b.sphere(base + (0, 0, th + 0.7 * r), r, leaves, cell)
        return th + 1.7 * r
    if style == 1:
        r, z = rng.uniform(1.1, 1.7), th * 0.8
        for _ in range(3):
            b.sphere(base + (0, 0, z + r), r, leaves, cell)
            z, r = z + 1.2 * r, r * 0.7
        return z + r
    r = rng.uniform(0.9, 1.4)
    for _ in range(rng.integers(2, 4)):
        off = np.append(rng.uniform(-0.8, 0.8, 2) * r, rng.uniform(0.4, 1.0) * r)
        b.sphere(base + (0, 0, th) + off, r * rng.uniform(0.8, 1.1), leaves, cell)
    return th + 2.2 * r


def house(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """A house with a gable or flat roof, a door and windows."""
    rng = b.rng
    w, d = size, size * rng.uniform(0.6, 0.95)
    h = rng.uniform(2.6, 4.8)
    yaw = rng.uniform(0, 2 * math.pi)
    p = Placer(b, cell, base, yaw)
    p.box((0, 0, h / 2), (w, d, h), b.material("stone" if rng.random() < 0.5 else "wall"))
    if rng.random() < 0.75:
        half = math.sqrt(2) * (d / 2 + 0.3) / 2
        rx = np.array([[1, 0, 0], [0, math.cos(math.pi / 4), -math.sin(math.pi / 4)],
                       [0, math.sin(math.pi / 4), math.cos(math.pi / 4)]])
        b.box(p.world((0, 0, h)), (w / 2 + 0.3, half, half), b.material("roof"), cell,
              rot=yaw_matrix(yaw) @ rx)
        top = h + math.sqrt(2) * half
    else:
        p.box((0, 0, h + 0.15), (w + 0.2, d + 0.2, 0.3), b.material("roof"))
        top = h + 0.3
    dark = b.material("metal", pattern=int(Pattern.FLAT), color_a=(0.18, 0.15, 0.13))
    p.box((rng.uniform(-w / 4, w / 4), -d / 2 - 0.03, 1.05), (1.0, 0.08, 2.1), dark)
    pane = b.material("metal", pattern=int(Pattern.CHECKER), scale=0.45,
                      color_a=(0.25, 0.32, 0.4), color_b=(0.55, 0.65, 0.75))
    for x in rng.choice([-0.35, 0.35], size=rng.integers(1, 3), replace=False):
        p.box((x * w, -d / 2 - 0.03, min(1.6, h - 0.8)), (0.9, 0.08, 0.9), pane)
    return top


def rock(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """A tilted block or a half-buried boulder."""
    rng = b.rng
    mat = b.material("stone")
    if rng.random() < 0.5:
        from scipy.spatial.transform import Rotation

        rot = Rotation.from_rotvec(rng.normal(size=3) * 0.4).as_matrix()
        half = size / 2 * rng.uniform(0.5, 1.0, 3)
        b.box(base + (0, 0, half[2] * 0.5), half, mat, cell, rot=rot)
        return half[2] * 1.5
    r = size / 2
    b.sphere(base + (0, 0, -0.3 * r), r, mat, cell)
    return 0.7 * r


def columns(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """One to four columns on plinths, with a beam across when there are several."""
    rng = b.rng
    n = int(rng.integers(1, 5))
    h = rng.uniform(2.5, 5.0)
    r = rng.uniform(0.2, 0.4)
    stone = b.material("stone")
    p = Placer(b, cell, base, rng.uniform(0, 2 * math.pi))
    gap = rng.uniform(1.5, 2.5)
    for i in range(n):
        x = (i - (n - 1) / 2) * gap
        p.box((x, 0, 0.15), (2.6 * r, 2.6 * r, 0.3), stone)
        p.cyl((x, 0, 0.3 + (h - 0.6) / 2), r, h - 0.6, b.material("stone"))
        p.box((x, 0, h - 0.15), (2.6 * r, 2.6 * r, 0.3), stone)
    if n > 1:
        p.box((0, 0, h + 0.25), ((n - 1) * gap + 3 * r, 2.6 * r, 0.5), stone)
    return h


def arch(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """Two piers and a lintel."""
    rng = b.rng
    w, h, t = size, rng.uniform(2.5, 4.0), rng.uniform(0.4, 0.8)
    mat = b.material("stone" if rng.random() < 0.6 else "accent")
    p = Placer(b, cell, base, rng.uniform(0, 2 * math.pi))
    for sx in (-1, 1):
        p.box((sx * (w / 2 - t / 2), 0, h / 2), (t, t, h), mat)
    p.box((0, 0, h + t / 2), (w, t, t), mat)
    return h + t


def sculpture(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """A pedestal with a ball, a stack of balls or a drum on it."""
    rng = b.rng
    ph = rng.uniform(0.8, 1.5)
    p = Placer(b, cell, base, rng.uniform(0, 2 * math.pi))
    p.box((0, 0, ph / 2), (size * 0.6, size * 0.6, ph), b.material("stone"))
    z, r = ph, size * rng.uniform(0.25, 0.4)
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.7:
            p.sphere((0, 0, z + r), r, b.material("accent"))
        else:
            p.cyl((0, 0, z + r), r, 2 * r, b.material("accent"))
        z, r = z + 2 * r, r * 0.7
    return z


def wall(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """A garden wall or a hedge."""
    rng = b.rng
    h = rng.uniform(0.8, 2.0)
    role = "foliage" if rng.random() < 0.4 else "stone"
    p = Placer(b, cell, base, rng.uniform(0, 2 * math.pi))
    p.box((0, 0, h / 2), (size, rng.uniform(0.3, 0.8), h), b.material(role))
    return h


def pond(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """A flat disc of water with a stone rim."""
    b.cylinder(base + (0, 0, 0.05), size / 2 + 0.3, 0.05, b.material("stone"), cell,
               shadow=False)
    b.cylinder(base + (0, 0, 0.11), size / 2, 0.01, b.material("water"), cell, shadow=False)
    return 0.12


def crates(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """A few boxes stacked up."""
    rng = b.rng
    mat = b.material("wood")
    z, top = 0.0, 0.0
    for _ in range(rng.integers(1, 4)):
        s = rng.uniform(0.5, 1.1)
        off = np.append(rng.uniform(-0.3, 0.3, 2), z + s / 2)
        b.box(base + off, (s / 2, s / 2, s / 2), mat if rng.random() < 0.7 else
              b.material("wood"), cell, yaw=rng.uniform(0, math.pi))
        z, top = z + s, z + s
    return top


def bush(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """One to three half-buried balls of foliage."""
    rng = b.rng
    mat = b.material("foliage")
    for _ in range(rng.integers(1, 4)):
        r = size / 2 * rng.uniform(0.5, 1.0)
        off = np.append(rng.uniform(-0.5, 0.5, 2) * size / 2, 0.2 * r)
        b.sphere(base + off, r, mat, cell)
    return size / 2


def lamp_post(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """A pole with a glowing globe."""
    h = b.rng.uniform(2.8, 4.0)
    b.cylinder(base + (0, 0, h / 2), 0.07, h / 2, b.material("metal"), cell)
    glow = b.material("accent", pattern=int(Pattern.FLAT), emissive=1.0, variation=0.0,
                      color_a=(1.0, 0.92, 0.7))
    b.sphere(base + (0, 0, h + 0.2), 0.25, glow, cell, shadow=False)
    return h + 0.45


def tower(b: SceneBuilder, cell: int, base: np.ndarray, size: float) -> float:
    """A square obelisk or a round tower with a dome."""
    rng = b.rng
    h = rng.uniform(5.0, 11.0)
    if rng.random() < 0.5:
        p = Placer(b, cell, base, rng.uniform(0, math.pi))
        p.box((0, 0, h / 2), (size * 0.5, size * 0.5, h), b.material("stone"))
        p.box((0, 0, h + 0.3), (size * 0.3, size * 0.3, 0.6), b.material("accent"))
        return h + 0.6
    r = size / 2
    b.cylinder(base + (0, 0, h / 2), r, h / 2, b.material("wall"), cell)
    b.sphere(base + (0, 0, h), r, b.material("roof"), cell)
    return h + r


# builder, footprint size range (m), weight
OBJECTS = {
    "tree": (None, (2.0, 4.0), 6), "house": (house, (4.0, 8.0), 2), "rock": (rock, (0.6, 2.0), 3),
    "columns": (columns, (1.0, 1.0), 1), "arch": (arch, (2.5, 4.5), 1),
    "sculpture": (sculpture, (0.8, 1.4), 1), "wall": (wall, (3.0, 9.0), 1),
    "pond": (pond, (3.0, 7.0), 1), "crates": (crates, (1.2, 1.8), 1),
    "bush": (bush, (0.8, 2.0), 2), "lamp": (lamp_post, (0.6, 0.6), 1),
    "tower": (tower, (1.5, 3.0), 1),
}


def _place(b: SceneBuilder, cell: int, ring: tuple[float, float], taken: list,
           leaves: list[int], bark: int, names: tuple[str, ...] = tuple(OBJECTS)) -> None:
    """One random object (maybe a grove of trees) at a distance in ``ring`` (metres) from the
    origin, if it fits; objects within 30 m become landmarks."""
    rng = b.rng
    weights = np.array([OBJECTS[n][2] for n in names], np.float64)
    name = names[rng.choice(len(names), p=weights / weights.sum())]
    fn, (s0, s1), _ = OBJECTS[name]
    size = rng.uniform(s0, s1)
    radius = size * (3.0 if name == "columns" else 0.75)
    for _ in range(20):
        dist = math.sqrt(rng.uniform(ring[0] ** 2, ring[1] ** 2))
        a = rng.uniform(0, 2 * math.pi)
        xy = np.array([dist * math.cos(a), dist * math.sin(a)])
        if all(np.hypot(*(xy - q)) > radius + r + 1.0 for q, r in taken):
            break
    else:
        return
    taken.append((xy, radius))
    base = np.array([xy[0], xy[1], 0.0])
    if fn is None:
        top = tree(b, cell, base, leaves[rng.integers(len(leaves))], bark)
        if rng.random() < 0.4:  # a grove
            for _ in range(rng.integers(2, 5)):
                off = np.append(rng.uniform(-4, 4, 2), 0.0)
                if all(np.hypot(*(base[:2] + off[:2] - q)) > 1.5 + r for q, r in taken):
                    taken.append((base[:2] + off[:2], 1.5))
                    tree(b, cell, base + off, leaves[rng.integers(len(leaves))], bark)
    else:
        top = fn(b, cell, base, size)
    if np.hypot(*xy) < 30:
        b.landmark(base + (0, 0, min(top / 2, 3.0)))


def _horizon(b: SceneBuilder, sky: Sky) -> Horizon:
    """A ridge of 10 harmonics at least 6 m high, hazy towards the sky's horizon colour."""
    rng = b.rng
    base = rng.uniform(14, 32)
    amp = [rng.uniform(0, 1) * base * 0.5 / k**0.8 for k in range(1, 11)]
    phase = [rng.uniform(0, 2 * math.pi) for _ in range(10)]
    phi = np.linspace(0, 2 * math.pi, 720)
    ridge = base + sum(a * np.sin((k + 1) * phi + ph) for k, (a, ph) in enumerate(zip(
        amp, phase, strict=True)))
    base += max(0.0, 8.0 - ridge.min())
    role = "foliage" if rng.random() < 0.5 else "stone"
    spec = b.material(role, pattern=int(Pattern.NOISE), emissive=float(rng.uniform(0.3, 0.5)))
    m = b.materials[spec]
    haze = 0.45
    mix = [tuple((1 - haze) * c + haze * h for c, h in zip(col, sky.horizon, strict=True))
           for col in (m.color_a, m.color_b)]
    b.materials[spec] = type(m)(**{**m.__dict__, "color_a": mix[0], "color_b": mix[1],
                                   "scale": max(m.scale, 12.0)})
    return Horizon(HORIZON_RADIUS, base, tuple(amp), tuple(phase), spec)


def build_outdoor(seed: int, low_frequency: bool, device: torch.device) -> Scene:
    """An outdoor scene for ``seed`` (see the module docstring)."""
    b = SceneBuilder(seed, "outdoor", low_frequency)
    rng = b.rng
    half = rng.uniform(10, 18)
    sky = random_sky(rng)
    if low_frequency:  # no fine cloud detail either
        sky = replace(sky, cloud_cover=0.0)
    ground = Ground(0.0, HORIZON_RADIUS, b.material("ground"))
    horizon = _horizon(b, sky)
    if rng.random() < 0.5:  # a paved plaza
        s = rng.uniform(6, 16, 2)
        b.box((*rng.uniform(-4, 4, 2), 0.015), (s[0] / 2, s[1] / 2, 0.015),
              b.material("stone", pattern=int(Pattern.TILES)), 0, yaw=rng.uniform(0, math.pi),
              shadow=False)
    leaves = [b.material("foliage") for _ in range(2)]
    bark = b.material("bark")
    taken: list = []
    for _ in range(int(rng.integers(14, 26))):
        _place(b, 0, (0.0, half + 6), taken, leaves, bark)
    for _ in range(int(rng.integers(5, 11))):
        _place(b, 0, (half + 8, half + 45), taken, leaves, bark, ("tree", "house", "tower"))
    up = tuple(0.25 + 0.35 * c for c in sky.zenith)
    cell = Cell(ground=ground, horizon=horizon, sky=True, ambient_up=up,
                ambient_down=(0.2, 0.19, 0.17), lights=sun_lights(rng, sky))
    bounds = np.array([[-half, -half, 0.0], [half, half, 8.0]])
    return b.build(bounds, (cell,), sky, device)
