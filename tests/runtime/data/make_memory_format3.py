"""Write ``memory_format3.safetensors`` and ``memory_format3_readout.safetensors``.

The fixture of ``tests/runtime/test_snapshot.py::test_format_3_snapshots_load``: a small
memory (4 channels, stride 8, an 8 x 16 environment) after three 8 x 8-token writes with
sky and two confidences, saved by the code of commit 35770a7 (snapshot format 3, float32
per-point tensors), and that code's readout of it from two poses. Run from the repository
root at that commit (``git worktree add /tmp/v3 35770a7``):

    .venv/bin/python tests/runtime/data/make_memory_format3.py tests/runtime/data

Run at a later commit it writes that commit's snapshot format instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig

K = Intrinsics.from_fov(70, 64, 64)
POSES = [look_at([0, 0.3 * i, 0], [3, 0.3 * i, 0.1 * i]) for i in range(3)]
VIEWS = [POSES[1], look_at([-0.5, 0.2, 0.3], [3, 0.4, 0])]


def build() -> LatentMemory:
    memory = LatentMemory(LatentSpec(4, 8), MemoryConfig(capacity=1024, env_height=8,
                                                         env_width=16), model_id="fixture")
    gen = torch.Generator().manual_seed(7)
    for i, pose in enumerate(POSES):
        sky = torch.zeros(8, 8, dtype=torch.bool)
        sky[0] = True
        conf = torch.full((8, 8), 1.0 if i != 1 else 0.25)
        memory.write(torch.randn(4, 8, 8, generator=gen), 2 + torch.rand(8, 8, generator=gen),
                     memory.camera(K, pose), sky_mask=sky, confidence=conf)
    return memory


def main(folder: Path) -> None:
    memory = build()
    memory.save(folder / "memory_format3.safetensors")
    reads = {}
    for i, pose in enumerate(VIEWS):
        out = memory.readout(memory.camera(K, pose))
        for name in ("features", "depth", "coverage", "sky"):
            reads[f"{name}{i}"] = getattr(out, name).contiguous()
    save_file(reads, str(folder / "memory_format3_readout.safetensors"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
