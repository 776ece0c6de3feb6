"""Model backends: one small protocol, one file per backend, chosen by name with a lazy import.

A backend runs the three networks of the model contract (DESIGN.md, "Model contract") on one
device. The per-frame loop (:mod:`latentstage.runtime.pipeline`) and the sampler only see this
protocol, so torch, onnxruntime and TensorRT are interchangeable.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.memory import LatentSpec

#: Backend name -> module under ``latentstage.runtime.backends`` (imported on first use).
BACKENDS = {
    "torch": "torch_backend",  # takes a checkpoint directory or "bundled"
    "onnxruntime": "onnxruntime_backend",  # takes an ONNX engine bundle
    "tensorrt": "tensorrt_backend",  # takes a TensorRT engine bundle
}


@runtime_checkable
class Backend(Protocol):
    """Runs encode, decode and denoise with fixed shapes on one device."""

    name: str  # registry name, e.g. "torch"
    device: torch.device  # where inputs and outputs live
    model_id: str  # id of the weights (checkpoint or bundle)
    native_size: tuple[int, int]  # (width, height) pixels the model was trained at
    sampler_steps: int  # default sampler steps

    def latent_spec(self) -> LatentSpec: ...

    def encode(self, rgb: torch.Tensor) -> torch.Tensor: ...  # [B,3,H,W] -> [B,C,h,w]

    def decode(self, latent: torch.Tensor) -> torch.Tensor: ...  # [B,C,h,w] -> [B,3,H,W]

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]: ...  # v [B,C,h,w], depth [B,1,h,w]


def load_backend(name: str, source: str | Path, device: str | torch.device = "cpu") -> Backend:
    """Load ``source`` (a checkpoint directory, an engine bundle, or "bundled") with backend
    ``name``. Unknown names raise :class:`InvalidInput` listing the known ones."""
    module = BACKENDS.get(name)
    if module is None:
        raise InvalidInput("backend", name, f"one of {sorted(BACKENDS)}")
    mod = importlib.import_module(f"{__name__}.{module}")
    return mod.load(source, torch.device(device))
