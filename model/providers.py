"""The model package's providers for the serving runtime (:mod:`latentstage.runtime.providers`).

The runtime never imports ``model/``: the CLI composition root registers these, and a library
user calls :func:`install` once. :func:`seed_view` renders a procedural world's seed view;
:func:`load_checkpoint` loads a checkpoint directory (or the bundled one) for the torch backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.providers import (
    SeedView,
    provide_checkpoint_loader,
    provide_procedural_worlds,
)
from latentstage.runtime.types import ProceduralSource

#: Horizontal field of view of procedural seeding, degrees.
SEED_FOV_DEG = 70.0


def procedural_start(scene) -> np.ndarray:
    """A start camera [4, 4] inside ``scene``: the first pose of its "loop" trajectory."""
    from latentstage.model.worlds import make_trajectory

    return np.asarray(make_trajectory("loop", scene, frames=2, seed=scene.seed).c2w[0])


def seed_view(src: ProceduralSource, native_size: tuple[int, int], stride: int,
              device: torch.device) -> SeedView:
    """The procedural world ``src`` rendered from its start camera at ``native_size`` (W, H)
    pixels, with depth and sky at latent centres (``stride``)."""
    from latentstage.model.worlds.render import render
    from latentstage.model.worlds.scene import make_scene

    scene = make_scene(src.seed, src.kind, device=device)
    k = Intrinsics.from_fov(SEED_FOV_DEG, *native_size)
    c2w = procedural_start(scene)
    full = render(scene, k, c2w)
    lat = render(scene, k.latent(stride), c2w)
    depth = torch.where(lat.sky[0], torch.zeros_like(lat.depth[0]), lat.depth[0])  # [h, w]
    return SeedView(full.rgb[0].clamp(0, 1), depth, lat.sky[0], k, c2w)


def load_checkpoint(source: str | Path, device: torch.device):
    """The :class:`~.world_model.WorldModel` of a checkpoint directory ("" or "bundled": the
    checkpoint shipped with the package) on ``device``."""
    from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir

    path = bundled_checkpoint_dir() if str(source) in ("", "bundled") else Path(source)
    return WorldModel.from_pretrained(path, device=device)


def install() -> None:
    """Register :func:`seed_view` and :func:`load_checkpoint` with the runtime."""
    provide_procedural_worlds(seed_view)
    provide_checkpoint_loader(load_checkpoint)
