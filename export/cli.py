"""CLI commands of the export package: ``latentstage export`` and ``latentstage bench backends``.

Heavy imports (torch, onnx, the model) stay inside the command bodies. ``latentstage.runtime.cli``
mounts ``export`` (and ``latentstage.bench.cli`` mounts ``backends``) without importing this
module until one of them runs.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from latentstage.runtime.cli_choices import DEVICE_METAVAR

console = Console()


class ExportFormat(StrEnum):
    """Engine bundle formats."""

    onnx = "onnx"  # ONNX models run by onnxruntime (CPU or GPU)
    tensorrt = "tensorrt"  # TensorRT engines (NVIDIA GPU)


class Precision(StrEnum):
    """Engine precisions."""

    fp32 = "fp32"  # float32
    fp16 = "fp16"  # float16
    bf16 = "bf16"  # bfloat16 (tensorrt only)


class Exporter(StrEnum):
    """torch.onnx exporters."""

    auto = "auto"  # dynamo, falling back to legacy
    dynamo = "dynamo"  # torch.export based
    legacy = "legacy"  # TorchScript based


class HardwareCompatibility(StrEnum):
    """TensorRT hardware compatibility levels."""

    none = "none"  # the GPU the engine was built on
    ampere_plus = "ampere_plus"  # any Ampere or newer GPU
    same_compute_capability = "same_compute_capability"  # GPUs of the same compute capability


class _RichProgress:
    """ExportProgress drawn with rich: one line per stage, TensorRT phases as bars."""

    def __init__(self, progress: Progress, total: int):
        self.progress = progress
        self.task = progress.add_task("export", total=total)

    def stage(self, text: str) -> None:
        self.progress.update(self.task, description=text, advance=1)

    def tensorrt_monitor(self, trt, network: str):
        return _tensorrt_monitor(trt, self.progress, network)


def _tensorrt_monitor(trt, progress: Progress, network: str):
    """A ``trt.IProgressMonitor`` that shows each builder phase as a rich task (or None when
    this TensorRT has no progress monitor)."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class Monitor(base):
        def __init__(self):
            base.__init__(self)
            self.tasks = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            indent = "  " if parent_phase else ""
            self.tasks[phase_name] = progress.add_task(f"{indent}{network}: {phase_name}",
                                                       total=num_steps)

        def step_complete(self, phase_name, step):
            if phase_name in self.tasks:
                progress.update(self.tasks[phase_name], completed=step + 1)
            return True  # keep building

        def phase_finish(self, phase_name):
            task = self.tasks.pop(phase_name, None)
            if task is not None:
                progress.remove_task(task)

    return Monitor()


def export(
    checkpoint: str = typer.Option("bundled", "--checkpoint",
                                   help="Checkpoint directory, or 'bundled'."),
    out: Path = typer.Option(..., "--out", help="Bundle directory to create."),
    format: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="Engine format."),
    precision: Precision = typer.Option(Precision.fp32, "--precision",
                                        help="Weights and activations (bf16: tensorrt only)."),
    size: str = typer.Option(None, "--size",
                             help="WxH static size, or the tuned size of a range "
                                  "(default: the model's native size)."),
    min_size: str = typer.Option(None, "--min-size", help="WxH smallest size (dynamic)."),
    max_size: str = typer.Option(None, "--max-size", help="WxH largest size (dynamic)."),
    batch: int = typer.Option(1, "--batch", min=1, help="Fixed batch size."),
    exporter: Exporter = typer.Option(Exporter.auto, "--exporter",
                                      help="ONNX exporter (auto: dynamo, legacy fallback)."),
    device: str = typer.Option("auto", "--device", metavar=DEVICE_METAVAR,
                               help="Where parity is checked: auto, cpu or cuda "
                                    "(tensorrt: the GPU engines are built for)."),
    timing_cache: Path = typer.Option(None, "--timing-cache",
                                      help="TensorRT timing cache file (read and updated)."),
    hardware_compatibility: HardwareCompatibility = typer.Option(
        HardwareCompatibility.none, "--hardware-compatibility",
        help="TensorRT: which GPUs the engines may run on."),
    force: bool = typer.Option(False, "--force", help="Replace an existing bundle at --out."),
) -> None:
    """Export a checkpoint to an engine bundle (ONNX or TensorRT), verified against PyTorch."""
    from latentstage.export.exporter import ExportOptions, export_bundle
    from latentstage.export.onnx_export import OnnxExportError
    from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound

    format, precision, exporter, hardware_compatibility = (
        str(v) for v in (format, precision, exporter, hardware_compatibility))
    dev = _device(device, format)
    try:
        options = ExportOptions(
            out=out, checkpoint=checkpoint, format=format, precision=precision,
            size=_size(size, "--size"), min_size=_size(min_size, "--min-size"),
            max_size=_size(max_size, "--max-size"), batch=batch, exporter=exporter,
            device=str(dev), timing_cache=timing_cache,
            hardware_compatibility=hardware_compatibility, force=force,
        )
        stages = 6 if format == "onnx" else 10
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            manifest = export_bundle(options, _RichProgress(progress, stages))
    except (InvalidInput, NotFound, CorruptFile, Incompatible, OnnxExportError) as exc:
        console.print(f"[red]export failed: {exc}[/red]")
        raise typer.Exit(1) from exc
    _summary(manifest)


