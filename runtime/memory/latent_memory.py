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

The package, one seam per module: :mod:`.spec` (latent spec, config, readout type),
:mod:`.store` (typed point buffers, block culling index, state dict), :mod:`.write`,
:mod:`.readout` (the z-buffer), :mod:`.environment` (the environment latent) and this facade.
Voxel lookup is a ``torch.searchsorted`` in the sorted keys (no hash map), so every operation
is a handful of vectorised torch ops with fixed-size buffers.
"""


from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict

import numpy as np
import torch

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.memory import readout as _readout
from latentstage.runtime.memory.environment import EnvironmentLatent
from latentstage.runtime.memory.spec import LatentSpec, MemoryConfig, Readout
from latentstage.runtime.memory.store import FIELDS, PointStore, from_float_record
from latentstage.runtime.memory.write import Tokens, token_spacing, write_points
from latentstage.runtime.rays import FrameCamera
from latentstage.runtime.snapshot import load_snapshot, save_snapshot
from latentstage.runtime.types import MemoryInfo, WriteStats

log = logging.getLogger(__name__)

#: ``stats()`` returns the runtime's plain-data :class:`MemoryInfo` (one type for both).
MemoryStats = MemoryInfo


class LatentMemory:
    """A fixed-capacity latent point store for one world (see the module docstring)."""

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
        self.store = PointStore(self.config.capacity, spec.channels, self.config.voxel_base,
                                self.device)
        self.env = EnvironmentLatent(spec.channels, self.config, self.device)
        self._evictions = 0  # entries evicted since construction or clear()
        self._writes = 0  # write() calls since construction or clear()
        self._last = WriteStats()  # what the most recent write did

    # ----- housekeeping ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.store.count

    def points(self) -> torch.Tensor:
        """[N, 3] float32 world metres of every stored point, in slot order (for viewers)."""
        return self.store.positions(self.store.occupied())

    def stats(self) -> MemoryInfo:
        """Points, bytes (held and used), evictions, writes and the last write's counts."""
        return MemoryInfo(
            points=self.store.count,
            capacity=self.config.capacity,
            bytes=self.store.buffer_bytes() + self.env.bytes,
            used_bytes=int(self.store.count * self.store.bytes_per_point()) + self.env.bytes,
            evictions=self._evictions,
            writes=self._writes,
            env_cells=self.env.cells(),
            last_write=dataclasses.replace(self._last),
        )

    def clear(self) -> None:
        """Forget everything (points, environment, counters); buffers stay allocated."""
        self.store.clear()
        self.env.clear()
        self._evictions = self._writes = 0
        self._last = WriteStats()

    def crop(self, box_min, box_max) -> int:
        """Delete the points inside the world-space box [box_min, box_max] (metres).

        Returns the number of points deleted. The environment latent is kept.
        """
        lo = torch.as_tensor(np.asarray(box_min, np.float32), device=self.device)
        hi = torch.as_tensor(np.asarray(box_max, np.float32), device=self.device)
        if lo.shape != (3,) or hi.shape != (3,) or not bool((lo <= hi).all()):
            raise InvalidInput("crop.box", (box_min, box_max), "two [3] corners with min <= max")
        slots = self.store.occupied()
        pos = self.store.positions(slots)  # [M, 3]
        inside = torch.zeros(self.store.high, dtype=torch.bool, device=self.device)
        inside[slots] = ((pos >= lo) & (pos <= hi)).all(dim=1)
        deleted = int(inside.sum())
        self.store.free(inside)
        return deleted

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
        conf = self._confidence(confidence, h, w).reshape(-1)  # [h*w]
        cfg = self.config
        self._writes += 1
        stats = WriteStats()
        tokens = latent.reshape(c, -1).T  # [h*w, C]
        d, dirs = depth.reshape(-1), camera.dirs.reshape(-1, 3)  # [h*w], [h*w, 3]
        usable = ~dyn.reshape(-1) & (conf > 0)
        is_sky = usable & (sky.reshape(-1) | (d > cfg.far))
        is_pt = usable & ~is_sky & (d >= cfg.near)
        stats.masked = int((~is_sky & ~is_pt).sum())
        stats.sky = int(is_sky.sum())
        if stats.sky:
            self.env.write(tokens[is_sky], dirs[is_sky], conf[is_sky])
        idx = is_pt.nonzero().squeeze(1)  # [M] token indices, ascending
        if idx.numel():
            pts = camera.origin + torch.where(is_pt, d, 0.0)[:, None] * dirs  # [h*w, 3]
            footprint = d / min(camera.latent.fx, camera.latent.fy)  # [h*w] metres per pixel
            spacing = token_spacing(pts.view(h, w, 3), is_pt.view(h, w)).reshape(-1)
            slant = (spacing / footprint.clamp(min=1e-6)).clamp(1, 4)
            keys = torch.zeros_like(idx)  # set by write_points
            points = Tokens(keys, pts[idx], tokens[idx], conf[idx], footprint[idx], slant[idx],
                            conf[idx])
            self._evictions += write_points(self.store, cfg, points, self._writes, stats)
        self._last = stats
        return stats

    # ----- readout -----------------------------------------------------------------------------
    def camera(self, intrinsics: Intrinsics, c2w, field: str = "pose") -> FrameCamera:
        """The :class:`FrameCamera` of an image camera on this memory's stride and device."""
        return FrameCamera.of(intrinsics, c2w, self.spec.stride, self.device, field)

    def readout(self, camera: FrameCamera, cull: bool = True) -> Readout:
        """Project the store into ``camera`` at latent resolution (``camera.h`` x ``camera.w``).

        Pure: it never changes the store. Deterministic and independent of storage order
        (module docstring). ``cull`` reads only the blocks of points in the view frustum;
        ``cull=False`` projects every stored point (the reference: bit-identical result).
        """
        self._check_camera(camera)
        h, w, c = camera.h, camera.w, self.spec.channels
        features, depth, hit = _readout.zbuffer(self.store, self.config, camera, cull)
        coverage = hit.float()  # [h*w]
        sky = torch.zeros(h * w, device=self.device)
        if bool((self.env.weight > 0).any()) and not bool(hit.all()):
            miss = (~hit).nonzero().squeeze(1)
            env_feat, filled = self.env.read(camera.dirs.reshape(-1, 3)[miss])
            features[miss[filled]] = env_feat[filled]
            coverage[miss[filled]] = 1.0
            sky[miss[filled]] = 1.0
        return Readout(
            features=features.T.reshape(c, h, w).contiguous(),
            depth=depth.view(h, w),
            coverage=coverage.view(h, w),
            sky=sky.view(h, w),
        )

    # ----- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything a snapshot holds, on CPU: the occupied slots (``slot``) with every field
        of their record (:data:`.store.FIELDS`), the environment latent (``env_feat``,
        ``env_weight``) and the counters (``writes``, ``evictions``, 0-d int64)."""
        state = self.store.state_dict()
        state["env_feat"] = self.env.feat.cpu().clone()
        state["env_weight"] = self.env.weight.cpu().clone()
        state["writes"] = torch.tensor(self._writes, dtype=torch.int64)
        state["evictions"] = torch.tensor(self._evictions, dtype=torch.int64)
        return state

    def state_spec(self, n: int) -> dict[str, tuple[tuple[int, ...], torch.dtype, float, float]]:
        """Shape, dtype and inclusive value range of every tensor of a state dict holding
        ``n`` points (counters excluded)."""
        cfg, c = self.config, self.spec.channels
        spec = {"slot": ((n,), torch.int64, 0.0, float(cfg.capacity - 1))}
        for name, f in FIELDS.items():
            spec[name] = (self.store.shape(name, n), f.dtype, f.low, f.high)
        spec["env_feat"] = ((c, cfg.env_height, cfg.env_width), torch.float16, -np.inf, np.inf)
        spec["env_weight"] = ((cfg.env_height, cfg.env_width), torch.float16, 0.0, np.inf)
        return spec

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the contents with ``state`` (as :meth:`state_dict` returns; the caller has
        verified it against :meth:`state_spec`)."""
        self.store.load_state(state)
        self.env.feat.copy_(state["env_feat"])
        self.env.weight.copy_(state["env_weight"])
        self._writes = int(state["writes"])
        self._evictions = int(state["evictions"])
        self._last = WriteStats()

    def from_float_record(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A state dict of snapshot formats 1 to 3 (float32 record, verified) in this
        memory's record."""
        out = from_float_record(state, self.config.voxel_base)
        out["env_feat"] = state["env_feat"].half()
        out["env_weight"] = state["env_weight"].clamp(max=65504).half()
        return out

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
        """What a snapshot records and load() verifies (the snapshot adds its format)."""
        return {
            "model_id": self.model_id,
            "latent_spec": asdict(self.spec),
            "memory_config": asdict(self.config),
            "convention": self.CONVENTION,
        }

    def save(self, path) -> None:
        """Atomic snapshot (safetensors + JSON metadata); see :mod:`.snapshot`."""
        save_snapshot(self, path)

    def load(self, path) -> None:
        """Replace the contents with a verified snapshot; see :mod:`.snapshot`."""
        load_snapshot(self, path)
