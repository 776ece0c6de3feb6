"""The one WxH parser (runtime/sizes.py), the one device resolver and the CPU thread policy
(runtime/device.py)."""

from __future__ import annotations

import threading

import pytest
import torch
import typer

from latentstage.runtime import device as D
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.sizes import parse_size, size_option


@pytest.mark.parametrize("text", ["256x144", "256X144", "256×144", " 256x144 "])
def test_sizes_parse_width_then_height(text):
    assert parse_size(text) == (256, 144)


@pytest.mark.parametrize("text", ["256", "256x", "x144", "ax1", "256x144x2", "-1x5", "0x8"])
def test_a_bad_size_names_the_field_and_what_was_expected(text):
    with pytest.raises(InvalidInput) as err:
        parse_size(text, "open.size")
    assert err.value.field == "open.size" and err.value.value == text


def test_a_size_can_be_held_to_a_multiple():
    assert parse_size("64x128", multiple=8) == (64, 128)
    with pytest.raises(InvalidInput, match="multiples of 8"):
        parse_size("100x100", multiple=8)


def test_a_size_option_is_a_usage_error_naming_the_option():
    with pytest.raises(typer.BadParameter) as err:
        size_option("big", "--max-size")
    assert err.value.param_hint == "--max-size" and "WIDTHxHEIGHT" in str(err.value)


def test_devices_resolve_and_a_bad_one_names_the_field():
    assert D.resolve_device("cpu") == torch.device("cpu")
    assert D.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidInput) as err:
        D.resolve_device("gpu")
    assert err.value.field == "device" and "cuda[:N]" in err.value.expected
    with pytest.raises(typer.BadParameter):
        D.device_option("tpu")


@pytest.mark.parametrize(("cores", "sessions", "threads"), [
    (1, 1, 1), (2, 1, 1), (2, 6, 1), (4, 1, 2), (8, 1, 4), (16, 1, 8), (16, 3, 8),
    (4, 5, 1), (6, 5, 3)])
def test_threads_leave_a_core_and_half_the_machine(cores, sessions, threads):
    assert D.choose_threads(cores, sessions) == threads


def test_the_usable_cores_are_the_affinity():
    import os

    assert D.usable_cores() == len(os.sched_getaffinity(0))


def test_an_override_wins_over_the_policy(monkeypatch):
    monkeypatch.setenv(D.THREADS_ENV, "3")
    assert D.threads_override() == 3 and D.threads_override(2) == 2
    monkeypatch.setenv(D.THREADS_ENV, "many")
    with pytest.raises(InvalidInput) as err:
        D.threads_override()
    assert err.value.field == D.THREADS_ENV
    monkeypatch.delenv(D.THREADS_ENV)
    assert D.threads_override() is None


def _on_new_thread(fn):
    """``fn()`` on a fresh thread (torch's intra-op count is per thread), and its result."""
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_the_policy_follows_live_sessions_on_the_thread_that_applies_it(monkeypatch):
    monkeypatch.delenv(D.THREADS_ENV, raising=False)
    monkeypatch.setattr(D, "usable_cores", lambda: 4)
    policy = D.ThreadPolicy(torch.device("cpu"))
    assert policy.wanted == 2

    def apply_and_read():
        policy.apply()
        return torch.get_num_threads()

    assert _on_new_thread(apply_and_read) == 2
    policy.sessions_changed(5)  # two more cores for the encodes of four more sessions
    assert policy.wanted == 1 and _on_new_thread(apply_and_read) == 1
    policy.sessions_changed(0)
    assert policy.wanted == 2


def test_a_fixed_count_ignores_sessions_and_cuda_is_left_alone(monkeypatch):
    monkeypatch.delenv(D.THREADS_ENV, raising=False)
    fixed = D.ThreadPolicy(torch.device("cpu"), threads=2)
    fixed.sessions_changed(9)
    assert fixed.wanted == 2
    assert D.ThreadPolicy(torch.device("cuda")).wanted is None


def test_the_hub_tells_the_policy_when_sessions_open_and_close(ckpt, tmp_path, monkeypatch):
    """The hook: open and close update the live-session count; the model thread applies the
    choice before a frame."""
    import asyncio

    import numpy as np

    from latentstage.runtime.camera import Intrinsics, look_at
    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.types import (
        EmptySource,
        Encoding,
        FramePlan,
        Limits,
        OpenRequest,
        PoseIn,
        Rung,
        StreamSettings,
        WorldSpec,
    )

    monkeypatch.delenv(D.THREADS_ENV, raising=False)
    monkeypatch.setattr(D, "usable_cores", lambda: 4)
    core = ServingCore.load(str(ckpt), "torch", "cpu", Limits(max_width=64, max_height=64),
                   tmp_path / "snaps")
    settings = StreamSettings(64, 64, Encoding.RAW_RGB8, 90, 0.0, 1, 0)

    async def run():
        open_one = OpenRequest(settings, new_world=WorldSpec(EmptySource(), "t", keep=False))
        first = await core.open_session(open_one)
        assert core.threads.sessions == 1 and core.threads.wanted == 2
        others = [await core.open_session(OpenRequest(settings, world_id=first.world.world_id))
                  for _ in range(4)]
        assert core.threads.sessions == 5 and core.threads.wanted == 1
        c2w = look_at(np.array([0.0, 0.0, 1.6]), np.array([3.0, 0.0, 1.6]))
        k = Intrinsics.from_fov(70.0, 64, 64)
        plan = FramePlan(PoseIn(0, 0, None, c2w, k, None, 0), c2w, Rung.FULL, 1, True, 0.0, 0)
        threads = await core.worker.run_model(lambda: (first.step(plan), torch.get_num_threads()))
        assert threads[1] == 1  # applied on the model thread before the frame
        for handle in others:
            core.close_session(handle)
        assert core.threads.sessions == 1 and core.threads.wanted == 2
        core.close_session(first)

    try:
        asyncio.run(run())
    finally:
        core.shutdown()
