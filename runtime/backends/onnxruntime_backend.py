"""The onnxruntime backend: an ONNX engine bundle on the CPU or CUDA execution provider.

Every call goes through an ``IOBinding`` bound to torch tensors, so inputs and outputs stay on
the backend's device (on CUDA nothing crosses to the host). Output buffers, and input staging
buffers where a cast or copy is needed, are allocated once per input shape and reused for every
later call of that shape.

Ownership: a returned tensor belongs to the backend and is overwritten by the next call of the
same network with the same shape; clone it to keep it longer. Calls of one network are
serialised by a lock, so sessions on several threads may share one backend.

The CUDA provider needs ``onnxruntime-gpu`` (``pip install 'latentstage[gpu]'``); it runs on the
torch stream that is current when the backend is loaded (``user_compute_stream``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from latentstage.runtime.backends.bundle import (
    NETWORKS,
    BundleModelConfig,
    Manifest,
    NetworkEntry,
    check_inputs,
    open_bundle,
    output_shapes,
)
from latentstage.runtime.errors import Incompatible, InvalidInput
from latentstage.runtime.memory import LatentSpec

log = logging.getLogger(__name__)

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16}
_NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16}


@dataclass
class _IO:
    """The preallocated buffers of one network at one input shape."""

    binding: object  # onnxruntime IOBinding with the outputs bound
    staged: list[torch.Tensor]  # [per input] graph-dtype buffers used when a copy is needed
    outputs: list[torch.Tensor]  # [per output] graph-dtype buffers bound as outputs
    results: list[torch.Tensor]  # [per output] float32 tensors returned (== outputs for fp32)


class _Network:
    """One ONNX graph in one InferenceSession, with IO buffers preallocated per input shape."""

    def __init__(self, session, entry: NetworkEntry, device: torch.device, spec: LatentSpec,
                 run_options=None):
        self.session = session
        self.entry = entry
        self.device = device
        self.spec = spec
        self.run_options = run_options
        self.dtype = _TORCH_DTYPES[entry.inputs[0].dtype]
        self._io: dict[tuple, _IO] = {}
        self._lock = threading.Lock()
        self._ort_device = ("cuda", device.index or 0) if device.type == "cuda" else ("cpu", 0)

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        shapes = [tuple(x.shape) for x in inputs]
        with self._lock:
            io = self._io.get(tuple(shapes))
            if io is None:
                check_inputs(self.entry, shapes)
                io = self._io[tuple(shapes)] = self._prepare(shapes)
            for spec, staged, x in zip(self.entry.inputs, io.staged, inputs, strict=True):
                if x.device != self.device:
                    raise InvalidInput(f"{self.entry.name}.{spec.name}.device", str(x.device),
                                       f"{self.device} (the backend's device)")
                if x.dtype == self.dtype and x.is_contiguous():
                    source = x  # bind the caller's memory directly: no copy
                else:
                    source = staged.copy_(x)
                io.binding.bind_input(spec.name, *self._ort_device, _NUMPY_DTYPES[spec.dtype],
                                      list(source.shape), source.data_ptr())
            self.session.run_with_iobinding(io.binding, self.run_options)
            for out, res in zip(io.outputs, io.results, strict=True):
                if res is not out:
                    res.copy_(out)
            return io.results

    def _prepare(self, shapes: list[tuple[int, ...]]) -> _IO:
        """Allocate and bind the buffers of one input shape (once per shape)."""
        staged = [torch.empty(s, dtype=self.dtype, device=self.device) for s in shapes]
        out_shapes = output_shapes(self.entry.name, shapes, self.spec.channels, self.spec.stride)
        binding = self.session.io_binding()
        outputs, results = [], []
        for spec, shape in zip(self.entry.outputs, out_shapes, strict=True):
            out = torch.empty(shape, dtype=self.dtype, device=self.device)
            binding.bind_output(spec.name, *self._ort_device, _NUMPY_DTYPES[spec.dtype],
                                list(shape), out.data_ptr())
            outputs.append(out)
            results.append(out if self.dtype == torch.float32 else torch.empty_like(
                out, dtype=torch.float32))
        return _IO(binding, staged, outputs, results)


class OnnxRuntimeBackend:
    """Runs an ONNX bundle (see the Backend protocol in ``latentstage.runtime.backends``)."""

    name = "onnxruntime"

    def __init__(self, manifest: Manifest, device: torch.device,
                 providers: list[str] | None = None, threads: int = 0):
        import onnxruntime as ort

        if manifest.precision == "bf16":
            raise Incompatible(f"bundle {str(manifest.directory)!r}: precision 'bf16' has no "
                               f"onnxruntime convolution kernels; run it with --backend tensorrt "
                               f"or export fp32/fp16")
        self.manifest = manifest
        self.device = device
        self.config: BundleModelConfig = manifest.config
        self.model_id = manifest.model_id
        self.native_size = tuple(manifest.config.native_size)
        self.sampler_steps = int(manifest.config.sampler_steps)
        self.providers = providers or _providers(device, ort)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # onnxruntime's workers spin-wait after each run by default; between the network calls
        # of a frame, torch runs the memory readout and write on the same cores, and spinning
        # workers starved them (measured on 2 cores: memory write 3 ms -> 300 ms per frame).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        run_options = None
        if device.type == "cuda":
            run_options = ort.RunOptions()
            # Results are consumed on the same torch stream, so the host need not wait.
            run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")
        self._nets = {}
        for name in NETWORKS:
            session = ort.InferenceSession(str(manifest.path(name)), options,
                                           providers=self.providers)
            self._nets[name] = _Network(session, manifest.networks[name], device,
                                        self.latent_spec(), run_options)
        self.provider = self._nets["denoiser"].session.get_providers()[0]

    def latent_spec(self) -> LatentSpec:
        return self.manifest.latent_spec()

    def encode(self, rgb: torch.Tensor) -> torch.Tensor:  # [B,3,H,W] -> [B,C,h,w]
        return self._nets["encoder"](rgb)[0]

    def decode(self, latent: torch.Tensor) -> torch.Tensor:  # [B,C,h,w] -> [B,3,H,W]
        return self._nets["decoder"](latent)[0]

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:  # v [B,C,h,w], depth [B,1,h,w]
        v, depth = self._nets["denoiser"](x_t, t, cond)
        return v, depth


def _providers(device: torch.device, ort) -> list:
    """CPU provider on the CPU; CUDA provider (on torch's current stream) on a CUDA device."""
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    if device.type != "cuda":
        raise InvalidInput("device", str(device), "cpu or cuda for the onnxruntime backend")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise Incompatible(f"device {device}: this onnxruntime ({ort.__version__}) has no "
                           f"CUDAExecutionProvider; install the extra: pip install "
                           f"'latentstage[gpu]' (onnxruntime-gpu)")
    stream = torch.cuda.current_stream(device)
    options = {"device_id": device.index or 0, "user_compute_stream": str(stream.cuda_stream),
               "use_tf32": "0"}  # fp32 graphs compute in fp32, as exported and verified
    return [("CUDAExecutionProvider", options)]


def load(source: str | Path, device: torch.device) -> OnnxRuntimeBackend:
    """An ONNX engine bundle directory (``latentstage export --format onnx``)."""
    manifest = open_bundle(source, engine="onnx", backend="onnxruntime")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return OnnxRuntimeBackend(manifest, device)
