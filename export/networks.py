"""The three networks of the model contract as exportable modules, and the shapes they accept.

Each wrapper is one fixed graph of the contract (DESIGN.md, "Model contract"):

- :class:`EncoderNet` ``rgb [B, 3, H, W] in [0, 1] -> latent [B, C, H/8, W/8]``, with the latent
  scaling and shift applied inside, so a bundle's latents are the scaled latents the memory
  stores;
- :class:`DenoiserNet` ``(x_t [B, C, h, w], t [B], cond [B, C+9, h, w])
  -> (v [B, C, h, w], depth [B, 1, h, w])``;
- :class:`DecoderNet` ``latent [B, C, h, w] (scaled) -> rgb [B, 3, 8h, 8w]``.

A :class:`ShapePlan` says which image sizes a bundle accepts: one static size, or heights and
widths within [min, max] (tuned for ``opt``). Sizes are (width, height) in pixels, multiples of
the latent stride.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from latentstage.runtime.backends.bundle import IO_NAMES, PRECISIONS, TensorSpec
from latentstage.runtime.errors import InvalidInput

#: Smallest latent side of a dynamic range (torch.export specialises sizes 0 and 1).
MIN_DYNAMIC_LATENT = 2


class EncoderNet(nn.Module):
    """``model.encode``: scaled latents of images in [0, 1]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:  # [B,3,H,W] -> [B,C,H/8,W/8]
        return self.model.encode(rgb)


class DenoiserNet(nn.Module):
    """``model.denoise``: velocity and depth (metres) of one flow-matching step."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:  # v [B,C,h,w], depth [B,1,h,w]
        return self.model.denoise(x_t, t, cond)


class DecoderNet(nn.Module):
    """``model.decode``: images in [0, 1] from scaled latents."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor) -> torch.Tensor:  # [B,C,h,w] -> [B,3,8h,8w]
        return self.model.decode(latent)


WRAPPERS = {"encoder": EncoderNet, "denoiser": DenoiserNet, "decoder": DecoderNet}


@dataclass(frozen=True)
class ShapePlan:
    """Image sizes a bundle accepts, (width, height) pixels; static when min == max."""

    batch: int  # fixed batch size B
    min_size: tuple[int, int]  # smallest (W, H)
    opt_size: tuple[int, int]  # (W, H) engines are tuned for; used for sample inputs
    max_size: tuple[int, int]  # largest (W, H)
    stride: int  # image pixels per latent pixel

    @classmethod
    def create(cls, stride: int, batch: int, size: tuple[int, int],
               min_size: tuple[int, int] | None = None,
               max_size: tuple[int, int] | None = None) -> ShapePlan:
        """A static plan for ``size``, or a dynamic one when ``min_size``/``max_size`` are given
        (``size`` is then the tuned size, clamped into the range)."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidInput("batch", batch, "an integer >= 1")
        if (min_size is None) != (max_size is None):
            raise InvalidInput("min_size/max_size", (min_size, max_size),
                               "both --min-size and --max-size, or neither")
        lo, hi = (min_size, max_size) if min_size is not None else (size, size)
        for name, value in (("size", size), ("min_size", lo), ("max_size", hi)):
            if len(value) != 2 or any(v < stride or v % stride for v in value):
                raise InvalidInput(name, list(value), f"[W, H] multiples of {stride}")
        if lo[0] > hi[0] or lo[1] > hi[1]:
            raise InvalidInput("min_size", list(lo), f"<= max_size {list(hi)} on each axis")
        for axis, name in ((0, "width"), (1, "height")):
            if lo[axis] != hi[axis] and lo[axis] < MIN_DYNAMIC_LATENT * stride:
                raise InvalidInput(f"min_size.{name}", lo[axis],
                                   f">= {MIN_DYNAMIC_LATENT * stride} pixels when the {name} "
                                   f"is dynamic")
        opt = (min(max(size[0], lo[0]), hi[0]), min(max(size[1], lo[1]), hi[1]))
        return cls(batch, tuple(lo), opt, tuple(hi), stride)

    @property
    def dynamic(self) -> bool:
        return self.min_size != self.max_size

    def sizes(self) -> list[tuple[int, int]]:
        """The distinct sizes worth verifying: min, opt and max (W, H)."""
        out = []
        for s in (self.opt_size, self.min_size, self.max_size):
            if s not in out:
                out.append(s)
        return out

    def to_json(self) -> dict:
        return {"dynamic": self.dynamic, "min_size": list(self.min_size),
                "opt_size": list(self.opt_size), "max_size": list(self.max_size)}


def _axes(plan: ShapePlan, latent: bool) -> tuple[list, list, list, list]:
    """(symbolic, min, opt, max) of the (height, width) axes of an image or latent tensor."""
    f = plan.stride if latent else 1
    names = ("latent_height", "latent_width") if latent else ("height", "width")
    sym, lo, opt, hi = [], [], [], []
    for i, name in ((1, names[0]), (0, names[1])):  # sizes are (W, H); tensors are [.., H, W]
        a, o, b = plan.min_size[i] // f, plan.opt_size[i] // f, plan.max_size[i] // f
        sym.append(name if a != b else a)
        lo.append(a)
        opt.append(o)
        hi.append(b)
    return sym, lo, opt, hi


def _spec(name: str, dtype: str, lead: list[int], plan: ShapePlan, latent: bool) -> TensorSpec:
    sym, lo, opt, hi = _axes(plan, latent)
    return TensorSpec(name, dtype, tuple(lead + sym), tuple(lead + lo), tuple(lead + opt),
                      tuple(lead + hi))


def tensor_specs(network: str, plan: ShapePlan, channels: int, precision: str
                 ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The (inputs, outputs) a bundle records for ``network`` under ``plan``."""
    dt, b, c = PRECISIONS[precision], plan.batch, channels
    if network == "encoder":
        return ((_spec("rgb", dt, [b, 3], plan, False),),
                (_spec("latent", dt, [b, c], plan, True),))
    if network == "decoder":
        return ((_spec("latent", dt, [b, c], plan, True),),
                (_spec("rgb", dt, [b, 3], plan, False),))
    t = TensorSpec("t", dt, (b,), (b,), (b,), (b,))
    return ((_spec("x_t", dt, [b, c], plan, True), t, _spec("cond", dt, [b, c + 9], plan, True)),
            (_spec("v", dt, [b, c], plan, True), _spec("depth", dt, [b, 1], plan, True)))


