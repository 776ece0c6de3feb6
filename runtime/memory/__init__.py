"""Latent spatial memory (see :mod:`.latent_memory`)."""

from latentstage.runtime.memory.latent_memory import (
    LatentMemory,
    LatentSpec,
    MemoryConfig,
    MemoryStats,
    Readout,
    WriteStats,
)

__all__ = ["LatentMemory", "LatentSpec", "MemoryConfig", "MemoryStats", "Readout", "WriteStats"]
