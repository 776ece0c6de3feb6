"""Latent spatial memory: a bounded, device-resident store of latent tokens lifted into 3D.

Write (DESIGN.md, "Latent spatial memory"):
  1. Back-project every latent token at its latent-pixel centre with its depth (metres along
     the optical axis) into the Z-up world.
  2. Quantise it to a voxel whose size follows the token footprint ``depth / fx'`` (metres per
     latent pixel), rounded to a power-of-two level so that the same surface seen again from a
     similar distance lands in the same voxel.
  3. Fuse into the stored entry by a weighted running average, or replace the entry when a
     confident observation strongly disagrees (edits, changes). New voxels take free slots;
     when none are left, the least recently observed entries (weighted by confidence) are
     evicted, and counted.
  4. Dynamic-masked tokens are never written. Sky and far tokens go to a direction-indexed
     environment latent (an equirectangular grid in world directions) instead of points.

Readout projects the stored points into a target camera at latent resolution with a z-buffer
that is deterministic: candidates are ordered by the IEEE bits of their float32 depth (exact
and monotonic for positive floats) and ties by their unique voxel key, both reduced with an
integer ``amin``. The result is bit-identical whatever the scatter or storage order, on CPU
and CUDA. Points seen closer than they were written are splatted over their projected
footprint, so a dolly-in leaves no pinholes.

The sorted voxel-key index (``torch.searchsorted``) replaces a hash map, so every operation is
a handful of vectorised torch ops with fixed-size buffers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.rays import FrameCamera, pose_tensor

log = logging.getLogger(__name__)

_INT64_MAX = torch.iinfo(torch.int64).max
_LEVEL_BITS, _COORD_BITS = 5, 19  # voxel key: level (5 bits) then x, y, z (19 bits each)
_COORD_OFFSET = 1 << (_COORD_BITS - 1)
_COORD_MASK = (1 << _COORD_BITS) - 1


@dataclass(frozen=True)
class LatentSpec:
    """What a latent token is: saved with every snapshot and checked on load."""

    channels: int  # C, latent channels
    stride: int  # f, image pixels per latent pixel along each axis
    scaling: float = 1.0  # latent = (encoder_output - shift) * scaling
    shift: float = 0.0  # see scaling


@dataclass(frozen=True)
class MemoryConfig:
    """Capacity and voxel parameters of a :class:`LatentMemory` (saved with snapshots)."""

    capacity: int = 262_144  # maximum number of stored points (voxels)
    voxel_base: float = 1.0 / 128  # metres: voxel size at level 0; level L is base * 2**L
    voxel_scale: float = 0.5  # voxel size relative to the token footprint depth / fx'
    near: float = 0.05  # metres: tokens and points closer than this are ignored
    far: float = 500.0  # metres: tokens beyond this go to the environment latent
    max_weight: float = 16.0  # cap on accumulated confidence so old entries can still adapt
    replace_rms: float = 1.5  # RMS feature difference that counts as a strong disagreement
    replace_confidence: float = 0.5  # observation confidence needed to replace an entry
    recency_per_weight: float = 8.0  # eviction: writes of recency one unit of log2 weight buys
    evict_fraction: float = 1.0 / 64  # evict at least this fraction of capacity when full
    max_splat: int = 4  # largest splat side, latent pixels
    splat_scale: float = 1.0  # splat side relative to the projected footprint
    depth_tolerance: float = 0.05  # readout: relative depth range that counts as one surface
    # Readout: a point whose trust is below this fraction of the most trusted point at a pixel
    # never hides it (0 turns this off). Trust is the highest confidence a point was written
    # with; generated content is written with less than observations (runtime.pipeline).
    yield_ratio: float = 0.5
    env_height: int = 32  # environment latent rows (elevation, from +Z down to -Z)
    env_width: int = 64  # environment latent columns (azimuth)

    def __post_init__(self) -> None:
        positive = ("capacity", "voxel_base", "voxel_scale", "near", "far", "max_weight",
                    "max_splat", "env_height", "env_width", "splat_scale")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InvalidInput(f"memory.{name}", value, "a finite number > 0")
        if self.capacity >= 1 << 31:
            raise InvalidInput("memory.capacity", self.capacity, "< 2**31 points")
        if self.far <= self.near:
            raise InvalidInput("memory.far", self.far, f"> near ({self.near})")
        if not (isinstance(self.yield_ratio, int | float) and 0 <= self.yield_ratio <= 1):
            raise InvalidInput("memory.yield_ratio", self.yield_ratio, "a number in [0, 1]")


@dataclass
class WriteStats:
    """What one :meth:`LatentMemory.write` did, in tokens."""

    fused: int = 0  # tokens merged into an existing voxel (including replacements)
    replaced: int = 0  # of ``fused``: entries replaced by a strongly disagreeing observation
    new: int = 0  # tokens that created a new voxel
    merged_in_frame: int = 0  # tokens folded into another token of the same frame and voxel
    sky: int = 0  # tokens written to the environment latent
    masked: int = 0  # tokens skipped: dynamic mask, zero depth or nearer than ``near``
    evicted: int = 0  # entries evicted to make room
    dropped: int = 0  # new voxels not stored: the store was full of this very write


@dataclass
class MemoryStats:
    """A snapshot of the store's size and counters."""

    points: int  # stored points
    capacity: int  # maximum points
    bytes: int  # device bytes held by the store's buffers (fixed at construction)
    used_bytes: int  # bytes attributable to the stored points plus the environment latent
    evictions: int  # entries evicted since construction or clear()
    writes: int  # write() calls since construction or clear()
    env_cells: int  # environment cells observed at least once
    last_write: WriteStats = field(default_factory=WriteStats)  # the most recent write


