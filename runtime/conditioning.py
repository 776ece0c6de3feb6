"""What the generator is conditioned on, and how a generated frame meets the memory.

The runtime owns the ``cond`` layout of the model contract (DESIGN.md, "Model contract"): the
memory readout stacked with the target camera's Plücker rays. Models import
:func:`stack_cond` from here (``model.generator`` re-exports it as ``build_cond``), so the
per-frame step never imports ``model/``.

- :func:`build_cond`: ``cond`` [1, C + 9, h, w] of one frame from its readout and camera.
- :func:`anchor_to_memory`: the generated latent pulled toward the memory where it covers.
- :func:`write_confidence`: the weights a generated frame is written back with.
"""

from __future__ import annotations

import torch

from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.memory import Readout
from latentstage.runtime.rays import FrameCamera

#: Channels of ``cond`` beyond the latent features: inverse depth, coverage, sky, Plücker (6).
COND_EXTRA_CHANNELS = 9

#: Confidence of generated content when written back, against 1 for observations (seed
#: images). With the memory's ``yield_ratio`` it keeps generated content, whose depth is only
#: a guess, from hiding what was observed when the camera comes back.
GENERATED_CONFIDENCE = 0.25


def stack_cond(
    readout_features: torch.Tensor,  # [B, C, h, w] memory features
    readout_depth: torch.Tensor,  # [B, h, w] metres along the optical axis, 0 where none
    coverage: torch.Tensor,  # [B, h, w] 1 where the memory covers, else 0
    sky: torch.Tensor,  # [B, h, w] 1 where the environment latent filled the pixel
    plucker: torch.Tensor,  # [B, 6, h, w] unit direction and moment (metres)
) -> torch.Tensor:
    """Stack a memory readout and the target camera's rays into ``cond`` ``[B, C + 9, h, w]``.

    Channel layout: features (zeroed where coverage is 0), inverse depth in 1/metres (0 where
    depth is 0 or negative), coverage, sky, Plücker (d, o x d).
    """
    if readout_features.dim() != 4:
        raise InvalidInput("readout_features.shape", tuple(readout_features.shape), "[B, C, h, w]")
    b, _, h, w = readout_features.shape
    for name, value, shape in (
        ("readout_depth", readout_depth, (b, h, w)),
        ("coverage", coverage, (b, h, w)),
        ("sky", sky, (b, h, w)),
        ("plucker", plucker, (b, 6, h, w)),
    ):
        if tuple(value.shape) != shape:
            raise InvalidInput(f"{name}.shape", tuple(value.shape), f"{list(shape)}")
    dtype = readout_features.dtype
    covered = (coverage > 0).to(dtype)[:, None]  # [B, 1, h, w]
    depth = readout_depth.to(dtype)[:, None]  # [B, 1, h, w]
    positive = depth > 0
    inv_depth = torch.where(positive, 1.0 / torch.where(positive, depth, 1.0), 0.0)
    return torch.cat(
        [
            readout_features * covered,
            inv_depth,
            covered,
            sky.to(dtype)[:, None],
            plucker.to(dtype),
        ],
        dim=1,
    )


def build_cond(readout: Readout, camera: FrameCamera) -> torch.Tensor:
    """``cond`` [1, C + 9, h, w] from a readout and the target camera (generator layout)."""
    return stack_cond(readout.features[None], readout.depth[None], readout.coverage[None],
                      readout.sky[None], camera.plucker[None])


def anchor_to_memory(latent: torch.Tensor, depth: torch.Tensor, readout: Readout,
                     strength: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pull the generated latent [1,C,h,w] and depth [1,1,h,w] toward the memory where it
    covers: ``x += strength * coverage * (memory - x)``. With strength 1 a place the memory
    holds is reproduced exactly (the generator only fills what the memory lacks); sky pixels
    keep the generated depth, since the environment latent has none."""
    if strength <= 0:
        return latent, depth
    cov = readout.coverage[None, None] * strength  # [1, 1, h, w]
    latent = latent + cov * (readout.features[None] - latent)
    points = cov * (1 - readout.sky[None, None])  # [1, 1, h, w]
    depth = depth + points * (readout.depth[None, None] - depth)
    return latent, depth


def write_confidence(readout: Readout, strength: float,
                     generated: float = GENERATED_CONFIDENCE) -> torch.Tensor:
    """[h, w] write weights of a generated frame: what the memory already held (and the frame
    copied from it) is not written back, so repeated readout interpolation never blurs what is
    stored; the rest is written with the confidence of generated content."""
    return generated * (1 - strength * readout.coverage)
