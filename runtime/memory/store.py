"""The point store: the memory's points in fixed-capacity typed buffers, one per field of the
per-point record (:data:`FIELDS`), a coarse block index for culling, and the state dict that
snapshots hold.

A point's position is stored relative to its voxel (the voxel key gives the voxel's corner and
side), so three 16-bit integers hold it to 1/65535 of a voxel side (a voxel is about half a
latent pixel's footprint).
Slots are grouped in blocks of :data:`BLOCK` consecutive slots, each with the axis-aligned
bounds of its points: a readout culls whole blocks against the view frustum first. A write
inserts a frame's new points into consecutive free slots, so a block mostly holds one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

INT64_MAX = torch.iinfo(torch.int64).max
INT32_MAX = torch.iinfo(torch.int32).max
LEVEL_BITS, COORD_BITS = 5, 19  # voxel key: level (5 bits) then x, y, z (19 bits each)
COORD_OFFSET = 1 << (COORD_BITS - 1)
COORD_MASK = (1 << COORD_BITS) - 1
OFFSET_UNITS = 65535  # a position inside its voxel, in 1/65535 of the voxel side per axis
OFFSET_BIAS = 32768  # stored offset = units - 32768 (an int16)
SLANT_UNITS = 85  # slant (1..4) is stored as round((slant - 1) * 85), 0..255
BLOCK = 512  # slots per block of the culling index


@dataclass(frozen=True)
class Field:
    """One per-point buffer of the store."""

    dtype: torch.dtype  # storage type
    columns: int | str  # 0: one value per point; "C": the latent channels; n: n values
    low: float = -math.inf  # smallest value a snapshot may hold
    high: float = math.inf  # largest value a snapshot may hold
    empty: int = 0  # value of a free slot


#: The per-point record, one line per field; bytes per point in the comment (C channels).
FIELDS: dict[str, Field] = {
    # 8: voxel level (5 bits) then x, y, z (19 bits each); free slots hold INT64_MAX
    "key": Field(torch.int64, 0, 0, 2.0**62, empty=INT64_MAX),
    # 6: position inside the voxel in 1/65535 of its side, minus 32768 (int16: torch indexes
    # no uint16)
    "offset": Field(torch.int16, 3),
    "feat": Field(torch.float16, "C"),  # 2C: fused latent features
    "weight": Field(torch.float16, 0, 0.0),  # 2: accumulated confidence (<= max_weight)
    "trust": Field(torch.float16, 0, 0.0),  # 2: highest confidence of any one write
    "extent": Field(torch.float16, 0, 0.0),  # 2: metres: side of the surface patch it covers
    "slant": Field(torch.uint8, 0),  # 1: (token spacing / footprint - 1) * 85, slant 1..4
    "last_seen": Field(torch.int32, 0, 0, INT32_MAX),  # 4: last write that saw it (saturates)
}
FP16_MAX = 65504.0  # largest finite float16: weights, trust and extents are clamped to it


def voxel_size(key: torch.Tensor, base: float) -> torch.Tensor:
    """[M] float64 voxel side in metres of voxel keys [M]."""
    level = (key >> (3 * COORD_BITS)).double()
    return base * torch.exp2(level)


def voxel_corner(key: torch.Tensor) -> torch.Tensor:
    """[M, 3] float64 integer voxel coordinates (signed) of voxel keys [M]."""
    shifts = torch.tensor([2 * COORD_BITS, COORD_BITS, 0], device=key.device)
    return (((key[:, None] >> shifts) & COORD_MASK) - COORD_OFFSET).double()


def encode_offsets(key: torch.Tensor, pts: torch.Tensor, base: float) -> torch.Tensor:
    """int16 [M, 3] positions inside their voxels of world points [M, 3] with keys [M]."""
    frac = pts.double() / voxel_size(key, base)[:, None] - voxel_corner(key)
    q = torch.round(frac.clamp(0, 1) * OFFSET_UNITS).to(torch.int32) - OFFSET_BIAS
    return q.to(torch.int16)


def from_float_record(t: dict[str, torch.Tensor], base: float) -> dict[str, torch.Tensor]:
    """The record of snapshot formats 1 to 3 (float32 ``pos``, ``feat``, ``weight``,
    ``trust``, ``extent``, ``slant``, int64 ``last_seen``; verified) as :data:`FIELDS`."""
    out = {"slot": t["slot"], "key": t["key"], "feat": t["feat"].half(),
           "offset": encode_offsets(t["key"], t["pos"], base),
           "slant": encode_slant(t["slant"]),
           "last_seen": t["last_seen"].clamp(0, INT32_MAX).to(torch.int32)}
    for name in ("weight", "trust", "extent"):
        out[name] = t[name].clamp(max=FP16_MAX).half()
    n = t["slot"].shape[0]
    for name, f in FIELDS.items():  # fields added since format 3 start empty
        if name not in out:
            cols = f.columns
            shape = (n,) if cols == 0 else (n, t["feat"].shape[1] if cols == "C" else cols)
            out[name] = torch.full(shape, f.empty, dtype=f.dtype)
    return out


def encode_slant(slant: torch.Tensor) -> torch.Tensor:
    """uint8 [M] of slants [M] in 1..4."""
    return torch.round((slant - 1) * SLANT_UNITS).clamp(0, 255).to(torch.uint8)


def decode_slant(q: torch.Tensor) -> torch.Tensor:
    """float32 [M] slants of uint8 [M]."""
    return 1 + q.float() / SLANT_UNITS


class PointStore:
    """Fixed-capacity typed point buffers (:data:`FIELDS`) with a block culling index."""

    def __init__(self, capacity: int, channels: int, voxel_base: float, device: torch.device):
        self.capacity, self.channels, self.voxel_base = capacity, channels, voxel_base
        self.device = device
        for name, f in FIELDS.items():
            setattr(self, name, torch.full(self.shape(name, capacity), f.empty, dtype=f.dtype,
                                           device=device))
        blocks = -(-capacity // BLOCK)
        self.block_lo = torch.full((blocks, 3), math.inf, device=device)  # [B, 3] metres
        self.block_hi = torch.full((blocks, 3), -math.inf, device=device)  # [B, 3] metres
        self.count = 0  # stored points
        self.high = 0  # high-water mark: every occupied slot is below it

    def shape(self, name: str, n: int) -> tuple[int, ...]:
        """Shape of field ``name`` for ``n`` points."""
        cols = FIELDS[name].columns
        return (n,) if cols == 0 else (n, self.channels if cols == "C" else cols)

    def bytes_per_point(self) -> float:
        """Bytes the store holds per point: the record plus its share of the block index."""
        record = sum(math.prod(self.shape(n, 1)) * f.dtype.itemsize for n, f in FIELDS.items())
        return record + 2 * 3 * 4 / BLOCK

    def buffer_bytes(self) -> int:
        """Bytes of every buffer, allocated at construction."""
        return int(self.capacity * self.bytes_per_point())

    def valid(self) -> torch.Tensor:
        """[high] bool: occupied slots below the high-water mark."""
        return self.key[: self.high] != INT64_MAX

    def occupied(self) -> torch.Tensor:
        """[count] int64 occupied slots, ascending."""
        return self.valid().nonzero().squeeze(1)

    # ----- positions -----------------------------------------------------------------------
    def positions(self, slots: torch.Tensor) -> torch.Tensor:
        """[M, 3] float32 world metres of the points in ``slots`` [M]."""
        key = self.key[slots]
        frac = (self.offset[slots].double() + OFFSET_BIAS) / OFFSET_UNITS
        return ((voxel_corner(key) + frac) * voxel_size(key, self.voxel_base)[:, None]).float()

    def set_positions(self, slots: torch.Tensor, pts: torch.Tensor) -> None:
        """Store world positions [M, 3] of ``slots`` [M] inside their voxels (keys set first)."""
        self.offset[slots] = encode_offsets(self.key[slots], pts, self.voxel_base)

    # ----- slots ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Free every slot."""
        for name, f in FIELDS.items():
            getattr(self, name).fill_(f.empty)
        self.block_lo.fill_(math.inf)
        self.block_hi.fill_(-math.inf)
        self.count = self.high = 0

    def free(self, mask: torch.Tensor) -> None:
        """Free the slots where ``mask`` ([high] bool) is set."""
        slots = mask.nonzero().squeeze(1)
        for name, f in FIELDS.items():
            getattr(self, name)[slots] = f.empty
        self.count = int(self.valid().sum())
        self.refresh_blocks(slots)

    def free_slots(self, wanted: int) -> torch.Tensor:
        """Up to ``wanted`` free slots, lowest first: holes below the high-water mark, then
        fresh slots above it."""
        holes = (~self.valid()).nonzero().squeeze(1)
        if holes.numel() >= wanted:
            return holes
        fresh = torch.arange(self.high, min(self.high + wanted - holes.numel(), self.capacity),
                             device=self.device)
        return torch.cat([holes, fresh])

    def lookup(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(found [U] bool, slots [U]) of unique voxel keys [U]: a binary search in the stored
        keys sorted now (work proportional to the high-water mark, not the capacity)."""
        n = max(self.high, 1)
        sorted_key, order = torch.sort(self.key[:n])
        pos = torch.searchsorted(sorted_key, keys).clamp(max=n - 1)
        found = sorted_key[pos] == keys
        return found, order[pos]

    # ----- block index ---------------------------------------------------------------------
    def refresh_blocks(self, slots: torch.Tensor) -> None:
        """Recompute the bounds of the blocks holding ``slots`` [M] from their points."""
        blocks = torch.unique(slots // BLOCK)
        if blocks.numel() == 0:
            return
        idx = (blocks[:, None] * BLOCK + torch.arange(BLOCK, device=self.device)).reshape(-1)
        idx = idx.clamp(max=self.capacity - 1)  # the last block may be partial
        pts = self.positions(idx).view(-1, BLOCK, 3)  # [b, BLOCK, 3]
        used = (self.key[idx] != INT64_MAX).view(-1, BLOCK, 1)
        self.block_lo[blocks] = torch.where(used, pts, math.inf).amin(dim=1)
        self.block_hi[blocks] = torch.where(used, pts, -math.inf).amax(dim=1)

    def visible_slots(self, planes: torch.Tensor) -> torch.Tensor:
        """Occupied slots [M] of the blocks not wholly outside one of ``planes``.

        ``planes`` [P, 4] float64 world half-spaces ``n . p + d >= 0``. A block is culled when
        its bounds' farthest corner along ``n`` lies outside some plane.
        """
        nb = -(-self.high // BLOCK)
        lo, hi = self.block_lo[:nb].double(), self.block_hi[:nb].double()  # [b, 3]
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        n, d = planes[:, :3], planes[:, 3]  # [P, 3], [P]
        reach = centre @ n.T + d + half @ n.abs().T  # [b, P] farthest signed distance
        keep = ((reach >= 0).all(dim=1) & (hi >= lo).all(dim=1)).nonzero().squeeze(1)
        slots = (keep[:, None] * BLOCK + torch.arange(BLOCK, device=self.device)).reshape(-1)
        slots = slots[slots < self.high]
        return slots[self.key[slots] != INT64_MAX]

    # ----- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The occupied slots (``slot`` [n] int64) and every field's values there, on CPU."""
        slots = self.occupied()
        state = {"slot": slots.cpu()}
        for name in FIELDS:
            state[name] = getattr(self, name)[slots].cpu().contiguous()
        return state

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the contents with ``state`` (as :meth:`state_dict` returns; verified)."""
        self.clear()
        slots = state["slot"].to(self.device)
        for name in FIELDS:
            getattr(self, name)[slots] = state[name].to(self.device)
        self.count = int(slots.numel())
        self.high = int(slots.max()) + 1 if slots.numel() else 0
        self.refresh_blocks(slots)
