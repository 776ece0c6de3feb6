"""Fixtures shared by the test modules (pytest finds them here; see also tests/support.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from latentstage.model.providers import install
from latentstage.model.world_model import save_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Callable[..., Path]:
    """``tiny_checkpoint(directory, native_size=(64, 64))``: saves a small random checkpoint
    into ``directory`` and returns it (a function, so modules can place several)."""
    return save_tiny_checkpoint


# The runtime's providers (procedural worlds, the checkpoint loader), as the CLI registers them.
install()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small random checkpoint directory, with torch on one thread while the module runs
    (tiny convolutions: more threads only contend on a shared CPU)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))
    torch.set_num_threads(threads)