def example_inputs(network: str, plan: ShapePlan, channels: int, dtype: torch.dtype
                   ) -> tuple[torch.Tensor, ...]:
    """Inputs at the plan's opt size to trace ``network`` with (values do not matter)."""
    gen = torch.Generator().manual_seed(0)
    w, h = plan.opt_size
    lh, lw, b = h // plan.stride, w // plan.stride, plan.batch
    if network == "encoder":
        return (torch.rand(b, 3, h, w, generator=gen).to(dtype),)
    if network == "decoder":
        return (torch.randn(b, channels, lh, lw, generator=gen).to(dtype),)
    return (torch.randn(b, channels, lh, lw, generator=gen).to(dtype),
            torch.full((b,), 0.5).to(dtype),
            torch.randn(b, channels + 9, lh, lw, generator=gen).to(dtype))


def dynamo_dynamic_shapes(network: str, plan: ShapePlan) -> dict | None:
    """``dynamic_shapes`` for ``torch.onnx.export(dynamo=True)`` (None when static)."""
    if not plan.dynamic:
        return None
    from torch.export import Dim

    _, lo, _, hi = _axes(plan, latent=True)
    dims = {}
    for axis, name, a, b in ((2, "latent_height", lo[0], hi[0]),
                             (3, "latent_width", lo[1], hi[1])):
        if a != b:
            dims[axis] = Dim(name, min=a, max=b)
    if network == "encoder":
        return {"rgb": {axis: plan.stride * d for axis, d in dims.items()}}
    if network == "decoder":
        return {"latent": dims}
    return {"x_t": dims, "t": None, "cond": dims}


def legacy_dynamic_axes(network: str, plan: ShapePlan) -> dict | None:
    """``dynamic_axes`` for the legacy (TorchScript) exporter (None when static)."""
    if not plan.dynamic:
        return None
    inputs, outputs = tensor_specs(network, plan, 1, "fp32")
    axes = {}
    for spec in inputs + outputs:
        named = {i: s for i, s in enumerate(spec.shape) if isinstance(s, str)}
        if named:
            axes[spec.name] = named
    return axes


def io_names(network: str) -> tuple[list[str], list[str]]:
    """(input names, output names) of ``network``."""
    inputs, outputs = IO_NAMES[network]
    return list(inputs), list(outputs)
