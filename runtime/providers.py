"""What ``model/`` provides to the runtime, injected by the composition root.

The runtime never imports ``model/`` (DESIGN.md, "Layout"). Two things of the model package
are needed while serving, and each is a registered callable:
- **procedural worlds** (:data:`ProceduralWorlds`): render the seed view of a
  :class:`~.types.ProceduralSource`; a :class:`~.world.WorldStore` uses the registered one
  unless it is given its own;
- **the checkpoint loader** (:data:`CheckpointLoader`): the torch backend's way from a
  checkpoint directory (or "bundled") to the model's modules.

The CLI composition root (:mod:`.cli`) registers the model package's
(:func:`latentstage.model.providers.install`); library users call that ``install`` once.
This module is torch-free, so the CLI registers them without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.types import ProceduralSource

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SeedView:
    """A rendered view that seeds a world: what a procedural world source returns."""

    rgb: torch.Tensor  # [3, H, W] in [0, 1]
    depth: torch.Tensor  # [h, w] metres at latent centres; 0 = unknown or sky
    sky: torch.Tensor  # [h, w] bool: sky, written to the environment latent
    intrinsics: Intrinsics  # of the view, W x H pixels
    c2w: np.ndarray  # [4, 4] canonical camera-to-world


#: (source, native size (W, H) pixels, latent stride, torch device) -> the world's seed view.
ProceduralWorlds = Callable[[ProceduralSource, tuple[int, int], int, "torch.device"], SeedView]
#: (checkpoint directory or "bundled", torch device) -> the world model (``encode``,
#: ``decode``, ``denoise``, ``latent_spec()``, ``config``, ``model_id``) on that device.
CheckpointLoader = Callable[[str | Path, "torch.device"], object]

_procedural: ProceduralWorlds | None = None
_checkpoints: CheckpointLoader | None = None


def provide_procedural_worlds(source: ProceduralWorlds | None) -> None:
    """Register the procedural world source that stores use unless given their own."""
    global _procedural
    _procedural = source


def procedural_worlds() -> ProceduralWorlds | None:
    """The registered procedural world source, or None."""
    return _procedural


def provide_checkpoint_loader(loader: CheckpointLoader | None) -> None:
    """Register how the torch backend loads a checkpoint."""
    global _checkpoints
    _checkpoints = loader


def checkpoint_loader() -> CheckpointLoader | None:
    """The registered checkpoint loader, or None."""
    return _checkpoints