def _device(device: str, format: str):
    import torch

    from latentstage.runtime.device import device_option

    if device == "auto" and format == "onnx":
        return torch.device("cpu")  # onnxruntime's CPU provider is always there
    return device_option(device)


def _size(value: str | None, option: str) -> tuple[int, int] | None:
    """``WxH`` as (width, height) (None passes through); a bad value is a usage error."""
    from latentstage.runtime.sizes import size_option

    return None if value is None else size_option(value, option)


def _summary(manifest) -> None:
    table = Table(title=f"bundle {manifest.directory} ({manifest.engine}, {manifest.precision})")
    for col in ("network", "file", "exporter", "inputs", "MiB"):
        table.add_column(col)
    for name, entry in manifest.networks.items():
        shapes = ", ".join(f"{t.name} {t.range_text()}" for t in entry.inputs)
        table.add_row(name, entry.file, entry.exporter, shapes, f"{entry.bytes / 2**20:.2f}")
    console.print(table)
    for backend, record in manifest.verification.items():
        if isinstance(record, dict) and "max_error" in record:
            console.print(f"parity ({backend}): worst relative error {record['max_error']:.2e} "
                          f"<= {record['tolerance']:g} over {len(record['cases'])} cases; real "
                          f"inputs: {manifest.verification['inputs'].get('real')}")


def backends(
    device: str = typer.Option("cpu", "--device", metavar=DEVICE_METAVAR,
                               help="Where to measure."),
    size: str = typer.Option("128x128", "--size", help="Image size WxH (multiples of 8)."),
    repeats: int = typer.Option(20, "--repeats", min=3, help="Timed calls per network."),
    frames: int = typer.Option(40, "--frames", min=5, help="Frames of the per-frame run."),
    threads: int = typer.Option(0, "--threads", min=0,
                                help="CPU threads for torch and onnxruntime alike "
                                     "(0: their defaults, one per core)."),
) -> None:
    """Per-network and per-frame time of every available backend, as ratios to torch eager."""
    import torch

    from latentstage.export.bench import run_bench
    from latentstage.runtime.device import device_name, device_option
    from latentstage.runtime.sizes import size_option

    dev = device_option(device)
    wh = size_option(size, "--size")
    if threads:
        torch.set_num_threads(threads)
    load_before = os.getloadavg()[0]
    with console.status("…") as status:
        rows, source = run_bench(dev, wh, repeats, frames,
                                 lambda text: status.update(f"measuring {text}…"), threads)
    console.print(f"device: {device_name(dev)}; model: {source}; size {wh[0]}x{wh[1]}; "
                  f"torch {torch.__version__}; 1-min load average {load_before:.1f} before, "
                  f"{os.getloadavg()[0]:.1f} after (other processes skew CPU figures)")
    base = rows[0]
    for kind, title in (("median", "median"), ("best", "best of all calls (least disturbed)")):
        table = Table(title=f"Backends, {title} ms (speed-up over torch eager, same run)")
        for col in ("backend", "encoder", "denoiser", "decoder", "frame"):
            table.add_column(col, justify="right" if col != "backend" else "left")
        ref = base.stat(kind)
        for row in rows:
            if row.note:
                table.add_row(row.name, "-", "-", "-", f"skipped: {row.note}")
                continue
            got = row.stat(kind)
            table.add_row(row.name, *(_cell(got[n], ref[n])
                                      for n in ("encoder", "denoiser", "decoder", "frame")))
        console.print(table)


def _cell(ms: float, base_ms: float) -> str:
    return f"{ms:.2f} ({base_ms / ms:.2f}x)"
