"""The TensorRT backend: serialized engines of a TensorRT bundle, run on torch CUDA tensors.

A small session per network, in the manner of TensorRT-LLM's ``Session``:
``from_serialized_engine`` (deserialize and check the I/O against the manifest), ``infer_shapes``
(``set_input_shape``, then read the output shapes) and ``run`` (``set_tensor_address`` on torch
device tensors, then ``execute_async_v3`` on the torch stream that is current at the call, which
is the stream the world session owns). Building engines lives in ``latentstage.export``; this
module never imports it.

Output buffers, and input staging buffers where a cast is needed, are allocated once per input
shape and reused. A returned tensor belongs to the backend and is overwritten by the next call
of the same network with the same shape. ``tensorrt`` is imported only when a bundle is loaded
(``pip install 'latentstage[tensorrt]'``).

Unverified here: this module has not been executed against a real TensorRT installation in this
repository's CI (no GPU); see docs/export.md.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from latentstage.runtime.backends.bundle import (
    NETWORKS,
    BundleModelConfig,
    Manifest,
    NetworkEntry,
    check_inputs,
    check_tensorrt_compatible,
    open_bundle,
)
from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput
from latentstage.runtime.memory import LatentSpec

log = logging.getLogger(__name__)

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16,
                 "bfloat16": torch.bfloat16}


def _import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise Incompatible("the tensorrt backend needs the tensorrt package: pip install "
                           "'latentstage[tensorrt]' on a machine with an NVIDIA GPU") from exc
    return trt


@dataclass
class _Shapes:
    """Buffers of one input shape."""

    inputs: list[tuple[int, ...]]  # input shapes, as set with set_input_shape
    staged: list[torch.Tensor]  # [per input] engine-dtype buffers used when a cast is needed
    outputs: list[torch.Tensor]  # [per output] engine-dtype buffers the engine writes
    results: list[torch.Tensor]  # [per output] float32 tensors returned (== outputs for fp32)


class EngineSession:
    """One deserialized engine and its execution context."""

    def __init__(self, trt, engine, entry: NetworkEntry, device: torch.device):
        self.trt = trt
        self.engine = engine
        self.entry = entry
        self.device = device
        self.context = engine.create_execution_context()
        if self.context is None:
            raise Incompatible(f"TensorRT could not create an execution context for "
                               f"{entry.file} (out of GPU memory?)")
        self.dtype = _TORCH_DTYPES[entry.inputs[0].dtype]
        self._shapes: dict[tuple, _Shapes] = {}
        self._current: tuple | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_serialized_engine(cls, trt, runtime, path: Path, entry: NetworkEntry,
                               device: torch.device) -> EngineSession:
        """Deserialize ``path`` and check its I/O tensors against the manifest ``entry``."""
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise CorruptFile(f"{path}: TensorRT could not deserialize the engine (built by "
                              f"another TensorRT version or for another GPU?)")
        session = cls(trt, engine, entry, device)
        session._check_io()
        return session

    def _check_io(self) -> None:
        trt = self.trt
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        want = [t.name for t in self.entry.inputs + self.entry.outputs]
        if sorted(names) != sorted(want):
            raise CorruptFile(f"{self.entry.file}: engine tensors are {names}, the manifest "
                              f"lists {want}")
        dtypes = {trt.DataType.FLOAT: "float32", trt.DataType.HALF: "float16",
                  trt.DataType.BF16: "bfloat16"}
        for spec in self.entry.inputs + self.entry.outputs:
            got = dtypes.get(self.engine.get_tensor_dtype(spec.name), "other")
            if got != spec.dtype:
                raise CorruptFile(f"{self.entry.file}: tensor {spec.name!r} is {got} in the "
                                  f"engine, {spec.dtype} in the manifest")

    def infer_shapes(self, shapes: list[tuple[int, ...]]) -> _Shapes:
        """Set the input shapes and allocate buffers for the outputs they imply (once each)."""
        key = tuple(shapes)
        cached = self._shapes.get(key)
        if cached is not None:
            if self._current != key:
                for spec, shape in zip(self.entry.inputs, shapes, strict=True):
                    self.context.set_input_shape(spec.name, shape)
                self._current = key
            return cached
        check_inputs(self.entry, shapes)
        for spec, shape in zip(self.entry.inputs, shapes, strict=True):
            if not self.context.set_input_shape(spec.name, shape):
                raise InvalidInput(f"{self.entry.name}.{spec.name}.shape", list(shape),
                                   f"{spec.range_text()} (TensorRT refused it)")
        self._current = key
        staged = [torch.empty(s, dtype=self.dtype, device=self.device) for s in shapes]
        outputs, results = [], []
        for spec in self.entry.outputs:
            shape = tuple(self.context.get_tensor_shape(spec.name))
            out = torch.empty(shape, dtype=self.dtype, device=self.device)
            self.context.set_tensor_address(spec.name, out.data_ptr())
            outputs.append(out)
            results.append(out if self.dtype == torch.float32 else torch.empty_like(
                out, dtype=torch.float32))
        entry = self._shapes[key] = _Shapes(list(shapes), staged, outputs, results)
        return entry

    def run(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """Execute on the current torch stream; returns float32 outputs (owned, see module)."""
        with self._lock:
            io = self.infer_shapes([tuple(x.shape) for x in inputs])
            for spec, staged, x in zip(self.entry.inputs, io.staged, inputs, strict=True):
                if x.device != self.device:
                    raise InvalidInput(f"{self.entry.name}.{spec.name}.device", str(x.device),
                                       f"{self.device} (the backend's device)")
                source = x if x.dtype == self.dtype and x.is_contiguous() else staged.copy_(x)
                self.context.set_tensor_address(spec.name, source.data_ptr())
            for spec, out in zip(self.entry.outputs, io.outputs, strict=True):
                self.context.set_tensor_address(spec.name, out.data_ptr())
            stream = torch.cuda.current_stream(self.device)
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError(f"TensorRT execute_async_v3 failed for {self.entry.file}")
            for out, res in zip(io.outputs, io.results, strict=True):
                if res is not out:
                    res.copy_(out)
            return io.results


class TensorRTBackend:
    """Runs a TensorRT bundle (see the Backend protocol in ``latentstage.runtime.backends``)."""

    name = "tensorrt"

    def __init__(self, manifest: Manifest, device: torch.device):
        trt = _import_tensorrt()
        if device.type != "cuda" or not torch.cuda.is_available():
            raise InvalidInput("device", str(device), "a CUDA device for the tensorrt backend")
        check_tensorrt_compatible(manifest, trt.__version__,
                                  torch.cuda.get_device_capability(device))
        self.manifest = manifest
        self.device = device
        self.config: BundleModelConfig = manifest.config
        self.model_id = manifest.model_id
        self.native_size = tuple(manifest.config.native_size)
        self.sampler_steps = int(manifest.config.sampler_steps)
        self.provider = f"TensorRT {trt.__version__}"
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(device):
            self._sessions = {
                name: EngineSession.from_serialized_engine(
                    trt, self._runtime, manifest.path(name), manifest.networks[name], device)
                for name in NETWORKS
            }

    def latent_spec(self) -> LatentSpec:
        return self.manifest.latent_spec()

    def encode(self, rgb: torch.Tensor) -> torch.Tensor:  # [B,3,H,W] -> [B,C,h,w]
        return self._sessions["encoder"].run(rgb)[0]

    def decode(self, latent: torch.Tensor) -> torch.Tensor:  # [B,C,h,w] -> [B,3,H,W]
        return self._sessions["decoder"].run(latent)[0]

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:  # v [B,C,h,w], depth [B,1,h,w]
        v, depth = self._sessions["denoiser"].run(x_t, t, cond)
        return v, depth


def load(source: str | Path, device: torch.device) -> TensorRTBackend:
    """A TensorRT engine bundle directory (``latentstage export --format tensorrt``)."""
    manifest = open_bundle(source, engine="tensorrt", backend="tensorrt")
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    return TensorRTBackend(manifest, device)
