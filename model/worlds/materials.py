"""Procedural materials evaluated in world or object coordinates (so they are view-consistent).

A material maps a surface point ``q`` (metres, in the frame of the object it belongs to: its
local frame for solids, the world frame for rooms and the ground) to an albedo in [0, 1].
Patterns: flat, checkers, stripes, tiles/bricks, fractal noise, gradients, wood rings, dots,
marble and smooth (low-frequency) noise. Two-dimensional patterns (checkers, tiles, dots)
use the two axes of ``q`` across the surface, picked from the surface normal.

Anti-aliasing: each pattern knows its feature size, and fades to its mean colour once the
pixel footprint (metres per pixel at the hit) gets close to that size, like a mip-map. Below
a fixed fraction of the feature size nothing depends on the footprint, so nearby surfaces
look exactly the same from any viewpoint.

``low_frequency`` scenes draw only flat, gradient and smooth-noise materials whose features
are 1 m or larger (see :data:`LOW_FREQUENCY_PATTERNS`).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import astuple, dataclass, fields
from enum import IntEnum

import numpy as np
import torch

from latentstage.model.worlds.noise import fbm, hash3, seed_offset


class Pattern(IntEnum):
    """Material patterns (the ``pattern`` column of :class:`MaterialTable`)."""

    FLAT = 0
    CHECKER = 1
    STRIPES = 2
    TILES = 3
    NOISE = 4
    GRADIENT = 5
    RINGS = 6
    DOTS = 7
    MARBLE = 8
    SMOOTH = 9


#: Patterns allowed in ``low_frequency`` scenes (features of 1 m or more, no sharp edges).
LOW_FREQUENCY_PATTERNS = (Pattern.FLAT, Pattern.GRADIENT, Pattern.SMOOTH)


@dataclass(frozen=True)
class MaterialSpec:
    """One material, as plain numbers (built on the CPU from a seeded generator)."""

    pattern: int  # a Pattern value
    color_a: tuple[float, float, float]  # base RGB in [0, 1]
    color_b: tuple[float, float, float]  # second RGB in [0, 1] (pattern value 1)
    color_c: tuple[float, float, float]  # grout / vein / accent RGB in [0, 1]
    scale: float  # metres: period or feature size of the pattern
    axis: tuple[float, float, float] = (0.0, 0.0, 1.0)  # unit vector for stripes/gradient/rings
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # pattern phase, in periods
    param: float = 0.0  # stripes: duty threshold in [-0.6, 0.6]; tiles: grout width (m);
    #                     dots: radius as a fraction of the period; gradient: centre (m)
    param2: float = 1.0  # tiles: brick aspect (width/height); >1 also offsets every other row
    variation: float = 0.0  # amplitude of a slow multiplicative colour variation (0: none)
    emissive: float = 0.0  # 0: lit by the lights; 1: shows its albedo unlit (lamps, backdrops)
    seed: int = 0  # noise seed of this material


@dataclass
class MaterialTable:
    """All materials of a scene as tensors on the scene's device (row m = material m)."""

    pattern: torch.Tensor  # [M] int64 Pattern values
    color_a: torch.Tensor  # [M, 3] float32 RGB
    color_b: torch.Tensor  # [M, 3] float32 RGB
    color_c: torch.Tensor  # [M, 3] float32 RGB
    scale: torch.Tensor  # [M] float32 metres
    axis: torch.Tensor  # [M, 3] float32 unit vectors
    offset: torch.Tensor  # [M, 3] float32 periods
    param: torch.Tensor  # [M] float32
    param2: torch.Tensor  # [M] float32
    variation: torch.Tensor  # [M] float32
    emissive: torch.Tensor  # [M] float32
    seed: torch.Tensor  # [M] int64 hash seed (tile colours)
    noise_offset: torch.Tensor  # [M, 3] float32 lattice offset of the material's noise
    colors: torch.Tensor | None = None  # [M, 9] color_a, color_b, color_c side by side
    packed: torch.Tensor | None = None  # [M, 12] scale, axis, offset, param, param2, noise_offset

    def __post_init__(self) -> None:
        self.colors = torch.cat([self.color_a, self.color_b, self.color_c], 1)
        self.packed = torch.cat([self.scale[:, None], self.axis, self.offset, self.param[:, None],
                                 self.param2[:, None], self.noise_offset], 1)

    @classmethod
    def from_specs(cls, specs: list[MaterialSpec], device: torch.device) -> MaterialTable:
        """Stack ``specs`` into tensors on ``device``."""
        cols = list(zip(*(astuple(s) for s in specs), strict=True))
        out = {}
        for f, col in zip(fields(MaterialSpec), cols, strict=True):
            dtype = torch.int64 if f.name in ("pattern", "seed") else torch.float32
            out[f.name] = torch.tensor(col, dtype=dtype, device=device)
        offsets = np.stack([seed_offset(s.seed) for s in specs])
        return cls(**out, noise_offset=torch.tensor(offsets, dtype=torch.float32, device=device))


