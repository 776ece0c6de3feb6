"""Writing points: quantise tokens to voxels, average a frame's tokens per voxel, fuse them into
stored entries or insert them, evicting the least recently observed when full.

Every function is deterministic on any device: grouping uses float64 scans over key-sorted
tokens, never float ``index_add_``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from latentstage.runtime.memory.spec import MemoryConfig
from latentstage.runtime.memory.store import (
    COORD_BITS,
    COORD_MASK,
    COORD_OFFSET,
    FP16_MAX,
    INT32_MAX,
    LEVEL_BITS,
    PointStore,
    decode_slant,
    encode_slant,
)
from latentstage.runtime.types import WriteStats


@dataclass
class Tokens:
    """A frame's point tokens, one row each (after voxel averaging: one per voxel)."""

    key: torch.Tensor  # [M] int64 voxel keys
    pos: torch.Tensor  # [M, 3] world metres
    feat: torch.Tensor  # [M, C] latent features
    conf: torch.Tensor  # [M] observation confidence
    extent: torch.Tensor  # [M] metres: side of the surface patch covered
    slant: torch.Tensor  # [M] token spacing / footprint, 1..4
    trust: torch.Tensor  # [M] highest single confidence (per voxel)

    def take(self, idx: torch.Tensor) -> Tokens:
        return Tokens(*(t[idx] for t in (self.key, self.pos, self.feat, self.conf, self.extent,
                                         self.slant, self.trust)))


def voxel_keys(pts: torch.Tensor, footprint: torch.Tensor, cfg: MemoryConfig):
    """Voxel keys [M] int64 of points [M, 3] with footprints [M] metres, and in_range [M]
    bool (False where a coordinate does not fit the key's 19 bits)."""
    level = torch.round(torch.log2(cfg.voxel_scale * footprint / cfg.voxel_base))
    level = level.clamp(0, (1 << LEVEL_BITS) - 1).to(torch.int64)  # [M]
    size = cfg.voxel_base * torch.exp2(level.float())  # [M] metres
    coords = torch.floor(pts / size[:, None]).to(torch.int64) + COORD_OFFSET  # [M, 3]
    in_range = ((coords >= 0) & (coords <= COORD_MASK)).all(dim=1)
    key = (level << (3 * COORD_BITS)) | (coords[:, 0] << (2 * COORD_BITS))
    return key | (coords[:, 1] << COORD_BITS) | coords[:, 2], in_range


def voxel_means(t: Tokens) -> Tokens:
    """Confidence-weighted means of tokens grouped by voxel key, one row per voxel (sorted by
    key): mean position and features, summed confidence, max extent, slant and confidence.

    Segment sums come from a float64 cumulative sum over key-sorted tokens (a scan, unlike
    float ``index_add_``, has a fixed order on CUDA too).
    """
    ukey, inverse, counts = torch.unique(t.key, sorted=True, return_inverse=True,
                                         return_counts=True)
    order = torch.sort(inverse, stable=True).indices  # tokens grouped by voxel, index order
    w = t.conf[order].double()[:, None].clamp(min=1e-12)
    data = torch.cat([w, w * t.pos[order].double(), w * t.feat[order].double()], dim=1)
    csum = torch.cumsum(data, dim=0)
    ends = torch.cumsum(counts, dim=0) - 1
    sums = csum[ends]
    sums[1:] -= csum[ends[:-1]]
    mean = sums[:, 1:] / sums[:, :1]

    def seg(x, init, how):  # [U] per-voxel reduction of token values [M]
        out = torch.full((ukey.numel(), *x.shape[1:]), init, device=x.device, dtype=x.dtype)
        idx = inverse if x.dim() == 1 else inverse[:, None].expand(-1, x.shape[1])
        return out.scatter_reduce_(0, idx, x, how, include_self=False)

    # Extent: the side of the patch the voxel's tokens cover (their spread plus one footprint).
    spread = (seg(t.pos, 0.0, "amax") - seg(t.pos, 0.0, "amin")).amax(dim=1)
    return Tokens(ukey, mean[:, :3].float(), mean[:, 3:].float(), sums[:, 0].float(),
                  spread + seg(t.extent, 0.0, "amax"), seg(t.slant, 1.0, "amax"),
                  seg(t.conf, 0.0, "amax"))


