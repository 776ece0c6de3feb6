"""SyncSession polled with timeouts (an engine tick, a tracker bridge) never loses a message."""

from __future__ import annotations

import time

import numpy as np
import pytest

from latentstage.engine_bridge import client as C
from latentstage.runtime.core import ServingCore
from latentstage.runtime.server import ServerConfig, ServerThread
from latentstage.runtime.types import Limits
from latentstage.v1 import service_pb2 as pb


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("timeouts")
    core = ServingCore.load(str(tiny_checkpoint(tmp / "ckpt")), "torch", "cpu",
                   Limits(max_width=256, max_height=256, memory_capacity=8192), tmp / "snaps")
    with ServerThread(core, ServerConfig(port=0)) as st:
        yield st
    torch.set_num_threads(threads)


def _open(client, lockstep=True):
    msg = C.open_message(C.empty_world(), (64, 48), "unreal", "raw", lockstep=lockstep,
                         lens=C.lens_fov(80))
    return client.session(msg)


def _poses(n, start=0):
    return [C.unreal_pose(start + i, (0, 0, 170), rotator=(0, 5 * i, 0)) for i in range(n)]


def test_polling_recv_with_a_short_timeout_receives_every_frame(server):
    with C.SyncClient(server.target) as client:
        s = _open(client)
        s.open()
        for p in _poses(5):
            s.send(p)
        frames, timeouts = [], 0
        deadline = time.monotonic() + 60
        while len(frames) < 5 and time.monotonic() < deadline:
            try:
                msg = s.recv(timeout=0.005)
            except TimeoutError:
                timeouts += 1
                continue
            if msg.WhichOneof("kind") == "frame":
                frames.append(msg.frame.frame_id)
        rest = s.close()
    assert frames == [0, 1, 2, 3, 4] and timeouts > 0  # the polls did time out meanwhile
    assert not [m for m in rest if m.WhichOneof("kind") == "frame"]
    assert rest[-1].event.kind == pb.EVENT_KIND_SESSION_CLOSED


def test_close_returns_what_timed_out_calls_left(server):
    with C.SyncClient(server.target) as client:
        s = _open(client)
        s.open()
        for p in _poses(5):
            s.send(p)
        taken = []
        try:  # usually times out at once; a fast server may already have sent frame 0
            taken.append(s.next_frame(timeout=0.0).frame_id)
        except TimeoutError:
            pass
        rest = s.close()
    frames = [m.frame.frame_id for m in rest if m.WhichOneof("kind") == "frame"]
    assert taken + frames == [0, 1, 2, 3, 4]  # nothing lost to the timed-out call


@pytest.mark.parametrize("seed", [0, 1])
def test_no_message_is_lost_whatever_the_timeouts(server, seed):
    rng = np.random.default_rng(seed)
    with C.SyncClient(server.target) as client:
        s = _open(client)
        s.open()
        poses = _poses(12, start=100)
        got = []
        for p in poses:
            s.send(p)
            for _ in range(int(rng.integers(0, 3))):  # a few polls per tick, mixed methods
                call = (s.next_frame, s.next_result, s.recv)[int(rng.integers(0, 3))]
                try:
                    out = call(timeout=float(rng.choice([0.0, 0.001, 0.004, 0.02])))
                except TimeoutError:
                    continue
                if isinstance(out, pb.Frame):
                    got.append(out.frame_id)
                elif isinstance(out, pb.SessionResponse) and out.WhichOneof("kind") == "frame":
                    got.append(out.frame.frame_id)
        rest = s.close()
        got += [m.frame.frame_id for m in rest if m.WhichOneof("kind") == "frame"]
    assert got == [p.frame_id for p in poses]
    assert s.aio.final_event is not None
