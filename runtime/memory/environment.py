"""The environment latent: sky and far tokens, indexed by world direction on an
equirectangular grid (rows: elevation from +Z down to -Z; columns: azimuth), fused like points
and read back with a bilinear lookup that wraps in azimuth."""

from __future__ import annotations

import math

import torch

from latentstage.runtime.memory.spec import MemoryConfig


class EnvironmentLatent:
    """Direction-indexed latent features for what lies beyond ``far`` (and the sky)."""

    def __init__(self, channels: int, config: MemoryConfig, device: torch.device):
        self.config = config
        eh, ew = config.env_height, config.env_width
        self.feat = torch.zeros(channels, eh, ew, dtype=torch.float16, device=device)  # [C,He,We]
        self.weight = torch.zeros(eh, ew, dtype=torch.float16, device=device)  # [He, We]

    @property
    def bytes(self) -> int:
        """Bytes of the grid (features and weights)."""
        return self.feat.numel() * 2 + self.weight.numel() * 2

    def cells(self) -> int:
        """Cells observed at least once."""
        return int((self.weight > 0).sum())

    def clear(self) -> None:
        self.feat.zero_()
        self.weight.zero_()

    def _grid(self, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Continuous (row [M], col [M]) of world directions [M, 3] in the grid."""
        d = dirs / dirs.norm(dim=1, keepdim=True)
        az = torch.atan2(d[:, 1], d[:, 0])  # (-pi, pi]
        el = torch.asin(d[:, 2].clamp(-1, 1))  # [-pi/2, pi/2]
        col = (az + math.pi) / (2 * math.pi) * self.config.env_width - 0.5
        row = (math.pi / 2 - el) / math.pi * self.config.env_height - 0.5
        return row, col

    def write(self, feats: torch.Tensor, dirs: torch.Tensor, conf: torch.Tensor) -> None:
        """Fuse tokens (features [M, C], world directions [M, 3], confidence [M]) into their
        nearest cells; the first token of a cell (in token order) represents it."""
        cfg = self.config
        row, col = self._grid(dirs)
        r = row.round().clamp(0, cfg.env_height - 1).long()
        cc = torch.remainder(col.round().long(), cfg.env_width)
        cell = r * cfg.env_width + cc  # [M]
        ucell, inverse = torch.unique(cell, sorted=True, return_inverse=True)
        order = torch.arange(cell.numel(), device=cell.device)
        rep = torch.full((ucell.numel(),), cell.numel(), dtype=torch.int64, device=cell.device)
        rep.scatter_reduce_(0, inverse, order, "amin")
        f_new, w_new = feats[rep], conf[rep]  # [U, C], [U]
        env = self.feat.view(self.feat.shape[0], -1)  # [C, He*We]
        w_env = self.weight.view(-1)  # [He*We]
        f_old, w_old = env[:, ucell].T.float(), w_env[ucell].float()
        diff = (f_new - f_old).pow(2).mean(dim=1).sqrt()
        replace = (w_old == 0) | ((diff > cfg.replace_rms) & (w_new >= cfg.replace_confidence))
        a = torch.where(replace, torch.ones_like(w_new), w_new / (w_old + w_new))[:, None]
        env[:, ucell] = (f_old + a * (f_new - f_old)).T.half()
        w = torch.where(replace, w_new, (w_old + w_new).clamp(max=cfg.max_weight))
        w_env[ucell] = w.clamp(max=65504).half()

    def read(self, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bilinear lookup of world directions [M, 3]: (features [M, C], filled [M] bool)."""
        cfg = self.config
        row, col = self._grid(dirs)
        filled = (self.weight > 0).float()  # [He, We]
        grid_src = torch.cat([self.feat.float() * filled, filled[None]], dim=0)  # [C+1, He, We]
        # Wrap azimuth by padding one column on each side, then sample with grid_sample.
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
