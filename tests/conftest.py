"""Fixtures shared by the test modules (pytest finds them here; see also tests/support.py)."""

from __future__ import annotations

import pytest

from latentstage.model.providers import install
from latentstage.runtime.bench_serve import tiny_checkpoint

# The runtime's providers (procedural worlds, the checkpoint loader), as the CLI registers them.
install()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small random checkpoint directory, with torch on one thread while the module runs
    (tiny convolutions: more threads only contend on a shared CPU)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))
    torch.set_num_threads(threads)
