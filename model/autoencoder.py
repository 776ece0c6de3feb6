"""The reference autoencoder: RGB images to latents of stride 8 and back.

Images are ``[B, 3, H, W]`` in [0, 1] with H and W multiples of 8; latents are
``[B, C, H/8, W/8]``, one latent pixel per 8 x 8 image pixels.

The design follows TAESD (a tiny distilled Stable Diffusion autoencoder): plain 3x3 convolutions
with ReLU, residual blocks and no normalisation layers. Every op is local, so a tile decodes
the same whatever the image size (128x128 or 1280x720), and both graphs export to ONNX opset 17
with fixed shapes. The decoder does its work at latent resolution and at 1/4 and 1/2, upsamples
with PixelShuffle, and keeps ``channels[0]`` (16 by default) channels at full resolution.

Latents are scaled to unit variance: ``latent = (raw - shift) * scaling``, where ``raw`` is the
encoder's output and ``scaling`` and ``shift`` are scalar buffers set by :meth:`calibrate`
after training (saved with the weights and in the checkpoint's ``latent`` spec).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from latentstage.runtime.errors import InvalidInput

#: Image pixels per latent pixel along each axis (three 2x downsamples).
STRIDE = 8
#: The encoder's raw output is soft-clamped to (-LATENT_BOUND, LATENT_BOUND) so that rare
#: outliers cannot dominate the latent scale (TAESD does the same with 3 * tanh(x / 3)).
LATENT_BOUND = 3.0


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(relu(x))))``: a residual block that keeps channels and size."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = _conv(channels, channels)
        self.conv2 = _conv(channels, channels)
        nn.init.zeros_(self.conv2.weight)  # start as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, H, W]
        return x + self.conv2(torch.relu(self.conv1(torch.relu(x))))


class Upsample(nn.Module):
    """2x upsampling: a 3x3 conv to ``4 * cout`` channels, then PixelShuffle."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _conv(cin, 4 * cout)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, cin, H, W] -> [B, cout, 2H, 2W]
        return self.shuffle(self.conv(x))


class Encoder(nn.Module):
    """``[B, 3, H, W]`` in [-1, 1] to the raw latent ``[B, C, H/8, W/8]`` (unscaled)."""

    def __init__(self, latent_channels: int, channels: Sequence[int], latent_blocks: int):
        super().__init__()
        c0, c1, c2, c3 = channels
        layers: list[nn.Module] = [_conv(3, c0), nn.ReLU()]  # full resolution
        for cin, cout in ((c0, c1), (c1, c2), (c2, c3)):  # 1/2, 1/4, 1/8
            layers += [_conv(cin, cout, stride=2), ResBlock(cout)]
        layers += [ResBlock(c3) for _ in range(latent_blocks - 1)]
        layers += [nn.ReLU(), _conv(c3, latent_channels)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, 3, H, W]
        raw = self.layers(x)
        return LATENT_BOUND * torch.tanh(raw / LATENT_BOUND)


class Decoder(nn.Module):
    """The raw latent ``[B, C, h, w]`` to RGB ``[B, 3, 8h, 8w]`` in [0, 1]."""

    def __init__(self, latent_channels: int, channels: Sequence[int], latent_blocks: int):
        super().__init__()
        c0, c1, c2, c3 = channels
        layers: list[nn.Module] = [_conv(latent_channels, c3)]
        layers += [ResBlock(c3) for _ in range(latent_blocks)]  # latent resolution
        layers += [nn.ReLU(), Upsample(c3, c2), ResBlock(c2)]  # 1/4
        layers += [nn.ReLU(), Upsample(c2, c1), ResBlock(c1)]  # 1/2
        layers += [nn.ReLU(), Upsample(c1, c0), nn.ReLU(), _conv(c0, 3)]  # full resolution
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # z: [B, C, h, w]
        return torch.sigmoid(self.layers(z))


class Autoencoder(nn.Module):
    """Encoder and decoder of stride 8 with a calibrated latent scale.

    The constructor arguments are the saved config (see :attr:`config`).

    Args:
        latent_channels: C, channels of a latent pixel.
        channels: feature channels at full, 1/2, 1/4 and 1/8 (latent) resolution.
        latent_blocks: residual blocks at latent resolution in each of encoder and decoder.
    """

    stride = STRIDE

    def __init__(
        self,
        latent_channels: int = 12,
        channels: Sequence[int] = (16, 32, 48, 96),
        latent_blocks: int = 2,
    ):
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) != 4 or min(channels) < 1:
            raise InvalidInput("autoencoder.channels", channels, "4 positive integers")
        if latent_channels < 1:
            raise InvalidInput("autoencoder.latent_channels", latent_channels, "an integer >= 1")
        if latent_blocks < 1:
            raise InvalidInput("autoencoder.latent_blocks", latent_blocks, "an integer >= 1")
        self.config = {
            "latent_channels": latent_channels,
            "channels": channels,
            "latent_blocks": latent_blocks,
        }
        self.latent_channels = latent_channels
        self.encoder = Encoder(latent_channels, channels, latent_blocks)
        self.decoder = Decoder(latent_channels, channels, latent_blocks)
        self.register_buffer("scaling", torch.tensor(1.0))  # [] latent = (raw - shift) * scaling
        self.register_buffer("shift", torch.tensor(0.0))  # [] see scaling

    def encode(self, rgb: torch.Tensor) -> torch.Tensor:
        """Scaled latents ``[B, C, H/8, W/8]`` of images ``rgb`` ``[B, 3, H, W]`` in [0, 1]."""
        if not torch.jit.is_tracing():
            self._check_rgb(rgb)
        return (self.encoder(rgb * 2 - 1) - self.shift) * self.scaling

    def _check_rgb(self, rgb: torch.Tensor) -> None:  # rgb: [B, 3, H, W]
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise InvalidInput("rgb.shape", tuple(rgb.shape), "[B, 3, H, W]")
        if rgb.shape[2] % STRIDE or rgb.shape[3] % STRIDE:
            raise InvalidInput(
                "rgb.size", tuple(rgb.shape[2:]), f"height and width multiples of {STRIDE}"
            )

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 3, 8h, 8w]`` in [0, 1] from scaled latents ``[B, C, h, w]``."""
        if not torch.jit.is_tracing() and (
            latent.dim() != 4 or latent.shape[1] != self.latent_channels
        ):
            raise InvalidInput(
                "latent.shape", tuple(latent.shape), f"[B, {self.latent_channels}, h, w]"
            )
        return self.decoder(latent / self.scaling + self.shift)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:  # rgb: [B, 3, H, W] -> same
        """Reconstruction ``decode(encode(rgb))``."""
        return self.decode(self.encode(rgb))

    @torch.no_grad()
    def calibrate(self, raw_latents: torch.Tensor) -> tuple[float, float]:
        """Set ``shift`` and ``scaling`` so that these raw latents get zero mean, unit variance.

        Args:
            raw_latents: [N, C, h, w] outputs of :attr:`encoder` (unscaled) over a sample of
                training images.

        Returns:
            (scaling, shift) as stored (float32 values).
        """
        raw = raw_latents.detach().double()
        std = float(raw.std())
        if raw.numel() < 2 or not std > 1e-8:  # also rejects NaN
            raise InvalidInput("raw_latents", tuple(raw.shape), "several values with spread")
        self.shift.fill_(float(raw.mean()))
        self.scaling.fill_(1.0 / std)
        return float(self.scaling), float(self.shift)
