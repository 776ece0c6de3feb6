"""Checkpoint to engine bundle: export, check, verify, then (and only then) write the bundle.

:func:`export_bundle` works in a temporary directory next to ``out``:

1. load the checkpoint (the model contract's ``config.json`` + ``model.safetensors``);
2. export encoder, denoiser and decoder to ONNX in the bundle's dtype (dynamo exporter, legacy
   as fallback) and check each file with ``onnx.checker``;
3. ONNX: load the directory with the onnxruntime backend (hashes and all) and check parity with
   PyTorch on random inputs at min/opt/max sizes and on real inputs;
   TensorRT: check the ONNX files the same way where onnxruntime can run them, build one engine
   per network, load them with the tensorrt backend and check parity on the GPU;
4. write ``manifest.json`` with the verification record and rename the directory to ``out``.

Any failure removes the temporary directory, so a failed export leaves no bundle behind.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import torch

from latentstage.export.networks import ShapePlan, tensor_specs
from latentstage.export.onnx_export import EXPORTERS, TORCH_DTYPES, export_network
from latentstage.runtime.backends.bundle import (
    ENGINES,
    MANIFEST_NAME,
    NETWORKS,
    PRECISIONS,
    Manifest,
    NetworkEntry,
    manifest_to_json,
    parse_manifest,
    sha256_file,
)
from latentstage.runtime.errors import Incompatible, InvalidInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    """What ``latentstage export`` was asked to do (every field has a CLI option)."""

    out: Path  # bundle directory to create
    checkpoint: str = "bundled"  # checkpoint directory, or "bundled"
    format: str = "onnx"  # "onnx" or "tensorrt"
    precision: str = "fp32"  # "fp32", "fp16" or "bf16": the graphs' dtype
    size: tuple[int, int] | None = None  # (W, H) static size, or the tuned size of a range;
    # None = the model's native size
    min_size: tuple[int, int] | None = None  # (W, H) smallest size of a dynamic range
    max_size: tuple[int, int] | None = None  # (W, H) largest size of a dynamic range
    batch: int = 1  # fixed batch size of every network
    exporter: str = "auto"  # "auto" (dynamo, legacy fallback), "dynamo" or "legacy"
    device: str = "cpu"  # where parity is checked ("cuda" for TensorRT)
    timing_cache: Path | None = None  # TensorRT timing cache; None = per-GPU user cache file
    hardware_compatibility: str = "none"  # TensorRT hardware-compatibility level
    force: bool = False  # replace an existing ``out``
    build_command: str = ""  # recorded in the manifest; "" = the equivalent CLI line

    def __post_init__(self) -> None:
        if self.format not in ENGINES:
            raise InvalidInput("format", self.format, f"one of {sorted(ENGINES)}")
        if self.precision not in PRECISIONS:
            raise InvalidInput("precision", self.precision, f"one of {sorted(PRECISIONS)}")
        if self.exporter not in EXPORTERS:
            raise InvalidInput("exporter", self.exporter, f"one of {list(EXPORTERS)}")
        if self.format == "onnx" and self.precision == "bf16":
            raise InvalidInput("precision", "bf16", "fp32 or fp16 for --format onnx "
                               "(onnxruntime has no bfloat16 convolution kernels to run or "
                               "verify it); bf16 is for --format tensorrt")
        if self.format == "tensorrt" and not str(self.device).startswith("cuda"):
            raise InvalidInput("device", self.device, "cuda for --format tensorrt (engines are "
                               "built and verified on the GPU they will run on)")


class ExportProgress(Protocol):
    """Where :func:`export_bundle` reports its stages (the CLI draws them with rich)."""

    def stage(self, text: str) -> None: ...  # a new stage has started

    def tensorrt_monitor(self, trt, network: str): ...  # an IProgressMonitor, or None


class _Quiet:
    def stage(self, text: str) -> None:
        log.info("export: %s", text)

    def tensorrt_monitor(self, trt, network: str):
        return None


def load_checkpoint(checkpoint: str):
    """The WorldModel of a checkpoint directory (or "bundled"), fp32 on the CPU."""
    from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir

    path = bundled_checkpoint_dir() if str(checkpoint) in ("", "bundled") else Path(checkpoint)
    return WorldModel.from_pretrained(path, device="cpu").eval(), path


def export_bundle(options: ExportOptions, progress: ExportProgress | None = None) -> Manifest:
    """Export ``options.checkpoint`` to the bundle ``options.out`` (see the module docstring)."""
    progress = progress or _Quiet()
    out = Path(options.out)
    if out.exists() and not options.force:
        raise InvalidInput("out", str(out), "a path that does not exist yet (or --force to "
                           "replace it)")
    if out.exists() and not (out / MANIFEST_NAME).is_file():
        raise Incompatible(f"--force replaces bundles only: {str(out)!r} has no {MANIFEST_NAME}")
    device = torch.device(options.device)
    progress.stage(f"loading checkpoint {options.checkpoint}")
    model, ckpt_path = load_checkpoint(options.checkpoint)
    spec = model.latent_spec()
    plan = ShapePlan.create(spec.stride, options.batch,
                            options.size or tuple(model.config.native_size),
                            options.min_size, options.max_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        manifest = _build(options, model, plan, tmp, device, progress)
        progress.stage(f"writing {out}")
        _publish(tmp, out, options.force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote bundle %s (model %s, checkpoint %s)", out, model.model_id, ckpt_path)
    return replace(manifest, directory=out)


def _build(options: ExportOptions, model, plan: ShapePlan, tmp: Path, device: torch.device,
           progress: ExportProgress) -> Manifest:
    channels = model.latent_spec().channels
    onnx_dir = tmp if options.format == "onnx" else tmp / "onnx"
    onnx_dir.mkdir(exist_ok=True)
    typed = copy.deepcopy(model).to(TORCH_DTYPES[options.precision])
    records = {}
    for name in NETWORKS:
        progress.stage(f"exporting the {name} to ONNX ({options.precision}, "
                       f"{'dynamic' if plan.dynamic else 'static'} shapes)")
        records[name] = export_network(typed, name, onnx_dir / f"{name}.onnx", plan,
                                       options.precision, options.exporter)
    del typed
    entries = {name: _entry(name, onnx_dir / f"{name}.onnx", records[name], plan, channels,
                            options.precision) for name in NETWORKS}
    config = model.config.to_json()
    verification: dict = {"inputs": {}, "onnxruntime": None, "tensorrt": None}
    if options.precision != "bf16":  # onnxruntime has no bf16 convolutions
        ort_device = device if options.format == "onnx" else torch.device("cpu")
        manifest = _write_manifest(onnx_dir, options, "onnx", config, entries, plan,
                                   verification, None)
        verification["onnxruntime"] = _verify(manifest, "onnxruntime", model, plan, ort_device,
                                              options.precision, progress, verification)
    if options.format == "onnx":
        return _write_manifest(tmp, options, "onnx", config, entries, plan, verification, None)

    trt_facts, engines = _build_engines(options, entries, onnx_dir, tmp, device, progress)
    shutil.rmtree(onnx_dir)
    manifest = _write_manifest(tmp, options, "tensorrt", config, engines, plan, verification,
                               trt_facts)
    verification["tensorrt"] = _verify(manifest, "tensorrt", model, plan, device,
                                       options.precision, progress, verification)
    return _write_manifest(tmp, options, "tensorrt", config, engines, plan, verification,
                           trt_facts)


def _entry(name: str, path: Path, record, plan: ShapePlan, channels: int,
           precision: str) -> NetworkEntry:
    inputs, outputs = tensor_specs(name, plan, channels, precision)
    return NetworkEntry(name=name, file=path.name, sha256=sha256_file(path),
                        bytes=path.stat().st_size, inputs=inputs, outputs=outputs,
                        exporter=record.exporter, opset=record.opset)


def _verify(manifest: Manifest, backend_name: str, model, plan: ShapePlan,
            device: torch.device, precision: str, progress: ExportProgress,
            verification: dict) -> dict:
    """Load the directory with the runtime backend and check parity (raises ParityError)."""
    from latentstage.export.verify import check_parity, random_cases, real_cases
    from latentstage.runtime.backends import load_backend

    progress.stage(f"verifying with {backend_name} against torch on {device}")
    backend = load_backend(backend_name, manifest.directory, device)
    cases = random_cases(plan, model.latent_spec().channels, device)
    real, source = real_cases(model, plan, device)
    verification["inputs"] = {"random": "uniform images, normal latents, t in [0.25, 1], "
                                        "partial readouts at 0.5-20 m",
                              "real": source}
    result = check_parity(backend, model, cases + real, precision, device)
    result["runtime"] = f"{backend_name} ({getattr(backend, 'provider', '?')}) on {device}"
    result["reference"] = f"torch {torch.__version__} eager, {precision}, on {device}"
    return result


def _build_engines(options: ExportOptions, entries: dict[str, NetworkEntry], onnx_dir: Path,
                   tmp: Path, device: torch.device, progress: ExportProgress):
    from latentstage.export.tensorrt_build import (
        EngineBuildConfig,
        build_engine,
        default_timing_cache,
        gpu_facts,
        import_tensorrt,
    )

    trt = import_tensorrt()
    facts = gpu_facts(device)
    cache = options.timing_cache or default_timing_cache(facts["gpu"], trt.__version__)
    cfg = EngineBuildConfig(timing_cache=Path(cache),
                            hardware_compatibility=options.hardware_compatibility)
    engines, builds = {}, {}
    with torch.cuda.device(device):
        for name in NETWORKS:
            progress.stage(f"building the {name} TensorRT engine")
            monitor = progress.tensorrt_monitor(trt, name)
            path = tmp / f"{name}.engine"
            builds[name] = build_engine(onnx_dir / entries[name].file, path,
                                        entries[name].inputs, cfg, monitor)
            engines[name] = replace(entries[name], file=path.name, sha256=sha256_file(path),
                                    bytes=path.stat().st_size)
    trt_facts = {"version": trt.__version__, **facts,
                 "hardware_compatibility_level": options.hardware_compatibility,
                 "strongly_typed": True, "timing_cache": str(cfg.timing_cache),
                 "builds": builds}
    return trt_facts, engines


def _versions(engine: str) -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "torch": torch.__version__}
    for pkg in ("latentstage", "onnx", "onnxruntime", "onnxruntime-gpu", "onnxscript",
                "tensorrt"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    if engine == "tensorrt":
        import tensorrt as trt

        out["tensorrt"] = trt.__version__
    return out


def _write_manifest(directory: Path, options: ExportOptions, engine: str, config: dict,
                    entries: dict[str, NetworkEntry], plan: ShapePlan, verification: dict,
                    trt_facts: dict | None) -> Manifest:
    data = manifest_to_json(
        engine=engine, precision=options.precision, batch=plan.batch, config=config,
        networks=entries, versions=_versions(engine), tensorrt=trt_facts,
        build_command=options.build_command or _describe(options), verification=verification,
        extra={"shapes": plan.to_json(),
               "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "source_checkpoint": str(options.checkpoint)},
    )
    import json

    path = directory / MANIFEST_NAME
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", "utf-8")
    return parse_manifest(data, directory)


def _describe(options: ExportOptions) -> str:
    """The ``latentstage export`` line equivalent to ``options``, every choice spelled out."""
    import shlex

    args = ["latentstage", "export", "--checkpoint", str(options.checkpoint),
            "--out", str(options.out), "--format", options.format,
            "--precision", options.precision, "--batch", str(options.batch),
            "--exporter", options.exporter, "--device", str(options.device)]
    for flag, value in (("--size", options.size), ("--min-size", options.min_size),
                        ("--max-size", options.max_size)):
        if value:
            args += [flag, f"{value[0]}x{value[1]}"]
    if options.format == "tensorrt":
        args += ["--hardware-compatibility", options.hardware_compatibility]
        if options.timing_cache:
            args += ["--timing-cache", str(options.timing_cache)]
    return shlex.join(args)


def _publish(tmp: Path, out: Path, force: bool) -> None:
    """Rename the verified ``tmp`` to ``out`` (replacing it when ``force``)."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if not force:
        raise InvalidInput("out", str(out), "a path that does not exist yet (or --force)")
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
