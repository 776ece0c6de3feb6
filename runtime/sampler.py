"""Flow-matching Euler sampler: 1 to 4 steps from seeded noise to a clean latent.

Convention (shared with the generator): ``x_t = (1 - t) * x0 + t * noise`` with t in [0, 1],
t = 1 is pure noise, and the network predicts ``v = noise - x0``, so ``dx_t/dt = v``.

Schedule: ``steps + 1`` times from 1 down to 0, uniform in t and optionally warped toward 1 by
``shift`` (as in Stable Diffusion 3): ``t' = shift * t / (1 + (shift - 1) * t)``. With
``shift = 1`` and 2 steps the network runs at t = 1 and t = 0.5. Each step is one Euler update
``x <- x + (t_next - t) * v``; the depth returned is the one from the last network call.

The sampler knows nothing of the networks beyond a ``denoise`` callable, so the same loop drives
torch, onnxruntime and TensorRT backends. Noise comes from a ``torch.Generator`` on the cond's
device seeded with ``generator_seed``: the same seed on the same device gives the same frame.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import torch

from latentstage.runtime.errors import InvalidInput

#: ``denoise(x_t[B,C,h,w], t[B], cond[B,K,h,w]) -> (v[B,C,h,w], depth[B,1,h,w])``
Denoise = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

MIN_STEPS, MAX_STEPS = 1, 4


def schedule(steps: int, shift: float = 1.0) -> list[float]:
    """The ``steps + 1`` flow times, from 1.0 down to 0.0 (see the module docstring)."""
    _check_steps(steps)
    if not (isinstance(shift, int | float) and 0 < shift < float("inf")):
        raise InvalidInput("shift", shift, "a finite number > 0 (1 = uniform)")
    times = [1.0 - i / steps for i in range(steps + 1)]
    return [shift * t / (1 + (shift - 1) * t) for t in times]


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        raise InvalidInput("steps", steps, f"an integer from {MIN_STEPS} to {MAX_STEPS}")


def _generator(seed: int | torch.Generator, device: torch.device) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise InvalidInput("generator_seed", seed, "an integer in [0, 2**63) or a torch.Generator")
    return torch.Generator(device=device).manual_seed(int(seed))


def _check_shape(cond: torch.Tensor, shape: Sequence[int], out: torch.Tensor | None) -> tuple:
    if cond.dim() != 4:
        raise InvalidInput("cond.shape", tuple(cond.shape), "[B, K, h, w]")
    shape = tuple(int(s) for s in shape)
    b, _, h, w = cond.shape
    if len(shape) != 4 or shape[0] != b or shape[2:] != (h, w) or shape[1] < 1:
        raise InvalidInput("shape", shape, f"[{b}, C, {h}, {w}] matching cond")
    if out is not None and (
        tuple(out.shape) != shape or out.device != cond.device or not out.is_floating_point()
    ):
        raise InvalidInput(
            "out", (tuple(out.shape), str(out.device)), f"a float tensor {list(shape)} on "
            f"{cond.device}",
        )
    return shape


@torch.no_grad()
def sample(
    denoise: Denoise,
    cond: torch.Tensor,  # [B, K, h, w] generator conditioning (readout and rays)
    steps: int,
    generator_seed: int | torch.Generator,
    shape: Sequence[int],  # (B, C, h, w) of the latent to generate
    *,
    shift: float = 1.0,
    out: torch.Tensor | None = None,  # [B, C, h, w] optional buffer: receives the noise, then x0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate a clean latent by Euler integration of ``v`` from t = 1 to t = 0.

    Args:
        denoise: the generator's step (see :data:`Denoise`).
        cond: conditioning, passed unchanged to every call.
        steps: number of network calls, 1 to 4.
        generator_seed: an integer seed for a fresh ``torch.Generator`` on ``cond.device``, or a
            generator to draw from (its state advances).
        shape: the latent's shape; batch and size must match ``cond``.
        shift: schedule warp toward t = 1 (1 = uniform).
        out: when given, the noise is drawn into it and it is updated in place and returned,
            so a caller can keep one preallocated buffer per session.

    Returns:
        x0: [B, C, h, w] the generated latent (``out`` when given), in ``cond``'s dtype.
        depth: [B, 1, h, w] metres along the optical axis, from the last network call.
    """
    times = schedule(steps, shift)
    shape = _check_shape(cond, shape, out)
    gen = _generator(generator_seed, cond.device)
    x = out if out is not None else torch.empty(shape, device=cond.device, dtype=cond.dtype)
    torch.randn(shape, generator=gen, device=x.device, dtype=x.dtype, out=x)
    t = torch.empty(shape[0], device=x.device, dtype=x.dtype)  # [B]
    depth = None
    for t_now, t_next in zip(times[:-1], times[1:], strict=True):
        t.fill_(t_now)
        v, depth = denoise(x, t, cond)
        x.add_(v, alpha=t_next - t_now)
    return x, depth
