"""``latentstage serve --freed`` as a subprocess: a tracker on loopback drives a camera that a
Python client watches; bad FreeD options fail before the model loads."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.runtime import freed

CLI = [sys.executable, "-m", "latentstage.runtime.cli", "serve"]


def _wait_for(proc: subprocess.Popen, lines: list[str], pattern: str, timeout: float = 90.0):
    found: dict = {}

    def pump():
        for line in proc.stderr:
            lines.append(line)
            for match in re.finditer(pattern, line):
                found.setdefault("match", match)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while "match" not in found:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("server did not start:\n" + "".join(lines))
        time.sleep(0.05)
    return found["match"]


def test_serve_freed_and_watch_from_python(tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    cmd = CLI + ["--port", "0", "--model", str(ckpt), "--device", "cpu", "--max-size",
                 "256x256", "--memory-capacity", "8192", "--grace", "3", "--snapshot-dir",
                 str(tmp_path / "snaps"), "--freed", "127.0.0.1:0", "--freed-camera-id", "7",
                 "--freed-lens", "builtin:default", "--freed-world", "procedural:5:indoor"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines: list[str] = []
    try:
        port = int(_wait_for(proc, lines, r"event=listening .*port=(\d+)").group(1))
        log = "".join(lines)
        assert "event=tracked_camera name=camera7 freed_id=7 listen=127.0.0.1:" in log
        with C.SyncClient(f"127.0.0.1:{port}") as client:
            (cam,) = client.server_info().tracked_cameras
            assert (cam.name, cam.freed_camera_id) == ("camera7", 7)
            udp_port = int(cam.listen.rsplit(":", 1)[1])
            data = freed.encode(freed.FreeDPacket(7, pan_deg=30.0, z_mm=1600.0, zoom=500))
            with client.session(C.watch_message("camera7", (64, 48), prediction=False)) as s, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tracker:
                tracker.sendto(data, ("127.0.0.1", udp_port))
                frame = s.next_frame(timeout=60)
            np.testing.assert_allclose(C.frame_c2w(frame),
                                       freed.freed_to_pose(freed.decode(data)), atol=1e-12)
            assert client.server_info().tracked_cameras[0].packets == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_freed_options_fail_before_the_model_loads(tmp_path):
    for args, needle in (
        (["--freed", "127.0.0.1:99999"], "a port 0..65535 or a vendor preset"),
        (["--freed", "sony", "--freed-lens", str(tmp_path / "none.json")], "no such file"),
        (["--freed", "sony", "--freed-world", "image:x.png"], "--freed-world"),
        (["--freed", "sony", "--freed-transform", "maya"], "freed, unreal"),
        (["--freed", "sony", "--freed-config", __file__], "not both"),
    ):
        out = subprocess.run(CLI + ["--model", str(tmp_path / "no-model"), "--device", "cpu",
                                    *args], capture_output=True, text=True, timeout=120)
        text = " ".join(out.stderr.split())
        assert out.returncode == 2 and needle in text, (args, out.stderr)
        assert "does not exist" not in text  # the model was never looked at
