"""The reference latent generator: one denoising step of flow matching on the latent grid.

``denoise(x_t[B,C,h,w], t[B], cond[B,K,h,w]) -> (v[B,C,h,w], depth[B,1,h,w])``

Flow-matching convention (shared with :mod:`latentstage.runtime.sampler`):
``x_t = (1 - t) * x0 + t * noise`` with t in [0, 1] (t = 1 is pure noise) and ``v = noise - x0``.

``cond`` stacks, per latent pixel, K = C + 9 channels: the memory's features (0 where
uncovered), its inverse depth (1/metres, 0 where none), coverage, sky, and the target camera's
Plücker rays (unit direction, moment in metres). The runtime owns that layout
(:func:`latentstage.runtime.conditioning.stack_cond`, re-exported here as ``build_cond``).

The network is a small two-level U-Net (h x w and ceil(h/2) x ceil(w/2)) with residual blocks
modulated by the timestep (scale and shift), and a per-pixel channel norm instead of GroupNorm
so that every op but the convolutions is local: the output does not depend on the image size,
and any latent size works (odd sizes included; the upsampled path is cropped to the skip's).

Inductive bias: where the memory covers a pixel, the right answer is the memory. The network
predicts the clean latent as a residual over the readout, ``x0 = cond_features + r``, and its
log depth as a residual over the readout's log depth. ``v`` is derived from that x0 as
``(x_t - x0) / max(t, T_MIN)`` (x-prediction with a v output, as in Li and He, "Back to Basics:
Let Denoising Generative Models Denoise", 2025), so one Euler step from t = 1 returns x0 itself.
Predicted depth is metres along the optical axis, in [DEPTH_MIN, DEPTH_MAX].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from latentstage.runtime.conditioning import COND_EXTRA_CHANNELS
from latentstage.runtime.conditioning import stack_cond as build_cond  # noqa: F401 (re-export)
from latentstage.runtime.errors import InvalidInput

#: Metres: predicted depth is clamped to this range.
DEPTH_MIN, DEPTH_MAX = 0.05, 1000.0
#: v = (x_t - x0) / max(t, T_MIN): bounds the gain near t = 0 (never sampled with <= 4 steps).
T_MIN = 0.05


class ChannelNorm(nn.Module):
    """Normalise each pixel over its channels (LayerNorm on dim 1 of NCHW), with an affine."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1, 1))  # [C, 1, 1]
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))  # [C, 1, 1]
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, H, W]
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=1, keepdim=True)
        return centred * torch.rsqrt(var + self.eps) * self.weight + self.bias


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of t in [0, 1] (frequencies as for timesteps 0..1000), then an MLP."""

    def __init__(self, time_dim: int):
        super().__init__()
        half = time_dim // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half) / half) * 1000.0
        self.register_buffer("freqs", freqs, persistent=False)  # [time_dim / 2]
        self.mlp = nn.Sequential(
            nn.Linear(2 * half, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # t: [B] -> [B, time_dim]
        angles = t.to(self.freqs.dtype)[:, None] * self.freqs[None]
        return self.mlp(torch.cat([torch.sin(angles), torch.cos(angles)], dim=1))


class ResBlock(nn.Module):
    """Pre-norm residual block; the timestep scales and shifts the second norm's output."""

    def __init__(self, cin: int, cout: int, time_dim: int):
        super().__init__()
        self.norm1 = ChannelNorm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(time_dim, 2 * cout)
        self.norm2 = ChannelNorm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # start as the (projected) identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        # x: [B, cin, H, W], temb: [B, time_dim] -> [B, cout, H, W]
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        scale, shift = self.film(nn.functional.silu(temb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(nn.functional.silu(h))


class LatentGenerator(nn.Module):
    """Two-level U-Net predicting the flow-matching velocity and depth (see module docstring).

    The constructor arguments are the saved config (see :attr:`config`).

    Args:
        latent_channels: C, channels of a latent pixel.
        cond_channels: K, channels of ``cond``; must be ``latent_channels + 9``.
        base_channels: channels at latent resolution; the half-resolution level has twice as many.
        time_dim: width of the timestep embedding.
        blocks: residual blocks per level on the way down and on the way up.
        mid_blocks: residual blocks at half resolution (the bottleneck).
    """

    def __init__(
        self,
        latent_channels: int = 12,
        cond_channels: int = 21,
        base_channels: int = 64,
        time_dim: int = 128,
        blocks: int = 1,
        mid_blocks: int = 2,
    ):
        super().__init__()
        for name, value, low in (
            ("latent_channels", latent_channels, 1), ("base_channels", base_channels, 1),
            ("time_dim", time_dim, 2), ("blocks", blocks, 1), ("mid_blocks", mid_blocks, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInput(f"generator.{name}", value, f"an integer >= {low}")
        if cond_channels != latent_channels + COND_EXTRA_CHANNELS:
            raise InvalidInput(
                "generator.cond_channels", cond_channels,
                f"latent_channels + {COND_EXTRA_CHANNELS} = "
                f"{latent_channels + COND_EXTRA_CHANNELS} (see build_cond)",
            )
        self.config = {
            "latent_channels": latent_channels, "cond_channels": cond_channels,
            "base_channels": base_channels, "time_dim": time_dim,
            "blocks": blocks, "mid_blocks": mid_blocks,
        }
        self.latent_channels, self.cond_channels = latent_channels, cond_channels
        c, c2 = base_channels, 2 * base_channels
        self.time = TimeEmbedding(time_dim)
        self.stem = nn.Conv2d(latent_channels + cond_channels, c, 3, padding=1)
        self.down = nn.ModuleList(ResBlock(c, c, time_dim) for _ in range(blocks))
        self.downsample = nn.Conv2d(c, c2, 3, stride=2, padding=1)  # ceil(h/2) x ceil(w/2)
        self.mid = nn.ModuleList(ResBlock(c2, c2, time_dim) for _ in range(mid_blocks))
        self.upsample = nn.Conv2d(c2, c, 3, padding=1)  # after a nearest 2x upsample
        self.up = nn.ModuleList(
            ResBlock(2 * c if i == 0 else c, c, time_dim) for i in range(blocks)
        )
        self.out_norm = ChannelNorm(c)
        self.out_x0 = nn.Conv2d(c, latent_channels, 3, padding=1)  # residual over the memory
        self.out_depth = nn.Conv2d(c, 1, 3, padding=1)  # log-depth residual over the memory
        for head in (self.out_x0, self.out_depth):  # start by copying the memory
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(
        self,
        x_t: torch.Tensor,  # [B, C, h, w] noisy latent at time t
        t: torch.Tensor,  # [B] flow time in [0, 1], 1 = pure noise
        cond: torch.Tensor,  # [B, K, h, w] from build_cond
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity ``v`` [B, C, h, w] and depth [B, 1, h, w] (metres along the optical axis)."""
        self._check(x_t, t, cond)
        temb = self.time(t)
        h = self.stem(torch.cat([x_t, cond], dim=1))
        for block in self.down:
            h = block(h, temb)
        skip = h
        h = self.downsample(h)
        for block in self.mid:
            h = block(h, temb)
        h = nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")
        h = self.upsample(h[:, :, : skip.shape[2], : skip.shape[3]])  # crop odd sizes
        h = torch.cat([h, skip], dim=1)
        for block in self.up:
            h = block(h, temb)
        h = nn.functional.silu(self.out_norm(h))
        c = self.latent_channels
        x0 = cond[:, :c] + self.out_x0(h)
        inv_depth = cond[:, c : c + 1]
        has_depth = inv_depth > 0
        memory_log_depth = torch.where(has_depth, -torch.log(inv_depth.clamp_min(1e-12)), 0.0)
        log_depth = memory_log_depth + self.out_depth(h)
        depth = torch.exp(log_depth.clamp(math.log(DEPTH_MIN), math.log(DEPTH_MAX)))
        v = (x_t - x0) / t.clamp_min(T_MIN)[:, None, None, None].to(x_t.dtype)
        return v, depth

    def denoise(
        self,
        x_t: torch.Tensor,  # [B, C, h, w]
        t: torch.Tensor,  # [B]
        cond: torch.Tensor,  # [B, K, h, w]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The same as calling the module: ``(v [B, C, h, w], depth [B, 1, h, w])``."""
        return self(x_t, t, cond)

    def _check(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> None:
        """Shape checks only (no values); skipped while tracing, where shapes are fixed."""
        if torch.jit.is_tracing():
            return
        if x_t.dim() != 4 or x_t.shape[1] != self.latent_channels:
            raise InvalidInput("x_t.shape", tuple(x_t.shape), f"[B, {self.latent_channels}, h, w]")
        b, _, h, w = x_t.shape
        if tuple(t.shape) != (b,):
            raise InvalidInput("t.shape", tuple(t.shape), f"[{b}]")
        if tuple(cond.shape) != (b, self.cond_channels, h, w):
            raise InvalidInput(
                "cond.shape", tuple(cond.shape), f"[{b}, {self.cond_channels}, {h}, {w}]"
            )
