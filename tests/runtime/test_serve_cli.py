"""``latentstage serve`` as a subprocess: it serves, and SIGTERM shuts it down gracefully."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from latentstage.engine_bridge import client as C
from latentstage.v1 import service_pb2 as pb


def _wait_for_port(proc: subprocess.Popen, lines: list[str], timeout: float = 90.0) -> int:
    """Read stderr until the ``event=listening ... port=N`` log line."""
    found: dict = {}

    def pump():
        for line in proc.stderr:
            lines.append(line)
            match = re.search(r"event=listening .*port=(\d+)", line)
            if match and "port" not in found:
                found["port"] = int(match.group(1))

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while "port" not in found:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("server did not start:\n" + "".join(lines))
        time.sleep(0.05)
    return found["port"]


@pytest.fixture
def served(tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    cmd = [sys.executable, "-m", "latentstage.runtime.cli", "serve", "--port", "0",
           "--model", str(ckpt), "--device", "cpu", "--max-size", "256x256",
           "--max-sessions", "2", "--memory-capacity", "8192", "--grace", "3",
           "--snapshot-dir", str(tmp_path / "snaps")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env)
    lines: list[str] = []
    port = _wait_for_port(proc, lines)
    yield proc, port, lines
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_serve_cli_serves_and_shuts_down_gracefully_on_sigterm(served):
    proc, port, lines = served
    target = f"127.0.0.1:{port}"
    with C.SyncClient(target) as client:
        info = client.server_info()
        assert info.limits.max_width == 256 and info.limits.max_sessions == 2
        y, x = np.mgrid[0:48, 0:64]
        rgb = np.stack([x * 4, y * 5, x * 0], -1).astype(np.uint8)
        msg = C.open_message(C.seed_image_world(rgb, np.full((48, 64), 4.0, np.float32)),
                             (64, 48), "unity", "jpeg", lockstep=True, lens=C.lens_fov(60))
        session = client.session(msg)
        session.open()
        frame = session.render(C.unity_pose(7, (0, 1.6, 0), euler=(0, 90, 0)), timeout=60)
        assert frame.frame_id == 7 and C.frame_pixels(frame).shape == (48, 64, 3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rest = []
        while (m := session.recv(timeout=30)) is not None:
            rest.append(m)
        assert rest[-1].event.kind == pb.EVENT_KIND_SERVER_SHUTTING_DOWN
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - t0 < 20
    log = "".join(lines)
    for event in ("event=model_loaded", "event=session_opened", "event=signal_received",
                  "event=shutdown_done"):
        assert event in log
    with grpc.insecure_channel(target) as channel:  # nothing listens any more
        with pytest.raises(grpc.RpcError):
            C.pb_grpc.LatentStageServiceStub(channel).GetServerInfo(pb.GetServerInfoRequest(),
                                                             timeout=2)


def test_serve_cli_rejects_a_missing_model(tmp_path):
    out = subprocess.run([sys.executable, "-m", "latentstage.runtime.cli", "serve", "--model",
                          str(tmp_path / "nope"), "--device", "cpu", "--port", "0"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "does not exist" in out.stderr
