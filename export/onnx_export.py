"""One network to one ONNX file: the dynamo exporter first, the legacy exporter as fallback.

``torch.onnx.export(dynamo=True)`` (torch.export, then onnxscript) is the supported path. When it
fails on a graph, the TorchScript-based exporter (``dynamo=False``) is tried, and the record says
which one produced the file and why it fell back. Every file is checked with
``onnx.checker.check_model(full_check=True)`` and its input and output names are compared with the
contract's.

Opsets: 18 for fp32 and fp16 (read by onnxruntime and by TensorRT 10's parser); 22 for bf16,
the first opset whose Conv accepts bfloat16.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from latentstage.export.networks import (
    WRAPPERS,
    ShapePlan,
    dynamo_dynamic_shapes,
    example_inputs,
    io_names,
    legacy_dynamic_axes,
)
from latentstage.runtime.backends.bundle import PRECISIONS
from latentstage.runtime.errors import InvalidInput

log = logging.getLogger(__name__)

EXPORTERS = ("auto", "dynamo", "legacy")
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def default_opset(precision: str) -> int:
    """18, or 22 for bf16 (see the module docstring)."""
    return 22 if precision == "bf16" else 18


class OnnxExportError(RuntimeError):
    """No exporter produced a valid ONNX graph; the message has each exporter's error."""


@dataclass(frozen=True)
class OnnxRecord:
    """How one ONNX file was produced."""

    exporter: str  # "dynamo" or "legacy"
    opset: int  # ONNX opset of the file
    fallback_reason: str | None  # why dynamo was not used (auto mode only), else None


def export_network(model, network: str, path: Path, plan: ShapePlan, precision: str,
                   exporter: str = "auto", opset: int | None = None) -> OnnxRecord:
    """Export ``network`` of ``model`` (a WorldModel on the CPU, in the bundle's dtype)."""
    if exporter not in EXPORTERS:
        raise InvalidInput("exporter", exporter, f"one of {list(EXPORTERS)}")
    if precision not in PRECISIONS:
        raise InvalidInput("precision", precision, f"one of {sorted(PRECISIONS)}")
    opset = opset or default_opset(precision)
    module = WRAPPERS[network](model).eval()
    args = example_inputs(network, plan, model.latent_spec().channels, TORCH_DTYPES[precision])
    errors: list[str] = []
    for kind in (("dynamo", "legacy") if exporter == "auto" else (exporter,)):
        try:
            _run_exporter(kind, module, args, path, network, plan, opset)
            check_onnx(path, network)
        except Exception as exc:  # any exporter failure: recorded, then the next one is tried
            errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            log.warning("ONNX %s exporter failed on the %s: %s", kind, network, exc)
            path.unlink(missing_ok=True)
            continue
        reason = errors[0] if errors else None
        return OnnxRecord(kind, opset, reason)
    raise OnnxExportError(f"could not export the {network} to ONNX: " + "; ".join(errors))


def _run_exporter(kind: str, module, args, path: Path, network: str, plan: ShapePlan,
                  opset: int) -> None:
    inputs, outputs = io_names(network)
    chatter = io.StringIO()  # the exporters print progress and warn; a library logs instead
    with (torch.no_grad(), contextlib.redirect_stdout(chatter), _quiet_loggers(),
          warnings.catch_warnings(record=True) as caught):
        warnings.simplefilter("always")
        if kind == "dynamo":
            torch.onnx.export(module, args, str(path), dynamo=True, opset_version=opset,
                              input_names=inputs, output_names=outputs,
                              dynamic_shapes=dynamo_dynamic_shapes(network, plan),
                              external_data=False, optimize=True, verbose=False)
        else:
            torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset,
                              input_names=inputs, output_names=outputs,
                              dynamic_axes=legacy_dynamic_axes(network, plan),
                              do_constant_folding=True)
    if chatter.getvalue().strip():
        log.debug("torch.onnx.export (%s, %s): %s", kind, network, chatter.getvalue().strip())
    for w in caught:
        log.debug("torch.onnx.export (%s, %s) warned: %s", kind, network, w.message)


@contextlib.contextmanager
def _quiet_loggers():
    """Hold the exporters' own INFO chatter (graph passes, skipped torchvision ops) at ERROR."""
    names = ("onnxscript", "onnx_ir", "torch.onnx")
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


def check_onnx(path: Path, network: str) -> None:
    """``onnx.checker`` (full check) plus the contract's input and output names, in order."""
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    got_in = [i.name for i in graph.input if i.name not in initializers]
    got_out = [o.name for o in graph.output]
    want_in, want_out = io_names(network)
    if got_in != want_in or got_out != want_out:
        raise OnnxExportError(f"{path.name}: graph inputs {got_in} and outputs {got_out}, "
                              f"expected {want_in} and {want_out}")
