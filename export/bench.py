"""``latentstage bench backends``: every available backend, timed in one run, against torch eager.

For each backend: the time of one call of each network at the benchmark size, and the time of
a whole frame (``FrameStep``: readout, sampler steps, decode, memory write, host copy) along a
camera path that pans away and back. Backends are interleaved call by call. Figures are printed
as milliseconds (median, and best-of: the least disturbed by other processes) and as speed-ups
over torch eager measured in the same run; they are never asserted by tests.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

log = logging.getLogger(__name__)


@dataclass
class BackendTiming:
    """Milliseconds of one backend: every sample, summarised by :meth:`stat`."""

    name: str  # row label, e.g. "onnxruntime (CPUExecutionProvider)"
    network_ms: dict[str, list[float]] = field(default_factory=dict)  # per network, per call
    frame_ms: list[float] = field(default_factory=list)  # per FrameStep call
    note: str = ""  # why a backend was skipped, if it was

    def stat(self, kind: str) -> dict[str, float]:
        """``{"encoder", "denoiser", "decoder", "frame"}`` -> median or min ("best") ms."""
        fn = statistics.median if kind == "median" else min
        out = {n: fn(v) for n, v in self.network_ms.items()}
        out["frame"] = fn(self.frame_ms)
        return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def time_backends(backends: list[tuple[str, object]], size: tuple[int, int],
                  device: torch.device, repeats: int, frames: int, warmup: int = 3
                  ) -> list[BackendTiming]:
    """Per-network and per-frame medians of every backend at ``size`` (W, H).

    Backends are interleaved call by call (and frame by frame), so load from other processes
    falls on all of them alike and the ratios stay fair on a shared machine.
    """
    from latentstage.export.samples import loop_poses, sample_frame
    from latentstage.export.verify import random_cond
    from latentstage.runtime.memory import LatentMemory, MemoryConfig
    from latentstage.runtime.pipeline import FrameStep, seed_memory

    spec = backends[0][1].latent_spec()
    w, h = size
    lh, lw, c = h // spec.stride, w // spec.stride, spec.channels
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, h, w, generator=gen).to(device)
    latent = torch.randn(1, c, lh, lw, generator=gen).to(device)
    t = torch.ones(1, device=device)
    cond = random_cond(1, c, lh, lw, gen).to(device)
    calls = {"encoder": lambda b: b.encode(rgb), "denoiser": lambda b: b.denoise(latent, t, cond),
             "decoder": lambda b: b.decode(latent)}
    samples = {label: {n: [] for n in calls} for label, _ in backends}
    with torch.inference_mode():
        for r in range(warmup + repeats):
            for label, backend in backends:
                for net, call in calls.items():
                    seconds = _timed(lambda call=call, backend=backend: call(backend), device)
                    if r >= warmup:
                        samples[label][net].append(seconds)

    frame = sample_frame(size, spec.stride, device)
    poses = loop_poses(frame, frames)
    steps = []
    for _, backend in backends:
        memory = LatentMemory(spec, MemoryConfig(capacity=65_536), device=device,
                              model_id=backend.model_id)
        seed_memory(backend, memory, frame.rgb[0], frame.depth,
                    memory.camera(frame.intrinsics, frame.c2w), sky=frame.sky)
        steps.append((memory, FrameStep(backend, memory, seed=0)))
    totals = {label: [] for label, _ in backends}
    for i, pose in enumerate(poses):
        for (label, backend), (memory, step) in zip(backends, steps, strict=True):
            out = step(memory.camera(frame.intrinsics, pose), i, backend.sampler_steps)
            if i >= warmup:
                totals[label].append(out.timing.model)
    return [BackendTiming(label, {n: [x * 1e3 for x in v] for n, v in samples[label].items()},
                          [x * 1e3 for x in totals[label]])
            for label, _ in backends]


def reference_checkpoint(size: tuple[int, int], workdir: Path) -> tuple[str, str]:
    """(checkpoint path, description): the bundled checkpoint, or an untrained model of the
    reference architecture (same cost) saved into ``workdir``."""
    from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir
    from latentstage.runtime.errors import NotFound

    try:
        return str(bundled_checkpoint_dir()), "bundled checkpoint"
    except NotFound:
        path = workdir / "untrained"
        WorldModel.create(native_size=size).save_pretrained(path)
        return str(path), "untrained reference-size model (no bundled checkpoint)"


def run_bench(device: torch.device, size: tuple[int, int], repeats: int, frames: int,
              stage: Callable[[str], None], threads: int = 0
              ) -> tuple[list[BackendTiming], str]:
    """Time every backend available on ``device``; returns rows (torch eager first) and the
    model's description. ``threads`` > 0 gives torch and onnxruntime that many CPU threads
    (0: each library's default, one per core)."""
    from latentstage.export.exporter import ExportOptions, export_bundle
    from latentstage.runtime.backends.torch_backend import load as load_torch
    from latentstage.runtime.errors import Incompatible

    loaded: list[tuple[str, object]] = []
    skipped: list[BackendTiming] = []
    with tempfile.TemporaryDirectory(prefix="latentstage-bench-") as tmp:
        work = Path(tmp)
        ckpt, source = reference_checkpoint(size, work)
        stage("loading torch")
        loaded.append(("torch eager", load_torch(ckpt, device, compile=False,
                                                 cuda_graphs=False)))
        if device.type == "cuda":
            fast = load_torch(ckpt, device)
            loaded.append((f"torch ({fast.provider})", fast))
        stage("exporting an ONNX bundle")
        export_bundle(ExportOptions(out=work / "onnx", checkpoint=ckpt, size=size,
                                    device="cpu", build_command="latentstage bench backends"),
                      _Stages(stage))
        bundles = [("onnxruntime", work / "onnx")]
        if device.type == "cuda":
            note = _tensorrt_bundle(ckpt, work / "trt", size, device, stage)
            if note:
                skipped.append(BackendTiming("tensorrt", note=note))
            else:
                bundles.append(("tensorrt", work / "trt"))
        for name, path in bundles:
            try:
                backend = _load_bundle(name, path, device, threads)
            except Incompatible as exc:
                skipped.append(BackendTiming(name, note=str(exc)))
                continue
            loaded.append((f"{name} ({getattr(backend, 'provider', '')})", backend))
        stage(f"timing {len(loaded)} backends, interleaved")
        rows = time_backends(loaded, size, device, repeats, frames)
    return rows + skipped, source


def _load_bundle(name: str, path: Path, device: torch.device, threads: int):
    from latentstage.runtime.backends import load_backend

    if name != "onnxruntime" or not threads:
        return load_backend(name, path, device)
    from latentstage.runtime.backends.bundle import open_bundle
    from latentstage.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    manifest = open_bundle(path, engine="onnx", backend="onnxruntime")
    return OnnxRuntimeBackend(manifest, device, threads=threads)


class _Stages:
    """ExportProgress that reports export stages on the benchmark's status line."""

    def __init__(self, stage: Callable[[str], None]):
        self._stage = stage

    def stage(self, text: str) -> None:
        self._stage(text)

    def tensorrt_monitor(self, trt, network: str):
        return None


def _tensorrt_bundle(ckpt: str, out: Path, size, device, stage) -> str:
    """Build a TensorRT bundle into ``out``; returns why not ("" when built)."""
    from latentstage.export.exporter import ExportOptions, export_bundle

    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "tensorrt is not installed"
    stage("building a TensorRT bundle")
    export_bundle(ExportOptions(out=out, checkpoint=ckpt, size=size, format="tensorrt",
                                device=str(device), build_command="latentstage bench backends"),
                  _Stages(stage))
    return ""
