"""``latentstage bench freed`` on a tiny random checkpoint: each budget's figures come out
and account for every tracker packet (bench/freed.py). No figure is asserted."""

from __future__ import annotations

import math

import pytest

from latentstage.bench.freed import run_bench, tracked_cameras
from latentstage.runtime.core import ServingCore
from latentstage.runtime.types import Limits


def test_one_tracked_camera_per_budget_each_on_its_own_world():
    config = tracked_cameras([25.0, 59.94])
    assert [c.name for c in config.cameras] == ["fps25", "fps59.94"]
    assert [c.freed_camera_id for c in config.cameras] == [1, 2]
    assert config.cameras[0].world != config.cameras[1].world
    assert all(c.lens is not None and c.port == 0 for c in config.cameras)


@pytest.mark.slow
def test_bench_freed_measures_each_budget(tiny_checkpoint, tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        limits = Limits(max_width=64, max_height=64, max_sessions=4, max_worlds=4,
                        memory_capacity=8192)
        core = ServingCore.load(str(tiny_checkpoint(tmp_path / "ckpt")), "torch", "cpu", limits,
                       tmp_path / "snaps")
        runs = run_bench(core, [25.0, 60.0], tracker_hz=100.0, seconds=1.0, warmup_s=0.3,
                         size=(64, 48))
    finally:
        torch.set_num_threads(threads)
    assert [r.target_fps for r in runs] == [25.0, 60.0]
    for r in runs:
        assert 80 <= r.packets <= 101  # about one second of a 100 Hz tracker
        # Every packet accounted for. The counters are stamped when a frame is finished, so
        # a pose skipped while the window's first frame was encoded may fall before the window.
        assert 0 <= r.packets - (r.frames + r.skipped + r.dropped) <= 2
        assert r.frames >= 5 and len(r.latency_ms) == r.frames + 1
        assert 0 < r.q(r.latency_ms, 50) <= r.q(r.latency_ms, 99)
        assert 0.0 <= r.skipped_share <= 1.0 and not math.isnan(r.fps)
        assert sum(r.rungs.values()) == r.frames + 1