# ----- sampling ------------------------------------------------------------------------------
# Per role: (hue range, saturation range, value range) of the base colour.
_PALETTES = {
    "wall": ((0.0, 1.0), (0.04, 0.35), (0.62, 0.95)),
    "ceiling": ((0.0, 1.0), (0.0, 0.08), (0.85, 0.97)),
    "floor": ((0.03, 0.12), (0.25, 0.65), (0.3, 0.75)),
    "furniture": ((0.0, 1.0), (0.2, 0.8), (0.3, 0.9)),
    "accent": ((0.0, 1.0), (0.55, 0.95), (0.55, 0.95)),
    "wood": ((0.04, 0.11), (0.35, 0.75), (0.3, 0.75)),
    "metal": ((0.5, 0.7), (0.0, 0.15), (0.45, 0.8)),
    "foliage": ((0.18, 0.38), (0.4, 0.85), (0.22, 0.6)),
    "bark": ((0.04, 0.1), (0.35, 0.65), (0.2, 0.45)),
    "stone": ((0.0, 1.0), (0.02, 0.18), (0.4, 0.8)),
    "ground": ((0.08, 0.33), (0.3, 0.7), (0.3, 0.65)),
    "roof": ((0.0, 1.0), (0.3, 0.7), (0.3, 0.65)),
    "water": ((0.5, 0.62), (0.4, 0.8), (0.35, 0.7)),
}
# Per role: patterns (weights) it may use in normal scenes.
_ROLE_PATTERNS = {
    "wall": {Pattern.FLAT: 3, Pattern.STRIPES: 2, Pattern.TILES: 2, Pattern.NOISE: 1,
             Pattern.GRADIENT: 1, Pattern.DOTS: 1, Pattern.CHECKER: 1, Pattern.MARBLE: 1},
    "ceiling": {Pattern.FLAT: 3, Pattern.TILES: 1, Pattern.SMOOTH: 1},
    "floor": {Pattern.STRIPES: 2, Pattern.TILES: 3, Pattern.CHECKER: 2, Pattern.RINGS: 1,
              Pattern.NOISE: 1, Pattern.MARBLE: 1},
    "furniture": {Pattern.FLAT: 2, Pattern.STRIPES: 2, Pattern.CHECKER: 2, Pattern.NOISE: 2,
                  Pattern.RINGS: 2, Pattern.DOTS: 1, Pattern.GRADIENT: 1, Pattern.MARBLE: 1},
    "accent": {Pattern.FLAT: 1, Pattern.STRIPES: 2, Pattern.CHECKER: 2, Pattern.DOTS: 2,
               Pattern.NOISE: 1, Pattern.MARBLE: 1},
    "wood": {Pattern.RINGS: 3, Pattern.STRIPES: 1, Pattern.NOISE: 1},
    "metal": {Pattern.FLAT: 2, Pattern.NOISE: 1, Pattern.GRADIENT: 1},
    "foliage": {Pattern.NOISE: 3, Pattern.SMOOTH: 1},
    "bark": {Pattern.STRIPES: 2, Pattern.NOISE: 2},
    "stone": {Pattern.NOISE: 3, Pattern.TILES: 2, Pattern.MARBLE: 1},
    "ground": {Pattern.NOISE: 6, Pattern.SMOOTH: 2, Pattern.TILES: 1},
    "roof": {Pattern.TILES: 2, Pattern.STRIPES: 2, Pattern.FLAT: 1},
    "water": {Pattern.NOISE: 1, Pattern.SMOOTH: 1},
}
# Feature size range (metres) per pattern in normal scenes.
_SCALES = {
    Pattern.FLAT: (1.0, 1.0), Pattern.CHECKER: (0.2, 1.0), Pattern.STRIPES: (0.08, 0.6),
    Pattern.TILES: (0.2, 0.8), Pattern.NOISE: (0.3, 2.5), Pattern.GRADIENT: (1.0, 4.0),
    Pattern.RINGS: (0.03, 0.12), Pattern.DOTS: (0.1, 0.5), Pattern.MARBLE: (0.3, 1.5),
    Pattern.SMOOTH: (1.5, 5.0),
}


