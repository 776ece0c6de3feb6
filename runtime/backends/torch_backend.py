"""The torch backend: the checkpoint's own modules, in inference mode.

On the CPU the networks run eagerly. On CUDA each network is, by default, compiled with
``torch.compile`` and captured as a CUDA graph per input shape: the first call of a shape warms
up and captures, later calls copy the inputs into static buffers and replay the graph, so the
fixed-shape per-frame step launches no Python-side kernels and allocates nothing. A returned
tensor is then a static buffer that the next call of the same network and shape overwrites
(clone it to keep it). The eager path stays the reference that every fast path is tested
against.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from latentstage.runtime.errors import Incompatible
from latentstage.runtime.memory import LatentSpec

log = logging.getLogger(__name__)


@dataclass
class _Graph:
    """One captured call: static inputs, the graph, and the static outputs it writes."""

    graph: torch.cuda.CUDAGraph
    inputs: list[torch.Tensor]  # static copies of the call's inputs
    outputs: tuple[torch.Tensor, ...]  # static outputs, rewritten by every replay


class GraphedCall:
    """``fn(*tensors) -> tensor or tuple of tensors``, captured as one CUDA graph per shape."""

    def __init__(self, fn: Callable, device: torch.device, warmup: int = 3):
        self.fn = fn
        self.device = device
        self.warmup = warmup
        self._graphs: dict[tuple, _Graph] = {}
        self._lock = threading.Lock()

    def __call__(self, *inputs: torch.Tensor):
        key = tuple((tuple(x.shape), x.dtype, x.device) for x in inputs)
        with self._lock:
            entry = self._graphs.get(key)
            if entry is None:
                entry = self._graphs[key] = self._capture(inputs)
            for static, x in zip(entry.inputs, inputs, strict=True):
                static.copy_(x)
            entry.graph.replay()
            return entry.outputs if len(entry.outputs) > 1 else entry.outputs[0]

    def _capture(self, inputs: tuple[torch.Tensor, ...]) -> _Graph:
        static = [x.detach().clone() for x in inputs]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up (and compilation) off the capture
            for _ in range(self.warmup):
                self.fn(*static)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self.fn(*static)
        outputs = out if isinstance(out, tuple) else (out,)
        log.debug("captured a CUDA graph for shapes %s", [tuple(x.shape) for x in inputs])
        return _Graph(graph, static, outputs)


class TorchBackend:
    """Wraps a world model's modules (``model.WorldModel``; see the Backend protocol).

    Args:
        model: the world model.
        device: where it runs.
        compile: ``torch.compile`` each network; None = on for CUDA when Triton is importable.
        cuda_graphs: capture each network as a CUDA graph per shape; None = on for CUDA.
    """

    name = "torch"

    def __init__(self, model, device: torch.device, compile: bool | None = None,
                 cuda_graphs: bool | None = None):
        self.model = model.to(device).eval()
        self.device = device
        self.model_id = model.model_id
        self.native_size = tuple(model.config.native_size)
        self.sampler_steps = int(model.config.sampler_steps)
        self.config = model.config
        cuda = device.type == "cuda"
        self.compiled = bool(cuda and (_has_triton() if compile is None else compile))
        self.cuda_graphs = bool(cuda if cuda_graphs is None else cuda_graphs)
        if (self.compiled or self.cuda_graphs) and not cuda:
            raise Incompatible(f"device {device}: torch.compile and CUDA graphs in the torch "
                               f"backend need a CUDA device")
        self.provider = "eager" + (" + torch.compile" if self.compiled else "") + (
            " + CUDA graphs" if self.cuda_graphs else "")
        self._encode = self._fast(self.model.encode)
        self._decode = self._fast(self.model.decode)
        self._denoise = self._fast(self.model.denoise)

    def _fast(self, fn: Callable) -> Callable:
        if self.compiled:
            fn = torch.compile(fn, dynamic=False)
        if self.cuda_graphs:
            fn = GraphedCall(fn, self.device)
        return fn

    def latent_spec(self) -> LatentSpec:
        return self.model.latent_spec()

    @torch.inference_mode()
    def encode(self, rgb: torch.Tensor) -> torch.Tensor:  # [B,3,H,W] -> [B,C,h,w]
        return self._encode(rgb)

    @torch.inference_mode()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:  # [B,C,h,w] -> [B,3,H,W]
        return self._decode(latent)

    @torch.inference_mode()
    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:  # v [B,C,h,w], depth [B,1,h,w]
        return self._denoise(x_t, t, cond)


def _has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        log.info("triton is not installed: the torch backend runs CUDA graphs without "
                 "torch.compile")
        return False
    return True


def load(source: str | Path, device: torch.device, *, compile: bool | None = None,
         cuda_graphs: bool | None = None) -> TorchBackend:
    """A checkpoint directory, or "bundled" for the checkpoint shipped with the package, loaded
    by the registered checkpoint loader (:mod:`latentstage.runtime.providers`)."""
    from latentstage.runtime.backends.bundle import is_bundle
    from latentstage.runtime.providers import checkpoint_loader

    bundled = str(source) in ("", "bundled")
    path = Path(source)
    if not bundled and is_bundle(path) and not (path / "config.json").is_file():
        raise Incompatible(f"{str(path)!r} is an engine bundle (manifest.json), not a "
                           f"checkpoint: the torch backend takes a checkpoint directory "
                           f"(config.json, model.safetensors); run bundles with --backend "
                           f"onnxruntime or --backend tensorrt")
    loader = checkpoint_loader()
    if loader is None:
        raise Incompatible("the torch backend has no checkpoint loader registered: call "
                           "latentstage.model.providers.install() once (the latentstage CLI "
                           "does), or register one with runtime.providers."
                           "provide_checkpoint_loader")
    return TorchBackend(loader(source, device), device, compile=compile,
                        cuda_graphs=cuda_graphs)