@dataclass
class Readout:
    """The memory seen from a target camera at latent resolution."""

    features: torch.Tensor  # [C, h, w] latent features; 0 where uncovered
    depth: torch.Tensor  # [h, w] metres along the optical axis; 0 where no point (sky/uncovered)
    coverage: torch.Tensor  # [h, w] float 1 where a point or the environment covers, else 0
    sky: torch.Tensor  # [h, w] float 1 where the environment latent filled the pixel


class LatentMemory:
    """A fixed-capacity latent point store for one world (see the module docstring)."""

    FORMAT_VERSION = 3  # 2 added per-point trust; 3 a checksum of the tensors
    READABLE_VERSIONS = (1, 2, 3)  # version 1 snapshots load with every point fully trusted
    CONVENTION = "opencv-c2w/z-up-right-handed/metres"

    def __init__(
        self,
        spec: LatentSpec,
        config: MemoryConfig | None = None,
        device: torch.device | str = "cpu",
        model_id: str = "",
    ):
        self.spec = spec
        self.config = config or MemoryConfig()
        self.device = torch.device(device)
        self.model_id = model_id
        n, c, dev = self.config.capacity, spec.channels, self.device
        self.pos = torch.zeros(n, 3, device=dev)  # [N, 3] world metres
        self.feat = torch.zeros(n, c, device=dev)  # [N, C] fused latent features
        self.weight = torch.zeros(n, device=dev)  # [N] accumulated confidence
        self.trust = torch.zeros(n, device=dev)  # [N] highest confidence of any one write
        self.extent = torch.zeros(n, device=dev)  # [N] metres: surface patch side it covers
        self.slant = torch.ones(n, device=dev)  # [N] >= 1: token spacing / footprint (slope)
        self.key = torch.full((n,), _INT64_MAX, dtype=torch.int64, device=dev)  # [N] voxel
        self.last_seen = torch.zeros(n, dtype=torch.int64, device=dev)  # [N] write index
        self.valid = torch.zeros(n, dtype=torch.bool, device=dev)  # [N]
        self.sorted_key = torch.full((n,), _INT64_MAX, dtype=torch.int64, device=dev)  # [N]
        self.sorted_slot = torch.arange(n, device=dev)  # [N] slot of each sorted key
        eh, ew = self.config.env_height, self.config.env_width
        self.env_feat = torch.zeros(c, eh, ew, device=dev)  # [C, He, We]
        self.env_weight = torch.zeros(eh, ew, device=dev)  # [He, We]
        self._count = 0
        self._high = 0  # high-water mark: every occupied slot is below it
        self._evictions = 0
        self._writes = 0
        self._last = WriteStats()

    # ----- housekeeping ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    def stats(self) -> MemoryStats:
        """Points, bytes, evictions and the last write's fused/new counts."""
        per_point = sum(t.element_size() * t[0].numel() for t in self._point_buffers()) + 16
        env_bytes = self.env_feat.numel() * 4 + self.env_weight.numel() * 4
        total = sum(t.numel() * t.element_size() for t in self._point_buffers())
        total += self.sorted_key.numel() * 8 + self.sorted_slot.numel() * 8 + env_bytes
        return MemoryStats(
            points=self._count,
            capacity=self.config.capacity,
            bytes=total,
            used_bytes=self._count * per_point + env_bytes,
            evictions=self._evictions,
            writes=self._writes,
            env_cells=int((self.env_weight > 0).sum()),
            last_write=self._last,
        )

    def clear(self) -> None:
        """Forget everything (points, environment, counters); buffers stay allocated."""
        self.valid.zero_()
        self.weight.zero_()
        self.trust.zero_()
        self.key.fill_(_INT64_MAX)
        self.env_feat.zero_()
        self.env_weight.zero_()
        self._count = self._evictions = self._writes = self._high = 0
        self._last = WriteStats()
        self.sorted_key.fill_(_INT64_MAX)
        torch.arange(self.config.capacity, out=self.sorted_slot)

    def crop(self, box_min, box_max) -> int:
        """Delete the points inside the world-space box [box_min, box_max] (metres).

        Returns the number of points deleted. The environment latent is kept.
        """
        lo = torch.as_tensor(np.asarray(box_min, np.float32), device=self.device)
        hi = torch.as_tensor(np.asarray(box_max, np.float32), device=self.device)
        if lo.shape != (3,) or hi.shape != (3,) or not bool((lo <= hi).all()):
            raise InvalidInput("crop.box", (box_min, box_max), "two [3] corners with min <= max")
        n = self._high
        inside = self.valid[:n] & ((self.pos[:n] >= lo) & (self.pos[:n] <= hi)).all(dim=1)
        deleted = int(inside.sum())
        self._free(inside)
        return deleted

    def _point_buffers(self) -> tuple[torch.Tensor, ...]:
        return (self.pos, self.feat, self.weight, self.trust, self.extent, self.slant, self.key,
                self.last_seen, self.valid)

    def _free(self, mask: torch.Tensor) -> None:
        """Free the slots where ``mask`` ([_high] bool) is set."""
        n = self._high
        self.valid[:n] &= ~mask
        self.key[:n][mask] = _INT64_MAX
        self.weight[:n][mask] = 0
        self.trust[:n][mask] = 0
        self._count = int(self.valid[:n].sum())
        self._reindex()

    def _reindex(self) -> None:
        """Rebuild the sorted voxel-key index over the occupied prefix (sentinels sort last).

        Work is proportional to the high-water mark, not the capacity; past it, ``sorted_key``
        holds only sentinels.
        """
        n = self._high
        if n:
            keys, order = torch.sort(self.key[:n])
            self.sorted_key[:n] = keys
            self.sorted_slot[:n] = order

    # ----- write -------------------------------------------------------------------------------
    def write(
        self,
        latent: torch.Tensor,  # [C, h, w]
        depth: torch.Tensor,  # [h, w] metres along the optical axis; 0 = unknown, inf = sky
        camera: FrameCamera,  # of the frame: image (w*f) x (h*f) pixels, pose, rays
        dynamic_mask: torch.Tensor | None = None,  # [h, w] or [H, W] bool: never written
        sky_mask: torch.Tensor | None = None,  # [h, w] or [H, W] bool: to the environment
        confidence: torch.Tensor | None = None,  # [h, w] observation weight, default 1
    ) -> WriteStats:
        """Lift one latent frame into the store. Returns what it did (also in ``stats()``)."""
        latent, depth = self._check_frame(latent, depth, camera)
        c, h, w = latent.shape
        dyn = self._token_mask(dynamic_mask, h, w, "dynamic_mask", reduce="any")
        sky = self._token_mask(sky_mask, h, w, "sky_mask", reduce="mean")
        conf = self._confidence(confidence, h, w)
        cfg = self.config
        self._writes += 1
        stats = WriteStats()

        lat_k = camera.latent
        origin, dirs = camera.origin, camera.dirs  # [3], [h, w, 3]
        tokens = latent.reshape(c, -1).T  # [h*w, C]
        d = depth.reshape(-1)
        dirs = dirs.reshape(-1, 3)
        usable = ~dyn.reshape(-1) & (conf.reshape(-1) > 0)
        is_sky = usable & (sky.reshape(-1) | (d > cfg.far))
        is_pt = usable & ~is_sky & (d >= cfg.near)
        stats.masked = int((~is_sky & ~is_pt).sum())
        stats.sky = int(is_sky.sum())
        if stats.sky:
            self._write_env(tokens[is_sky], dirs[is_sky], conf.reshape(-1)[is_sky])

        idx = is_pt.nonzero().squeeze(1)  # [M] token indices, ascending
        if idx.numel():
            pts = origin + torch.where(is_pt, d, 0.0)[:, None] * dirs  # [h*w, 3]
            footprint = d / min(lat_k.fx, lat_k.fy)  # [h*w] metres per latent pixel
            spacing = _token_spacing(pts.view(h, w, 3), is_pt.view(h, w)).reshape(-1)
            slant = (spacing / footprint.clamp(min=1e-6)).clamp(1, 4)
            self._write_points(pts[idx], tokens[idx], conf.reshape(-1)[idx], footprint[idx],
                               slant[idx], stats)
        self._last = stats
        return stats

    def _write_points(self, pts, feats, conf, footprint, slant, stats: WriteStats) -> None:
        cfg = self.config
        level = torch.round(torch.log2(cfg.voxel_scale * footprint / cfg.voxel_base))
        level = level.clamp(0, (1 << _LEVEL_BITS) - 1).to(torch.int64)  # [M]
        size = cfg.voxel_base * torch.exp2(level.float())  # [M] metres
        coords = torch.floor(pts / size[:, None]).to(torch.int64) + _COORD_OFFSET
        in_range = ((coords >= 0) & (coords <= _COORD_MASK)).all(dim=1)
        key = (level << (3 * _COORD_BITS)) | (coords[:, 0] << (2 * _COORD_BITS))
        key = key | (coords[:, 1] << _COORD_BITS) | coords[:, 2]
        keep = in_range.nonzero().squeeze(1)
        pts, feats, conf, key = pts[keep], feats[keep], conf[keep], key[keep]
        extent, slant = footprint[keep], slant[keep]

        # Tokens of this frame that share a voxel are averaged (confidence-weighted) first.
        ukey, pts, feats, conf, extent, slant, trust = _voxel_means(key, pts, feats, conf,
                                                                    extent, slant)
        stats.merged_in_frame = key.numel() - ukey.numel()

        n = max(self._high, 1)
        pos = torch.searchsorted(self.sorted_key[:n], ukey).clamp(max=n - 1)
        found = self.sorted_key[pos] == ukey
        if bool(found.any()):
            slots = self.sorted_slot[pos[found]]
            self._fuse(slots, pts[found], feats[found], conf[found], extent[found], slant[found],
                       trust[found], stats)
        new = (~found).nonzero().squeeze(1)
        if new.numel():
            self._insert(ukey[new], pts[new], feats[new], conf[new], extent[new], slant[new],
                         trust[new], stats)
        self._reindex()

    def _fuse(self, slots, pts, feats, conf, extent, slant, trust, stats: WriteStats) -> None:
        cfg = self.config
        w_old = self.weight[slots]
        diff = (feats - self.feat[slots]).pow(2).mean(dim=1).sqrt()
        replace = (diff > cfg.replace_rms) & (conf >= cfg.replace_confidence)
        total = w_old + conf
        a = torch.where(replace, torch.ones_like(conf), conf / total)[:, None]
        self.feat[slots] = self.feat[slots] + a * (feats - self.feat[slots])
        self.pos[slots] = self.pos[slots] + a * (pts - self.pos[slots])
        self.extent[slots] = self.extent[slots] + a[:, 0] * (extent - self.extent[slots])
        self.slant[slots] = self.slant[slots] + a[:, 0] * (slant - self.slant[slots])
        self.weight[slots] = torch.where(replace, conf, total.clamp(max=cfg.max_weight))
        self.trust[slots] = torch.where(replace, trust, torch.maximum(self.trust[slots], trust))
        self.last_seen[slots] = self._writes
        stats.fused = int(slots.numel())
        stats.replaced = int(replace.sum())

    def _insert(self, keys, pts, feats, conf, extent, slant, trust, stats: WriteStats) -> None:
        n_new = min(keys.numel(), self.config.capacity)
        free = self._free_slots(n_new)
        if free.numel() < n_new:
            stats.evicted = self._evict(n_new - free.numel())
            free = self._free_slots(n_new)
        n_new = min(n_new, free.numel())  # entries of this very write are never evicted
        slots = free[:n_new]
        stats.dropped = keys.numel() - n_new
        if n_new == 0:
            return
        self._high = max(self._high, int(slots.max()) + 1)
        self.key[slots] = keys[:n_new]
        self.pos[slots] = pts[:n_new]
        self.feat[slots] = feats[:n_new]
        self.weight[slots] = conf[:n_new].clamp(max=self.config.max_weight)
        self.trust[slots] = trust[:n_new]
        self.extent[slots] = extent[:n_new]
        self.slant[slots] = slant[:n_new]
        self.last_seen[slots] = self._writes
        self.valid[slots] = True
        self._count += n_new
        stats.new = n_new

    def _free_slots(self, wanted: int) -> torch.Tensor:
        """Up to ``wanted`` free slots, lowest first: holes below the high-water mark, then
        fresh slots above it."""
        n = self._high
        holes = (~self.valid[:n]).nonzero().squeeze(1)
        if holes.numel() >= wanted:
            return holes
        fresh = torch.arange(n, min(n + wanted - holes.numel(), self.config.capacity),
                             device=self.device)
        return torch.cat([holes, fresh])

    def _evict(self, needed: int) -> int:
        """Evict the lowest-priority entries: priority = last write seen + bonus * log2(1+w).

        Entries seen in the current write are never evicted. At least ``evict_fraction`` of the
        capacity is freed at once so that eviction is amortised over many writes.
        """
        cfg = self.config
        k = min(max(needed, int(cfg.capacity * cfg.evict_fraction)), self._count)
        n = self._high
        valid, last_seen = self.valid[:n], self.last_seen[:n]
        bonus = cfg.recency_per_weight * torch.log2(1 + self.weight[:n])
        priority = last_seen.double() + bonus.double()
        # Entries of the current write and free slots are never chosen.
        priority[(last_seen == self._writes) | ~valid] = math.inf
        k = min(k, int((valid & (last_seen != self._writes)).sum()))
        if k <= 0:
            return 0
        victims = torch.topk(priority, k, largest=False)
        mask = torch.zeros_like(valid)
        mask[victims.indices] = True
        self._free(mask)
        self._evictions += k
        return k

    # ----- environment latent ------------------------------------------------------------------
    def _env_cells(self, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Continuous (row, col) of world directions [M, 3] in the equirectangular grid."""
        d = dirs / dirs.norm(dim=1, keepdim=True)
        az = torch.atan2(d[:, 1], d[:, 0])  # (-pi, pi]
        el = torch.asin(d[:, 2].clamp(-1, 1))  # [-pi/2, pi/2]
        col = (az + math.pi) / (2 * math.pi) * self.config.env_width - 0.5
        row = (math.pi / 2 - el) / math.pi * self.config.env_height - 0.5
        return row, col

    def _write_env(self, feats, dirs, conf) -> None:
        cfg = self.config
        row, col = self._env_cells(dirs)
        r = row.round().clamp(0, cfg.env_height - 1).long()
        cc = torch.remainder(col.round().long(), cfg.env_width)
        cell = r * cfg.env_width + cc  # [M]
        ucell, inverse = torch.unique(cell, sorted=True, return_inverse=True)
        order = torch.arange(cell.numel(), device=self.device)
        rep = torch.full((ucell.numel(),), cell.numel(), dtype=torch.int64, device=self.device)
        rep.scatter_reduce_(0, inverse, order, "amin")
        f_new, w_new = feats[rep], conf[rep]
        env = self.env_feat.view(self.spec.channels, -1)
        w_env = self.env_weight.view(-1)
        f_old, w_old = env[:, ucell].T, w_env[ucell]
        diff = (f_new - f_old).pow(2).mean(dim=1).sqrt()
        replace = (w_old == 0) | ((diff > cfg.replace_rms) & (w_new >= cfg.replace_confidence))
        a = torch.where(replace, torch.ones_like(w_new), w_new / (w_old + w_new))[:, None]
        env[:, ucell] = (f_old + a * (f_new - f_old)).T
        w_env[ucell] = torch.where(replace, w_new, (w_old + w_new).clamp(max=cfg.max_weight))

    def _read_env(self, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bilinear environment lookup for world directions [M, 3]: features [M, C], filled [M]."""
        cfg = self.config
        row, col = self._env_cells(dirs)
        filled = (self.env_weight > 0).float()
        # Wrap azimuth by padding one column on each side, then sample with grid_sample.
        grid_src = torch.cat([self.env_feat * filled, filled[None]], dim=0)  # [C+1, He, We]
        grid_src = torch.cat([grid_src[..., -1:], grid_src, grid_src[..., :1]], dim=-1)
        gx = (col + 1 + 0.5) / (cfg.env_width + 2) * 2 - 1
        gy = (row + 0.5) / cfg.env_height * 2 - 1
        grid = torch.stack([gx, gy], dim=-1).view(1, 1, -1, 2)
        sampled = torch.nn.functional.grid_sample(
            grid_src[None], grid, mode="bilinear", padding_mode="border", align_corners=False
        )[0, :, 0].T  # [M, C+1]
        occ = sampled[:, -1]
        feats = sampled[:, :-1] / occ.clamp(min=1e-6)[:, None]
        return feats, occ >= 0.5

    # ----- readout -----------------------------------------------------------------------------
    def camera(self, intrinsics: Intrinsics, c2w, field: str = "pose") -> FrameCamera:
        """The :class:`FrameCamera` of an image camera on this memory's stride and device."""
        return FrameCamera.of(intrinsics, c2w, self.spec.stride, self.device, field)

    def readout(self, camera: FrameCamera) -> Readout:
        """Project the store into ``camera`` at latent resolution (``camera.h`` x ``camera.w``).

        Pure: it never changes the store. Deterministic and independent of storage order
        (module docstring).
        """
        self._check_camera(camera)
        h, w, lat_k, pose = camera.h, camera.w, camera.latent, camera.c2w
        c = self.spec.channels
        features = torch.zeros(h * w, c, device=self.device)
        depth = torch.zeros(h * w, device=self.device)
        coverage = torch.zeros(h * w, device=self.device)
        sky = torch.zeros(h * w, device=self.device)

        feats, z, hit = self._zbuffer(lat_k, pose, h, w)
        features[hit] = feats[hit]
        depth[hit] = z[hit]
        coverage[hit] = 1.0
        if bool((self.env_weight > 0).any()) and not bool(hit.all()):
            miss = (~hit).nonzero().squeeze(1)
            env_feat, filled = self._read_env(camera.dirs.reshape(-1, 3)[miss])
            features[miss[filled]] = env_feat[filled]
            coverage[miss[filled]] = 1.0
            sky[miss[filled]] = 1.0
        return Readout(
            features=features.T.reshape(c, h, w).contiguous(),
            depth=depth.view(h, w),
            coverage=coverage.view(h, w),
            sky=sky.view(h, w),
        )

    def _zbuffer(self, lat_k: Intrinsics, pose: np.ndarray, h: int, w: int):
        """Deterministic splatting z-buffer with sub-pixel (tent) interpolation.

        Each visible point covers the pixel centres of its footprint square (side = its
        extent projected, at least the nearest pixel): these *primary* candidates decide the
        front surface of a pixel by an exact ``amin`` over float32 depth bits. Every candidate
        within a tent of radius ``half + 0.5`` around the point and within
        ``depth_tolerance`` of that front depth is then averaged with its tent weight, so
        features are interpolated between points instead of snapped to the nearest one.
        Sums run in float64 over candidates sorted by (pixel, voxel key): the order comes from
        the content, never from storage or scatter order.

        Returns (features [h*w, C], depth [h*w] metres, hit [h*w] bool).
        """
        cfg = self.config
        n_pix = h * w
        w2c = torch.linalg.inv(pose_tensor(pose, self.device)).float()
        slots = self.valid[: self._high].nonzero().squeeze(1)
        p = self.pos[slots]
        # Elementwise projection (no matmul) so that each point's result is independent of the
        # batch it is computed in: this is what makes the readout storage-order invariant.
        x = p[:, 0] * w2c[0, 0] + p[:, 1] * w2c[0, 1] + p[:, 2] * w2c[0, 2] + w2c[0, 3]
        y = p[:, 0] * w2c[1, 0] + p[:, 1] * w2c[1, 1] + p[:, 2] * w2c[1, 2] + w2c[1, 3]
        z = p[:, 0] * w2c[2, 0] + p[:, 1] * w2c[2, 1] + p[:, 2] * w2c[2, 2] + w2c[2, 3]
        front = z > cfg.near
        zs = torch.where(front, z, torch.ones_like(z))
        u = lat_k.fx * x / zs + lat_k.cx
        v = lat_k.fy * y / zs + lat_k.cy
        # m > 1: seen closer than written. A slanted surface spreads faster than m (up to m^2
        # along its slope), so its splat grows with its slant as m rises from 1 to 2.
        m = self.extent[slots] * lat_k.fx / zs
        grow = 1 + (self.slant[slots] - 1) * (m - 1).clamp(0, 1)
        side = (cfg.splat_scale * m * grow).clamp(1, cfg.max_splat)
        half = side / 2  # footprint half-width, latent pixels (>= 0.5)
        radius = half + 0.5  # tent radius, latent pixels (>= 1)
        # Frustum cull (with the tent margin) before any scatter work.
        vis = front & (u + radius > 0) & (u - radius < w - 1) & (v + radius > 0)
        vis &= v - radius < h - 1
        vis = vis.nonzero().squeeze(1)
        slots, u, v, z = slots[vis], u[vis], v[vis], z[vis]
        half, radius = half[vis], radius[vis]

        # Candidate pixels: |j - u| < radius and |i - v| < radius, at most k x k per point.
        j0 = torch.floor(u - radius).long() + 1
        i0 = torch.floor(v - radius).long() + 1
        k = cfg.max_splat + 1
        small = radius <= 1.0  # the common case: a 2 x 2 neighbourhood
        cand, cj, ci = [], [], []
        for group, span in ((small.nonzero().squeeze(1), 2), ((~small).nonzero().squeeze(1), k)):
            if group.numel() == 0:
                continue
            off = torch.arange(span, device=self.device)
            cand.append(group.repeat_interleave(span * span))
            cj.append((j0[group][:, None] + off.repeat(span)).reshape(-1))
            ci.append((i0[group][:, None] + off.repeat_interleave(span)).reshape(-1))
        if not cand:
            empty = torch.zeros(n_pix, self.spec.channels, device=self.device)
            return empty, torch.zeros(n_pix, device=self.device), torch.zeros(
                n_pix, dtype=torch.bool, device=self.device)
        cand, cj, ci = torch.cat(cand), torch.cat(cj), torch.cat(ci)
        dj, di = (cj - u[cand]).abs(), (ci - v[cand]).abs()
        r = radius[cand]
        ok = (dj < r) & (di < r) & (cj >= 0) & (cj < w) & (ci >= 0) & (ci < h)
        cand, dj, di, r = cand[ok], dj[ok], di[ok], r[ok]
        pix = (ci * w + cj)[ok]
        weight = (1 - dj / r) * (1 - di / r)
        primary = (dj <= half[cand]) & (di <= half[cand])

        # Points much less trusted than the most trusted one at a pixel (generated content in
        # front of an observed surface: it contradicts the observation) take no part there.
        if cfg.yield_ratio > 0:
            trust = self.trust[slots[cand]]
            most = torch.zeros(n_pix, device=self.device)
            most.scatter_reduce_(0, pix[primary], trust[primary], "amax")
            eligible = trust >= cfg.yield_ratio * most[pix]
            primary &= eligible

        # Front surface per pixel from the primary candidates (IEEE bits sort like the values).
        zbits = z.contiguous().view(torch.int32).long()
        zmin = torch.full((n_pix,), _INT64_MAX, dtype=torch.int64, device=self.device)
        zmin.scatter_reduce_(0, pix[primary], zbits[cand[primary]], "amin")
        hit = zmin != _INT64_MAX
        zfront = torch.where(hit, zmin, 0).to(torch.int32).view(torch.float32)  # [h*w] metres
        keep = (zmin[pix] != _INT64_MAX) & (z[cand] <= zfront[pix] * (1 + cfg.depth_tolerance))
        if cfg.yield_ratio > 0:
            keep &= eligible
        cand, pix, weight = cand[keep], pix[keep], weight[keep]

        # Tent-weighted average per pixel, summed in a content-defined order.
        order = torch.sort(self.key[slots[cand]], stable=True).indices
        order = order[torch.sort(pix[order], stable=True).indices]
        cand, pix, weight = cand[order], pix[order], weight[order].double()
        data = torch.cat([weight[:, None], weight[:, None] * z[cand, None].double(),
                          weight[:, None] * self.feat[slots[cand]].double()], dim=1)
        csum = torch.cumsum(data, dim=0)
        upix, counts = torch.unique_consecutive(pix, return_counts=True)
        ends = torch.cumsum(counts, dim=0) - 1
        sums = csum[ends]
        sums[1:] -= csum[ends[:-1]]
        mean = (sums[:, 1:] / sums[:, :1]).float()
        features = torch.zeros(n_pix, self.spec.channels, device=self.device)
        depth = torch.zeros(n_pix, device=self.device)
        features[upix] = mean[:, 1:]
        depth[upix] = mean[:, 0]
        return features, depth, hit

    # ----- validation --------------------------------------------------------------------------
    def _check_camera(self, camera: FrameCamera) -> None:
        if not isinstance(camera, FrameCamera):
            raise InvalidInput("camera", type(camera).__name__,
                               "a FrameCamera (LatentMemory.camera(intrinsics, c2w))")
        if camera.stride != self.spec.stride:
            raise InvalidInput("camera.stride", camera.stride,
                               f"the latent spec's stride {self.spec.stride}")

    def _check_frame(self, latent, depth, camera: FrameCamera):
        self._check_camera(camera)
        if not isinstance(latent, torch.Tensor) or latent.dim() != 3:
            raise InvalidInput("latent", getattr(latent, "shape", latent), "a [C, h, w] tensor")
        c, h, w = latent.shape
        if c != self.spec.channels:
            raise InvalidInput("latent.channels", c, f"{self.spec.channels} (the latent spec)")
        if not isinstance(depth, torch.Tensor) or tuple(depth.shape) != (h, w):
            raise InvalidInput("depth", getattr(depth, "shape", depth), f"a [{h}, {w}] tensor")
        if (camera.h, camera.w) != (h, w):
            raise InvalidInput("latent", tuple(latent.shape),
                               f"the camera's latent grid [C, {camera.h}, {camera.w}]")
        latent = latent.to(self.device, torch.float32)
        depth = depth.to(self.device, torch.float32)
        if not bool(torch.isfinite(latent).all()):
            raise InvalidInput("latent", "non-finite values", "finite latent features")
        if bool(torch.isnan(depth).any()):
            raise InvalidInput("depth", "NaN values", "metres >= 0 (0 = unknown, inf = sky)")
        if bool((depth < 0).any()):
            raise InvalidInput("depth", float(depth.min()), "metres >= 0 (0 = unknown)")
        return latent, depth

    def _token_mask(self, mask, h: int, w: int, name: str, reduce: str) -> torch.Tensor:
        """A per-token bool mask from None, a latent-resolution or an image-resolution mask."""
        if mask is None:
            return torch.zeros(h, w, dtype=torch.bool, device=self.device)
        f = self.spec.stride
        shape = tuple(mask.shape)
        if shape == (h, w):
            return mask.to(self.device).bool()
        if shape == (h * f, w * f):
            m = mask.to(self.device).float()[None, None]
            pooled = torch.nn.functional.avg_pool2d(m, f)[0, 0]
            return pooled > 0 if reduce == "any" else pooled > 0.5
        raise InvalidInput(name, shape, f"[{h}, {w}] or [{h * f}, {w * f}]")

    def _confidence(self, confidence, h: int, w: int) -> torch.Tensor:
        if confidence is None:
            return torch.ones(h, w, device=self.device)
        if tuple(confidence.shape) != (h, w):
            raise InvalidInput("confidence", tuple(confidence.shape), f"[{h}, {w}]")
        conf = confidence.to(self.device, torch.float32)
        if not bool(torch.isfinite(conf).all()) or bool((conf < 0).any()):
            raise InvalidInput("confidence", "negative or non-finite", "weights >= 0")
        return conf

    def metadata(self) -> dict:
        """What a snapshot records and load() verifies."""
        return {
            "format_version": self.FORMAT_VERSION,
            "model_id": self.model_id,
            "latent_spec": asdict(self.spec),
            "memory_config": asdict(self.config),
            "convention": self.CONVENTION,
        }

    def save(self, path) -> None:
        """Atomic snapshot (safetensors + JSON metadata); see :mod:`.snapshot`."""
        from latentstage.runtime.snapshot import save_snapshot

        save_snapshot(self, path)

    def load(self, path) -> None:
        """Replace the contents with a verified snapshot; see :mod:`.snapshot`."""
        from latentstage.runtime.snapshot import load_snapshot

        load_snapshot(self, path)


def _token_spacing(pts: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Metres between each token's point and its nearer neighbour, along rows and columns.

    ``pts`` [h, w, 3], ``valid`` [h, w]. Returns [h, w]: the larger of the two axes' spacings,
    each the smaller of the two sides' (so a depth edge on one side does not count). On a
    slanted surface this exceeds ``depth / fx'``, which is what a splat must cover when the
    surface is seen again from closer. Invalid neighbours count as infinitely far.
    """
    inf = torch.full_like(pts[..., 0], float("inf"))

    def dist(a, b, ok):
        return torch.where(ok, (a - b).norm(dim=-1), torch.full_like(ok, float("inf"),
                                                                      dtype=pts.dtype))

    right, left, down, up = inf.clone(), inf.clone(), inf.clone(), inf.clone()
    right[:, :-1] = dist(pts[:, 1:], pts[:, :-1], valid[:, 1:] & valid[:, :-1])
    left[:, 1:] = right[:, :-1]
    down[:-1] = dist(pts[1:], pts[:-1], valid[1:] & valid[:-1])
    up[1:] = down[:-1]
    return torch.maximum(torch.minimum(left, right), torch.minimum(up, down))


def _voxel_means(key, pts, feats, conf, extent, slant):
    """Confidence-weighted means of tokens grouped by voxel key, deterministic on any device.

    Segment sums come from a float64 cumulative sum over key-sorted tokens (a scan, unlike
    float ``index_add_``, has a fixed order on CUDA too). Returns the unique keys [U] and the
    per-voxel position [U, 3], features [U, C], summed confidence [U], max extent [U], max
    slant [U] and max confidence (trust) [U].
    """
    ukey, inverse, counts = torch.unique(key, sorted=True, return_inverse=True,
                                         return_counts=True)
    order = torch.sort(inverse, stable=True).indices  # tokens grouped by voxel, index order
    w = conf[order].double()[:, None].clamp(min=1e-12)
    data = torch.cat([w, w * pts[order].double(), w * feats[order].double()], dim=1)
    csum = torch.cumsum(data, dim=0)
    ends = torch.cumsum(counts, dim=0) - 1
    sums = csum[ends]
    sums[1:] -= csum[ends[:-1]]
    mean = sums[:, 1:] / sums[:, :1]
    # Extent: the side of the patch the voxel's tokens cover (their spread plus one footprint).
    n = ukey.numel()
    idx3 = inverse[:, None].expand(-1, 3)
    hi = torch.zeros(n, 3, device=key.device).scatter_reduce_(0, idx3, pts, "amax",
                                                             include_self=False)
    lo = torch.zeros(n, 3, device=key.device).scatter_reduce_(0, idx3, pts, "amin",
                                                             include_self=False)
    fp = torch.zeros(n, device=key.device).scatter_reduce_(0, inverse, extent, "amax",
                                                          include_self=False)
    ext = (hi - lo).amax(dim=1) + fp
    sl = torch.ones(n, device=key.device).scatter_reduce_(0, inverse, slant, "amax",
                                                         include_self=False)
    trust = torch.zeros(n, device=key.device).scatter_reduce_(0, inverse, conf, "amax",
                                                              include_self=False)
    return ukey, mean[:, :3].float(), mean[:, 3:].float(), sums[:, 0].float(), ext, sl, trust
