"""``latentstage render`` end to end (tiny checkpoint): files, mp4, resume, errors."""

from __future__ import annotations

import json

import av
from previs_support import seed_png, write_path
from typer.testing import CliRunner

from latentstage.runtime.cli import app


def test_render_command_writes_an_mp4_and_resumes(ckpt, tmp_path):
    path = write_path(tmp_path / "cameras.json", 6)
    seed = seed_png(tmp_path / "seed.png")
    args = ["render", "--path", str(path), "--seed-image", str(seed), "--depth", "4",
            "--model", str(ckpt), "--device", "cpu", "--out", str(tmp_path / "out"),
            "--frames", "0:4", "--format", "mp4", "--steps", "1", "--snapshot-every", "2"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "4 frames rendered (0 already there" in first.output
    with av.open(str(tmp_path / "out" / "shot.mp4")) as video:
        stream = video.streams.video[0]
        assert (stream.width, stream.height) == (64, 64)
        assert sum(1 for _ in video.decode(stream)) == 4
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["frames"] == {"start": 0, "stop": 4, "done": 4}
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "0 frames rendered (4 already there" in again.output


def test_render_command_names_a_bad_frame_range(ckpt, tmp_path):
    path = write_path(tmp_path / "cameras.json", 6)
    result = CliRunner().invoke(app, ["render", "--path", str(path), "--world", "empty",
                                      "--model", str(ckpt), "--device", "cpu",
                                      "--out", str(tmp_path / "o"), "--frames", "4:9"])
    assert result.exit_code == 2
    assert "--frames" in result.output and "0 <= A < B <= 6" in result.output
