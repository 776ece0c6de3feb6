"""Deterministic lattice noise in torch: value noise and fractal sums, plus an integer hash.

Value noise interpolates (with a smoothstep fade) random values stored at the integer points
of a periodic lattice of :data:`PERIOD` units, read from one fixed table (generated once from
a fixed seed, so every device sees the same values). Different materials use different parts
of the lattice through an offset (:func:`seed_offset`). Coordinates are in noise units
(callers divide metres by a feature size); values are in [0, 1].

Anti-aliasing: :func:`fbm` takes the pixel footprint in noise units and replaces octaves
finer than it by their mean (0.5). An octave of feature size ``s`` is untouched while the
footprint is below ``s / 4``, so nearby surfaces look exactly the same from any viewpoint.
"""

from __future__ import annotations

import numpy as np
import torch

PERIOD = 32  # lattice period, noise units
_SIDE = PERIOD + 1  # the table repeats its first plane at the end, so corners never wrap
_TABLES: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
_MASK32 = 0xFFFFFFFF
# Per-octave shifts, so that octaves are not aligned with each other (noise units).
_SHIFTS = ((0.0, 0.0, 0.0), (11.37, 5.91, 23.13), (3.71, 17.29, 9.83), (19.53, 29.17, 1.61),
           (7.77, 13.31, 27.43), (25.19, 2.63, 15.97))


def _table(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """On ``device`` (cached): the flattened lattice [SIDE^3] float32, the 8 corner offsets
    [8, 1] int64 and the octave shifts [octaves, 3] float32."""
    if device not in _TABLES:
        values = np.random.default_rng(0x5EED).random((PERIOD,) * 3)
        values = np.pad(values, ((0, 1),) * 3, mode="wrap").astype(np.float32)
        offs = [((i >> 2) & 1) * _SIDE**2 + ((i >> 1) & 1) * _SIDE + (i & 1) for i in range(8)]
        _TABLES[device] = (torch.as_tensor(values.reshape(-1), device=device),
                           torch.tensor(offs, device=device)[:, None],
                           torch.tensor(_SHIFTS, dtype=torch.float32, device=device))
    return _TABLES[device]


def seed_offset(seed: int) -> np.ndarray:
    """A lattice offset [3] (noise units) that gives ``seed`` its own noise."""
    return np.random.default_rng([int(seed), 0x0FF5E7]).uniform(0, PERIOD, 3)


def hash3(
    ix: torch.Tensor, iy: torch.Tensor, iz: torch.Tensor, seed: int | torch.Tensor
) -> torch.Tensor:
    """A uniform value in [0, 1) per integer lattice point (broadcastable int64 tensors).

    64-bit integer arithmetic masked to 32 bits: identical on every device.
    """
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791) ^ ((seed * 2654435761) & _MASK32)
    h = h & _MASK32
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & _MASK32
    h = ((h ^ (h >> 12)) * 0x297A2D39) & _MASK32
    h = h ^ (h >> 15)
    return (h & 0xFFFFFF).to(torch.float32) * (1.0 / 0x1000000)


def value_noise(p: torch.Tensor) -> torch.Tensor:
    """Value noise at points ``p`` [N, 3] (noise units) -> [N] in [0, 1]."""
    table, offs, _ = _table(p.device)
    pt = p.T
    base = torch.floor(pt)
    u = pt - base
    u = u * u * (3.0 - 2.0 * u)  # [3, N]
    i = base.to(torch.int64) & (PERIOD - 1)  # PERIOD is a power of two
    idx = (i[0] * _SIDE + i[1]) * _SIDE + i[2]
    v = table.index_select(0, (idx[None] + offs).reshape(-1)).view(8, -1)
    v = torch.lerp(v[0::2], v[1::2], u[2])  # along z: [4, N]
    v = torch.lerp(v[0::2], v[1::2], u[1])  # along y: [2, N]
    return torch.lerp(v[0], v[1], u[0])


def fbm(
    p: torch.Tensor,
    octaves: int = 4,
    footprint: torch.Tensor | None = None,
    gain: float = 0.5,
) -> torch.Tensor:
    """Fractal sum of value noise at ``p`` [N, 3] (noise units) -> [N] in [0, 1].

    ``footprint`` [N] is the pixel size in noise units. Octave ``k`` (feature size 2^-k)
    fades to its mean between footprints of 2^-k / 4 and 2^-k / 2.
    """
    shifts = _table(p.device)[2].to(p.dtype)
    total = None
    norm = 0.0
    amp = 1.0
    freq = 1.0
    for k in range(octaves):
        n = value_noise(p * freq + shifts[k % len(_SHIFTS)])
        if footprint is not None:
            keep = (1.0 - (footprint * freq - 0.25) * 4.0).clamp(0.0, 1.0)
            n = 0.5 + (n - 0.5) * keep
        total = amp * n if total is None else total + amp * n
        norm += amp
        amp *= gain
        freq *= 2.0
    return total / norm
