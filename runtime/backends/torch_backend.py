"""The torch backend: the checkpoint's own modules, eager, in inference mode."""

from __future__ import annotations

from pathlib import Path

import torch

from latentstage.runtime.memory import LatentSpec


class TorchBackend:
    """Wraps a :class:`~latentstage.model.world_model.WorldModel` (see the Backend protocol)."""

    name = "torch"

    def __init__(self, model, device: torch.device):
        self.model = model.to(device).eval()
        self.device = device
        self.model_id = model.model_id
        self.native_size = tuple(model.config.native_size)
        self.sampler_steps = int(model.config.sampler_steps)
        self.config = model.config

    def latent_spec(self) -> LatentSpec:
        return self.model.latent_spec()

    @torch.inference_mode()
    def encode(self, rgb: torch.Tensor) -> torch.Tensor:  # [B,3,H,W] -> [B,C,h,w]
        return self.model.encode(rgb)

    @torch.inference_mode()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:  # [B,C,h,w] -> [B,3,H,W]
        return self.model.decode(latent)

    @torch.inference_mode()
    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.denoise(x_t, t, cond)


def load(source: str | Path, device: torch.device) -> TorchBackend:
    """A checkpoint directory, or "bundled" for the checkpoint shipped with the package."""
    from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir

    path = bundled_checkpoint_dir() if str(source) in ("", "bundled") else Path(source)
    return TorchBackend(WorldModel.from_pretrained(path, device=device), device)
