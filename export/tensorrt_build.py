"""Build TensorRT engines from the bundle's ONNX files (TensorRT 10 and 11 Python API).

One engine per network:

- the network is created strongly typed (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``;
  TensorRT 11 always is, and removed the FP16/BF16 builder flags), so the precision is the ONNX
  graph's own dtype: export fp16/bf16 graphs to get fp16/bf16 engines;
- one optimisation profile per engine with (min, opt, max) shapes from the shape plan;
- a timing cache read before and written after each build, so rebuilding on the same GPU and
  TensorRT version reuses measured tactics;
- the hardware-compatibility level is set on the config and recorded in the manifest;
- TF32 is turned off, so an fp32 bundle computes in fp32 (for speed, export fp16).

``tensorrt`` is imported inside the functions, so this module imports on any machine. Nothing
here has been executed in this repository's CI (no GPU, no TensorRT); see docs/export.md.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from latentstage.runtime.backends.bundle import TensorSpec
from latentstage.runtime.errors import Incompatible, InvalidInput

log = logging.getLogger(__name__)

#: CLI name -> ``trt.HardwareCompatibilityLevel`` member.
HARDWARE_LEVELS = {"none": "NONE", "ampere_plus": "AMPERE_PLUS",
                   "same_compute_capability": "SAME_COMPUTE_CAPABILITY"}


class EngineBuildError(RuntimeError):
    """TensorRT could not parse or build a network; the message has the parser's errors."""


@dataclass(frozen=True)
class EngineBuildConfig:
    """Settings shared by the engines of one bundle."""

    timing_cache: Path  # read when present, rewritten after every build
    hardware_compatibility: str = "none"  # key of HARDWARE_LEVELS
    workspace_bytes: int | None = None  # cap on builder scratch memory; None = TensorRT default

    def __post_init__(self) -> None:
        if self.hardware_compatibility not in HARDWARE_LEVELS:
            raise InvalidInput("hardware_compatibility", self.hardware_compatibility,
                               f"one of {sorted(HARDWARE_LEVELS)}")


def import_tensorrt():
    """The ``tensorrt`` module, or :class:`Incompatible` saying how to get it."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise Incompatible("--format tensorrt needs the tensorrt package and an NVIDIA GPU: "
                           "pip install 'latentstage[tensorrt]'") from exc
    return trt


def default_timing_cache(gpu: str, trt_version: str) -> Path:
    """``~/.cache/latentstage/tensorrt/<gpu>-trt<version>.timing`` (XDG_CACHE_HOME honoured)."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    safe = "".join(c if c.isalnum() else "-" for c in gpu).strip("-").lower()
    return root / "latentstage" / "tensorrt" / f"{safe}-trt{trt_version}.timing"


def build_engine(onnx_path: Path, engine_path: Path, inputs: tuple[TensorSpec, ...],
                 config: EngineBuildConfig, monitor=None) -> dict:
    """Parse ``onnx_path``, build a serialized engine into ``engine_path``.

    Args:
        inputs: the network's input specs; their min/opt/max shapes form the profile.
        monitor: an optional ``trt.IProgressMonitor`` (kept alive for the build).

    Returns facts for the manifest: seconds, and whether the timing cache was reused.
    """
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    network = builder.create_network(0 if flag is None else 1 << int(flag))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"TensorRT could not parse {onnx_path.name}: {errors}")

    cfg = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for spec in inputs:
        profile.set_shape(spec.name, spec.min, spec.opt, spec.max)
    cfg.add_optimization_profile(profile)
    cfg.hardware_compatibility_level = getattr(
        trt.HardwareCompatibilityLevel, HARDWARE_LEVELS[config.hardware_compatibility])
    if hasattr(trt.BuilderFlag, "TF32"):  # on by default: fp32 convolutions in TF32 (10-bit
        cfg.clear_flag(trt.BuilderFlag.TF32)  # mantissa) would break fp32 parity (1e-4)
    if config.workspace_bytes:
        cfg.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_bytes)
    if monitor is not None:
        cfg.progress_monitor = monitor

    cache_path = config.timing_cache
    blob = cache_path.read_bytes() if cache_path.is_file() else b""
    cache = cfg.create_timing_cache(blob)
    cfg.set_timing_cache(cache, ignore_mismatch=False)

    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, cfg)
    if serialized is None:
        raise EngineBuildError(f"TensorRT failed to build an engine from {onnx_path.name} "
                               f"(see the TensorRT log above)")
    seconds = time.perf_counter() - start
    engine_path.write_bytes(bytes(serialized))
    _save_timing_cache(cfg.get_timing_cache(), cache_path)
    log.info("built %s in %.1f s (timing cache %s)", engine_path.name, seconds,
             "reused" if blob else "new")
    return {"seconds": round(seconds, 2), "timing_cache_reused": bool(blob)}


def _save_timing_cache(cache, path: Path) -> None:
    """Write the cache atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(memoryview(cache.serialize()))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def gpu_facts(device) -> dict:
    """Name and compute capability of the CUDA device engines are built on."""
    import torch

    if not torch.cuda.is_available():
        raise Incompatible("--format tensorrt needs a CUDA GPU (torch.cuda.is_available() is "
                           "False)")
    major, minor = torch.cuda.get_device_capability(device)
    return {"gpu": torch.cuda.get_device_name(device), "compute_capability": [major, minor]}