def token_spacing(pts: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Metres between each token's point and its nearer neighbour, along rows and columns.

    ``pts`` [h, w, 3], ``valid`` [h, w]. Returns [h, w]: the larger of the two axes' spacings,
    each the smaller of the two sides' (so a depth edge on one side does not count). On a
    slanted surface this exceeds ``depth / fx'``, which is what a splat must cover when the
    surface is seen again from closer. Invalid neighbours count as infinitely far.
    """
    inf = torch.full_like(pts[..., 0], float("inf"))

    def dist(a, b, ok):
        return torch.where(ok, (a - b).norm(dim=-1), inf[: ok.shape[0], : ok.shape[1]])

    right, left, down, up = inf.clone(), inf.clone(), inf.clone(), inf.clone()
    right[:, :-1] = dist(pts[:, 1:], pts[:, :-1], valid[:, 1:] & valid[:, :-1])
    left[:, 1:] = right[:, :-1]
    down[:-1] = dist(pts[1:], pts[:-1], valid[1:] & valid[:-1])
    up[1:] = down[:-1]
    return torch.maximum(torch.minimum(left, right), torch.minimum(up, down))


def write_points(store: PointStore, cfg: MemoryConfig, tokens: Tokens, write: int,
                 stats: WriteStats) -> int:
    """Fuse or insert a frame's point tokens; ``write`` is the index of this write. Returns
    the entries evicted."""
    key, in_range = voxel_keys(tokens.pos, tokens.extent, cfg)
    tokens.key = key
    tokens = tokens.take(in_range.nonzero().squeeze(1))
    voxels = voxel_means(tokens)  # tokens of this frame sharing a voxel are averaged first
    stats.merged_in_frame = tokens.key.numel() - voxels.key.numel()
    found, slots = store.lookup(voxels.key)
    seen = min(write, INT32_MAX)
    if bool(found.any()):
        _fuse(store, cfg, slots[found], voxels.take(found), seen, stats)
    new = (~found).nonzero().squeeze(1)
    evicted = 0
    if new.numel():
        evicted = _insert(store, cfg, voxels.take(new), seen, stats)
    return evicted


def _fuse(store: PointStore, cfg: MemoryConfig, slots: torch.Tensor, t: Tokens, seen: int,
          stats: WriteStats) -> None:
    """Running weighted average into stored entries, or replacement on strong disagreement."""
    old = store.feat[slots].float()  # [M, C]
    w_old = store.weight[slots].float()
    diff = (t.feat - old).pow(2).mean(dim=1).sqrt()
    replace = (diff > cfg.replace_rms) & (t.conf >= cfg.replace_confidence)
    total = w_old + t.conf
    a = torch.where(replace, torch.ones_like(t.conf), t.conf / total)[:, None]  # [M, 1]
    pos = store.positions(slots)
    store.set_positions(slots, pos + a * (t.pos - pos))
    store.feat[slots] = (old + a * (t.feat - old)).half()
    extent = store.extent[slots].float()
    store.extent[slots] = (extent + a[:, 0] * (t.extent - extent)).clamp(max=FP16_MAX).half()
    slant = decode_slant(store.slant[slots])
    store.slant[slots] = encode_slant(slant + a[:, 0] * (t.slant - slant))
    weight = torch.where(replace, t.conf, total.clamp(max=cfg.max_weight))
    store.weight[slots] = weight.clamp(max=FP16_MAX).half()
    trust = torch.where(replace, t.trust, torch.maximum(store.trust[slots].float(), t.trust))
    store.trust[slots] = trust.clamp(max=FP16_MAX).half()
    store.last_seen[slots] = seen
    store.refresh_blocks(slots)
    stats.fused = int(slots.numel())
    stats.replaced = int(replace.sum())


def _insert(store: PointStore, cfg: MemoryConfig, t: Tokens, seen: int,
            stats: WriteStats) -> int:
    """Store new voxels in free slots, evicting first when too few are free."""
    n_new = min(t.key.numel(), store.capacity)
    free = store.free_slots(n_new)
    evicted = 0
    if free.numel() < n_new:
        evicted = _evict(store, cfg, n_new - free.numel(), seen)
        free = store.free_slots(n_new)
    n_new = min(n_new, free.numel())  # entries of this very write are never evicted
    slots = free[:n_new]
    stats.dropped, stats.evicted = t.key.numel() - n_new, evicted
    if n_new == 0:
        return evicted
    t = t.take(torch.arange(n_new, device=slots.device))
    store.high = max(store.high, int(slots.max()) + 1)
    store.key[slots] = t.key
    store.set_positions(slots, t.pos)
    store.feat[slots] = t.feat.half()
    store.weight[slots] = t.conf.clamp(max=cfg.max_weight).clamp(max=FP16_MAX).half()
    store.trust[slots] = t.trust.clamp(max=FP16_MAX).half()
    store.extent[slots] = t.extent.clamp(max=FP16_MAX).half()
    store.slant[slots] = encode_slant(t.slant)
    store.last_seen[slots] = seen
    store.count += n_new
    store.refresh_blocks(slots)
    stats.new = n_new
    return evicted


def _evict(store: PointStore, cfg: MemoryConfig, needed: int, seen: int) -> int:
    """Evict the lowest-priority entries: priority = last write seen + bonus * log2(1+w).

    Entries seen in the current write are never evicted. At least ``evict_fraction`` of the
    capacity is freed at once so that eviction is amortised over many writes.
    """
    k = min(max(needed, int(cfg.capacity * cfg.evict_fraction)), store.count)
    n = store.high
    valid, last = store.valid(), store.last_seen[:n]
    bonus = cfg.recency_per_weight * torch.log2(1 + store.weight[:n].float())
    priority = last.double() + bonus.double()
    priority[(last == seen) | ~valid] = math.inf  # this write's entries and free slots stay
    k = min(k, int((valid & (last != seen)).sum()))
    if k <= 0:
        return 0
    victims = torch.topk(priority, k, largest=False).indices
    mask = torch.zeros_like(valid)
    mask[victims] = True
    store.free(mask)
    return k