def random_color(rng: np.random.Generator, role: str) -> tuple[float, float, float]:
    """A random RGB colour in the role's palette."""
    (h0, h1), (s0, s1), (v0, v1) = _PALETTES[role]
    h = rng.uniform(h0, h1) % 1.0
    return colorsys.hsv_to_rgb(h, rng.uniform(s0, s1), rng.uniform(v0, v1))


# Roles whose second colour is usually a shade of the first (natural-looking surfaces).
_SUBTLE = {"wall": 0.9, "ceiling": 0.95, "floor": 0.9, "wood": 0.9, "metal": 0.8,
           "foliage": 1.0, "bark": 1.0, "stone": 0.85, "ground": 0.9, "roof": 0.8,
           "water": 0.8}


def _partner(rng: np.random.Generator, a: tuple[float, ...], role: str) -> tuple[float, ...]:
    """A second colour that contrasts with ``a``: a shade of it, or another palette colour."""
    subtle = role in _SUBTLE
    choice = 0 if rng.random() < _SUBTLE.get(role, 0.3) else rng.integers(1, 3)
    if choice == 0:  # darker or lighter shade
        dark, light = ((0.6, 0.85), (1.15, 1.4)) if subtle else ((0.45, 0.75), (1.25, 1.6))
        k = rng.choice([rng.uniform(*dark), rng.uniform(*light)])
        return tuple(float(np.clip(c * k, 0.0, 1.0)) for c in a)
    if choice == 1:  # hue shift
        h, s, v = colorsys.rgb_to_hsv(*a)
        return colorsys.hsv_to_rgb((h + rng.uniform(0.08, 0.5)) % 1.0, min(1.0, s + 0.2), v)
    return random_color(rng, "accent" if rng.random() < 0.4 else role)


def random_material(
    rng: np.random.Generator, role: str, low_frequency: bool = False, **overrides
) -> MaterialSpec:
    """A random material for a role ("wall", "floor", "furniture", "foliage", ...)."""
    if low_frequency:
        pattern = Pattern(rng.choice(LOW_FREQUENCY_PATTERNS, p=[0.2, 0.4, 0.4]))
        scale = rng.uniform(2.0, 5.0)
    else:
        options = _ROLE_PATTERNS[role]
        keys = list(options)
        weights = np.array([options[k] for k in keys], dtype=np.float64)
        pattern = keys[rng.choice(len(keys), p=weights / weights.sum())]
        lo, hi = _SCALES[pattern]
        scale = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    a = random_color(rng, role)
    b = _partner(rng, a, role)
    c = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0, 0.2), rng.choice([0.15, 0.85]))
    axis = rng.normal(size=3)
    if rng.random() < 0.7:  # mostly axis-aligned stripes and gradients
        axis = np.eye(3)[rng.integers(3)]
    axis = axis / np.linalg.norm(axis)
    param = {
        Pattern.STRIPES: rng.uniform(-0.5, 0.5),
        Pattern.TILES: rng.uniform(0.006, 0.03),
        Pattern.DOTS: rng.uniform(0.15, 0.4),
    }.get(pattern, 0.0)
    spec = MaterialSpec(
        pattern=int(pattern),
        color_a=tuple(float(x) for x in a),
        color_b=tuple(float(x) for x in b),
        color_c=tuple(float(x) for x in c),
        scale=float(scale),
        axis=tuple(float(x) for x in axis),
        offset=tuple(float(x) for x in rng.uniform(0.1, 0.9, size=3)),
        param=float(param),
        param2=float(rng.choice([1.0, 1.0, 2.0, 3.0])),
        variation=0.0 if low_frequency else float(rng.uniform(0.05, 0.2)),
        seed=int(rng.integers(1 << 30)),
    )
    return spec if not overrides else MaterialSpec(**{**spec.__dict__, **overrides})


