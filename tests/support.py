"""Helpers shared by the service tests (importable as ``support``: pyproject's pytest
``pythonpath`` puts tests/ on the path)."""

from __future__ import annotations

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.runtime.core import ServingCore
from latentstage.runtime.server import ServerConfig, ServerThread
from latentstage.runtime.types import Limits
from latentstage.v1 import service_pb2 as pb


def start_server(ckpt, snapshot_dir, *, config: dict | None = None, **limits) -> ServerThread:
    """A started server on a free loopback port over ``ckpt`` on the CPU. ``limits`` override
    small test limits (256x256, 6 sessions, 8 worlds, 8192 points); ``config`` holds further
    ServerConfig fields (guards, token_file, metrics_port...)."""
    lim = Limits(**{"max_width": 256, "max_height": 256, "max_sessions": 6, "max_worlds": 8,
                    "memory_capacity": 8192, **limits})
    core = ServingCore.load(str(ckpt), "torch", "cpu", lim, snapshot_dir)
    return ServerThread(core, ServerConfig(port=0, snapshot_dir=snapshot_dir,
                                          **(config or {}))).start()


def seed_world(keep: bool = False) -> pb.WorldSpec:
    """A 64x48 seed image (gradients and a product pattern) with depth 4 m everywhere."""
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 4, y * 5, (x * y) % 255], -1).astype(np.uint8)
    return C.seed_image_world(rgb, np.full((48, 64), 4.0, np.float32), keep=keep)


def permuted_copy(memory, seed: int):
    """The same points of a LatentMemory in other slots, anywhere in its capacity, through the
    state dict (on the memory's device): a readout must not depend on storage order."""
    import torch

    from latentstage.runtime.memory import LatentMemory

    other = LatentMemory(memory.spec, memory.config, memory.device)
    state = memory.state_dict()
    perm = torch.randperm(memory.config.capacity, generator=torch.Generator().manual_seed(seed))
    state["slot"] = perm[: len(memory)]
    other.load_state(state)
    return other
