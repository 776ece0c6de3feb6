"""``latentstage client …`` as a newcomer meets it (issue 13): a missing server is one line,
a path that renders nothing is a failure, USD shots reach the server with their stage, and
play can leave an mp4 and a latency plot behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import start_server
from typer.testing import CliRunner

from latentstage.engine_bridge.paths import load_path
from latentstage.runtime.cli import app

SHOT = Path(__file__).parents[2] / "docs" / "examples" / "shot.usda"


@pytest.fixture(scope="module")
def server(ckpt, tmp_path_factory):
    st = start_server(ckpt, tmp_path_factory.mktemp("snaps"))
    yield st
    st.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [["info"], ["play", "--path", "PATH"],
                                     ["watch", "--camera", "stage-a", "--frames", "1"]],
                         ids=["info", "play", "watch"])
def test_every_client_command_names_a_missing_server(command, tmp_path):
    path = tmp_path / "shot.csv"
    path.write_text("x,y,z,qx,qy,qz,qw\n0,0,1.6,0,0,0,1\n")
    command = [str(path) if c == "PATH" else c for c in command]
    target = f"127.0.0.1:{_free_port()}"  # bound and released: nothing listens there
    result = CliRunner().invoke(app, ["client", command[0], "--server", target, *command[1:]],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 1, result.output
    assert f"no LatentStage server at {target}; is `latentstage serve` running?" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) <= 3


def test_a_path_whose_every_frame_fails_exits_non_zero(server, tmp_path):
    # a 175 degree lens reads fine but the server refuses every pose that carries it
    path = tmp_path / "wide.csv"
    path.write_text("x,y,z,qx,qy,qz,qw,fov_deg\n" + "0,0,1.6,0,0,0,1,175\n" * 3)
    result = CliRunner().invoke(app, ["client", "play", "--server", server.target, "--path",
                                      str(path), "--world", "empty", "--size", "64x48"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 1, result.output
    assert "0 frames of 3 poses" in result.output
    assert "no frame rendered: 0 of 3 poses" in result.output
    assert "field of view" in result.output  # the server's error is shown


def test_play_sends_the_usd_stage_and_writes_an_mp4_and_a_plot(server, tmp_path):
    import av
    from PIL import Image

    pytest.importorskip("pxr")
    out, mp4, plot = tmp_path / "frames", tmp_path / "shot.mp4", tmp_path / "latency.png"
    result = CliRunner().invoke(app, [
        "client", "play", "--server", server.target, "--path", str(SHOT), "--size", "64x40",
        "--world", "empty", "--out", str(out), "--mp4", str(mp4), "--plot", str(plot)],
        env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "48 frames of 48 poses, usd" in result.output and "0.01 m per unit" in result.output
    # the server converted each pose with the stage (Z up, cm): the canonical poses come back
    frames = json.loads((out / "frames.json").read_text())
    want = load_path(SHOT).canonical_c2w()
    got = np.stack([np.reshape(f["rendered_c2w"], (4, 4)) for f in frames])
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert [f["time_code"] for f in frames] == list(range(48))  # the USD time codes used
    with av.open(str(mp4)) as movie:
        decoded = list(movie.decode(video=0))
    assert len(decoded) == 48 and (decoded[0].width, decoded[0].height) == (64, 40)
    with Image.open(plot) as png:
        assert png.format == "PNG" and png.size == (800, 400)