# ----- evaluation ----------------------------------------------------------------------------
def _smoothstep(t: torch.Tensor) -> torch.Tensor:
    t = t.clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _fade(fpr: torch.Tensor, lo: float = 0.25, hi: float = 0.6) -> torch.Tensor:
    """Weight of the mean colour: 0 while the footprint is below ``lo`` periods, 1 above ``hi``."""
    return ((fpr - lo) / (hi - lo)).clamp(0.0, 1.0)


def _tangent(x: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two coordinates of ``x`` [n, 3] across a surface of normal ``n`` [n, 3].

    x-facing: (y, z); y-facing: (x, z); z-facing: (x, y). So walls get a vertical second axis.
    """
    a = n.abs()
    kz = (a[:, 2] >= a[:, 0]) & (a[:, 2] >= a[:, 1])
    kx = ~kz & (a[:, 0] >= a[:, 1])
    u = torch.where(kx, x[:, 1], x[:, 0])
    v = torch.where(kz, x[:, 1], x[:, 2])
    return u, v


@dataclass
class _Sub:
    """Inputs of one pattern's evaluation on a subset of n points."""

    x: torch.Tensor  # [n, 3] position in periods (q / scale)
    q: torch.Tensor  # [n, 3] position in metres
    n: torch.Tensor  # [n, 3] surface normal in the same frame
    fp: torch.Tensor  # [n] footprint, metres per pixel
    fpr: torch.Tensor  # [n] footprint in periods
    scale: torch.Tensor  # [n] metres
    axis: torch.Tensor  # [n, 3]
    off: torch.Tensor  # [n, 3] periods
    param: torch.Tensor  # [n]
    param2: torch.Tensor  # [n]
    seed: torch.Tensor  # [n] int64
    noff: torch.Tensor  # [n, 3] noise lattice offset


def _checker(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    u, v = _tangent(s.x + s.off, s.n)
    w = (math.pi * s.fpr).clamp(min=0.05)
    c = (torch.sin(math.pi * u) / w).clamp(-1, 1) * (torch.sin(math.pi * v) / w).clamp(-1, 1)
    return 0.5 - 0.5 * c * (1 - _fade(s.fpr)), None


def _stripes(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    t = torch.sin(2 * math.pi * ((s.x * s.axis).sum(-1) + s.off[:, 0]))
    w = (2 * math.pi * s.fpr).clamp(min=0.1)
    v = (0.5 + (t - s.param) / (2 * w)).clamp(0, 1)
    mean = torch.arccos(s.param.clamp(-1, 1)) / math.pi
    return v + (mean - v) * _fade(s.fpr), None


def _tiles(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    u, v = _tangent(s.q / s.scale[:, None] + s.off, s.n)
    u = u / s.param2
    row = torch.floor(v)
    u = u + 0.5 * row * (s.param2 > 1)
    col = torch.floor(u)
    fu, fv = u - col, v - row
    du = torch.minimum(fu, 1 - fu) * s.scale * s.param2
    dv = torch.minimum(fv, 1 - fv) * s.scale
    e = s.fp.clamp(min=0.003)
    g = ((s.param + e - torch.minimum(du, dv)) / (2 * e)).clamp(0, 1)
    f = _fade(s.fpr)
    g_mean = (2 * s.param / s.scale * (1 + 1 / s.param2)).clamp(max=1)
    jitter = 0.7 * hash3(col.to(torch.int64), row.to(torch.int64), torch.full_like(s.seed, 5),
                         s.seed)
    return jitter + (0.35 - jitter) * f, g + (g_mean - g) * f


def _noise(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    n = fbm(s.x + s.noff, 4, s.fpr)
    return _smoothstep((n - 0.25) / 0.5), None


def _smooth(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    n = fbm(s.x + s.noff, 2, s.fpr)
    return _smoothstep((n - 0.2) / 0.6), None


def _gradient(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    return _smoothstep(0.5 + (s.x * s.axis).sum(-1) - s.param / s.scale), None


def _rings(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    along = (s.x * s.axis).sum(-1, keepdim=True)
    r = (s.x - along * s.axis).norm(dim=-1)
    r = r + 1.5 * fbm(s.x * 0.15 + s.noff, 2, s.fpr * 0.15)
    t = 0.5 + 0.5 * torch.sin(2 * math.pi * r)
    v = t * t
    return v + (0.375 - v) * _fade(s.fpr), None


def _dots(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    u, v = _tangent(s.x + s.off, s.n)
    du, dv = u - torch.floor(u) - 0.5, v - torch.floor(v) - 0.5
    dist = torch.sqrt(du * du + dv * dv)
    w = s.fpr.clamp(min=0.02)
    val = ((s.param + w - dist) / (2 * w)).clamp(0, 1)
    return val + (math.pi * s.param * s.param - val) * _fade(s.fpr), None


def _marble(s: _Sub) -> tuple[torch.Tensor, torch.Tensor | None]:
    n = fbm(s.x * 0.8 + s.noff, 4, s.fpr * 0.8)
    x1 = (s.x * s.axis).sum(-1) + 2.5 * n
    w = (math.pi * s.fpr).clamp(min=0.12)
    vein = (1 - torch.sin(math.pi * x1).abs() / w).clamp(0, 1)
    return _smoothstep((n - 0.3) / 0.4), vein * vein * (1 - _fade(s.fpr))


_EVAL = {
    Pattern.CHECKER: _checker, Pattern.STRIPES: _stripes, Pattern.TILES: _tiles,
    Pattern.NOISE: _noise, Pattern.GRADIENT: _gradient, Pattern.RINGS: _rings,
    Pattern.DOTS: _dots, Pattern.MARBLE: _marble, Pattern.SMOOTH: _smooth,
}


def _rows(x: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
    """``x[idx]`` along dim 0 (``index_select``, faster than fancy indexing); all if None."""
    return x if idx is None else x.index_select(0, idx)


def _subset(table: MaterialTable, mat: torch.Tensor, q: torch.Tensor, n: torch.Tensor,
            fp: torch.Tensor, idx: torch.Tensor | None) -> _Sub:
    """The inputs of a pattern for the points ``idx`` (all if None)."""
    m = _rows(mat, idx)
    k = table.packed.index_select(0, m)
    scale = k[:, 0]
    qi, fpi = _rows(q, idx), _rows(fp, idx)
    return _Sub(qi / scale[:, None], qi, _rows(n, idx), fpi, fpi / scale, scale, k[:, 1:4],
                k[:, 4:7], k[:, 7], k[:, 8], table.seed.index_select(0, m), k[:, 9:12])


def evaluate(
    table: MaterialTable,
    mat: torch.Tensor,  # [N] int64 material index
    q: torch.Tensor,  # [N, 3] texture position, metres (object or world frame)
    n: torch.Tensor,  # [N, 3] surface normal in the same frame
    footprint: torch.Tensor,  # [N] metres per pixel at the point
) -> tuple[torch.Tensor, torch.Tensor]:
    """Albedo [N, 3] in [0, 1] and emissive weight [N] of each point."""
    pat = table.pattern.index_select(0, mat)
    v = torch.zeros_like(footprint)
    g = torch.zeros_like(footprint)
    counts = torch.bincount(pat, minlength=len(Pattern)).tolist()
    for p, count in enumerate(counts):
        fn = _EVAL.get(Pattern(p))
        if fn is None or count == 0:
            continue
        idx = None if count == len(pat) else (pat == p).nonzero().squeeze(1)
        sv, sg = fn(_subset(table, mat, q, n, footprint, idx))
        if idx is None:
            v, g = sv, (g if sg is None else sg)
            continue
        v.index_copy_(0, idx, sv)
        if sg is not None:
            g.index_copy_(0, idx, sg)
    cols = table.colors.index_select(0, mat)
    a, b, c = cols[:, 0:3], cols[:, 3:6], cols[:, 6:9]
    col = a + (b - a) * v[:, None]
    col = col + (c - col) * g[:, None]
    var = table.variation.index_select(0, mat)
    if bool((var > 0).any()):
        off = table.noise_offset.index_select(0, mat)
        slow = fbm(q / 2.7 + off + 7.0, 1, footprint / 2.7)
        col = col * (1 + var * (2 * slow - 1))[:, None]
    return col.clamp(0, 1), table.emissive.index_select(0, mat)
