"""Parity of an exported bundle against PyTorch, on random and real inputs.

The metric, per output tensor, is the max-norm relative error

    err = max |backend - torch| / max |torch|

so one wrong op anywhere (an O(1) error) fails, while rounding that differs between kernels
passes. The reference is the checkpoint's own model in the bundle's precision on the same
device, fed the same inputs. Tolerances, and why:

- fp32: 1e-4. fp32 rounds at 6e-8; MKL-DNN/cuDNN and MLAS/TensorRT kernels sum convolutions
  in different orders, and about 25 layers compound that to about 1e-6 (measured: worst 1.3e-6
  on the reference architecture). 1e-4 leaves two orders of margin and still catches any wrong op.
- fp16: 1e-2. fp16 rounds at 4.9e-4 (10-bit mantissa); the two sides round intermediates at
  different points (fused or not), so a 25-layer network drifts by a few units of 1e-3.
- bf16: 5e-2. bf16 rounds at 3.9e-3 (7-bit mantissa), eight times coarser than fp16.

For fp16 and bf16 the error against the fp32 model is also recorded (not checked): it is a
property of the model at that precision, not of the export.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass

import torch

from latentstage.export.networks import io_names
from latentstage.runtime.backends.bundle import NETWORKS, PRECISIONS
from latentstage.runtime.errors import Incompatible

log = logging.getLogger(__name__)

#: Precision -> max-norm relative error allowed between a backend and torch (see above).
TOLERANCES = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 5e-2}
METRIC = "max|backend - torch| / max|torch| per output, same inputs, same device"
_TINY = 1e-12


class ParityError(Incompatible):
    """An exported network disagrees with PyTorch beyond the tolerance."""


@dataclass
class Case:
    """One set of inputs for one network."""

    network: str  # "encoder", "denoiser" or "decoder"
    inputs: str  # "random" or "real"
    size: tuple[int, int]  # (W, H) image pixels
    args: tuple[torch.Tensor, ...]  # float32 inputs on the verification device


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """``max |out - ref| / max |ref|`` in float64 (see the module docstring)."""
    out, ref = out.double(), ref.double()
    if out.shape != ref.shape:
        return float("inf")
    if not bool(torch.isfinite(out).all()):
        return float("inf")
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(_TINY))


def random_cases(plan, channels: int, device: torch.device, seed: int = 0) -> list[Case]:
    """Random inputs of every network at each of the plan's sizes (min, opt, max)."""
    gen = torch.Generator().manual_seed(seed)
    cases = []
    b = plan.batch
    for w, h in plan.sizes():
        lh, lw = h // plan.stride, w // plan.stride
        rgb = torch.rand(b, 3, h, w, generator=gen)
        latent = torch.randn(b, channels, lh, lw, generator=gen)
        t = 0.25 + 0.75 * torch.rand(b, generator=gen)
        cond = random_cond(b, channels, lh, lw, gen)
        for network, args in (("encoder", (rgb,)), ("denoiser", (latent, t, cond)),
                              ("decoder", (latent,))):
            cases.append(Case(network, "random", (w, h),
                              tuple(a.to(device) for a in args)))
    return cases


