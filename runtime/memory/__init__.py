"""Latent spatial memory: a bounded, device-resident store of latent tokens lifted into 3D.

Modules: :mod:`.latent_memory` (the :class:`LatentMemory` facade), :mod:`.spec`, :mod:`.store`,
:mod:`.write`, :mod:`.readout` and :mod:`.environment`; docs/memory.md describes them.
"""

from latentstage.runtime.memory.latent_memory import LatentMemory, MemoryStats
from latentstage.runtime.memory.spec import LatentSpec, MemoryConfig, Readout
from latentstage.runtime.types import WriteStats

__all__ = ["LatentMemory", "LatentSpec", "MemoryConfig", "MemoryStats", "Readout", "WriteStats"]