def random_cond(b: int, channels: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """A plausible ``cond`` [B, C+9, h, w]: a partial readout at 0.5..20 m and unit rays."""
    from latentstage.model.generator import build_cond

    coverage = (torch.rand(b, h, w, generator=gen) < 0.7).float()
    depth = (0.5 + 19.5 * torch.rand(b, h, w, generator=gen)) * coverage
    sky = ((torch.rand(b, h, w, generator=gen) < 0.1).float()) * (1 - coverage)
    direction = torch.nn.functional.normalize(torch.randn(b, 3, h, w, generator=gen), dim=1)
    moment = torch.cross(torch.randn(b, 3, 1, 1, generator=gen).expand(b, 3, h, w),
                         direction, dim=1)
    features = torch.randn(b, channels, h, w, generator=gen)
    return build_cond(features, depth, coverage + sky, sky, torch.cat([direction, moment], 1))


def real_cases(model, plan, device: torch.device) -> tuple[list[Case], str]:
    """Inputs from a real frame at the plan's opt size: the image, its latent, and the cond a
    memory holding that latent would give (see :mod:`latentstage.export.samples`).

    ``model`` is the fp32 WorldModel on the CPU.
    """
    from latentstage.export.samples import sample_frame
    from latentstage.model.generator import build_cond
    from latentstage.runtime.rays import plucker_rays

    frame = sample_frame(plan.opt_size, plan.stride, "cpu")
    b = plan.batch
    rgb = frame.rgb.expand(b, -1, -1, -1).contiguous()
    with torch.no_grad():
        latent = model.encode(rgb)  # the fp32 model on the CPU
    covered = (frame.depth > 0) | frame.sky
    rays = plucker_rays(frame.intrinsics.latent(plan.stride), frame.c2w, "cpu")
    cond = build_cond(latent, frame.depth.expand(b, -1, -1), covered.float().expand(b, -1, -1),
                      frame.sky.float().expand(b, -1, -1), rays[None].expand(b, -1, -1, -1))
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(1))
    t = torch.full((b,), 0.5)
    x_t = 0.5 * latent + 0.5 * noise
    size = plan.opt_size
    cases = [Case("encoder", "real", size, (rgb.to(device),)),
             Case("denoiser", "real", size, (x_t.to(device), t.to(device), cond.to(device))),
             Case("decoder", "real", size, (latent.to(device),))]
    return cases, frame.source


@contextlib.contextmanager
def strict_fp32():
    """Turn off TF32 in cuDNN convolutions and CUDA matmuls (torch's defaults allow it), so a
    CUDA fp32 reference is fp32; restores the previous settings."""
    matmul = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def _call(obj, network: str, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    fn = {"encoder": obj.encode, "denoiser": obj.denoise, "decoder": obj.decode}[network]
    out = fn(*args)
    return tuple(o.float().clone() for o in (out if isinstance(out, tuple) else (out,)))


@torch.no_grad()
def check_parity(backend, model, cases: list[Case], precision: str,
                 device: torch.device) -> dict:
    """Run every case through ``backend`` and through a copy of ``model`` (in the bundle's dtype
    on ``device``); raise :class:`ParityError` naming the first output over the tolerance.

    Returns the record written to the manifest's ``verification``.
    """
    dtype = getattr(torch, PRECISIONS[precision])
    tol = TOLERANCES[precision]
    reference = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
    fp32 = None
    if precision != "fp32":
        fp32 = copy.deepcopy(model).to(device=device, dtype=torch.float32).eval()
    results = []
    worst = 0.0
    with strict_fp32():
        for case in cases:
            worst = _check_case(backend, reference, fp32, case, precision, tol, worst, results)
    log.info("parity: worst relative error %.3g (tolerance %g) over %d cases", worst, tol,
             len(cases))
    return {"metric": METRIC, "tolerance": tol, "max_error": worst, "cases": results,
            "networks": list(NETWORKS)}


def _check_case(backend, reference, fp32, case: Case, precision: str, tol: float,
                worst: float, results: list) -> float:
    """Compare one case, append its row to ``results``; returns the new worst error."""
    dtype = next(reference.parameters()).dtype
    got = _call(backend, case.network, case.args)
    ref = _call(reference, case.network, tuple(a.to(dtype) for a in case.args))
    names = io_names(case.network)[1]
    errors = {n: relative_error(g, r) for n, g, r in zip(names, got, ref, strict=True)}
    row = {"network": case.network, "inputs": case.inputs, "size": list(case.size),
           "error": errors}
    if fp32 is not None:
        ref32 = _call(fp32, case.network, case.args)
        row["error_vs_fp32"] = {n: relative_error(g, r)
                                for n, g, r in zip(names, got, ref32, strict=True)}
    results.append(row)
    for name, err in errors.items():
        worst = max(worst, err)
        if not err <= tol:
            raise ParityError(
                f"{case.network} output {name!r} on {case.inputs} inputs at "
                f"{case.size[0]}x{case.size[1]}: relative error {err:.3g} exceeds the "
                f"{precision} tolerance {tol:g} ({getattr(backend, 'name', backend)} vs torch); "
                f"the bundle was not written"
            )
    return worst
