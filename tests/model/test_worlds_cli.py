"""``latentstage worlds render`` / ``bench``: files written, cameras.json round trip, errors."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from latentstage.model.worlds import make_scene, make_trajectory
from latentstage.model.worlds.io import read_cameras_json
from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.cli import app

runner = CliRunner()


def test_render_writes_frames_depth_sky_and_cameras(tmp_path):
    out = tmp_path / "fly"
    result = runner.invoke(app, [
        "worlds", "render", "--seed", "3", "--kind", "outdoor", "--trajectory", "orbit",
        "--frames", "4", "--size", "40x24", "--out", str(out), "--fov", "80",
        "--fps", "30000/1001", "--batch", "3",
    ])
    assert result.exit_code == 0, result.output
    assert "4 frames 40x24" in result.output and str(out) in result.output
    cams = read_cameras_json(out / "cameras.json")
    assert cams.meta["convention"] == "opencv" and cams.meta["pose"] == "camera-to-world"
    assert cams.meta["world"] == "z-up right-handed metres"
    assert cams.intrinsics == Intrinsics.from_fov(80, 40, 24)
    assert cams.fps == Fraction(30000, 1001)
    traj = make_trajectory("orbit", make_scene(3, "outdoor"), 4, seed=3,
                           fps=Fraction(30000, 1001))
    assert np.array_equal(cams.c2w, traj.c2w)
    assert np.array_equal(cams.timestamps_ns, traj.timestamps_ns)
    for rec in cams.frames:
        rgb = np.array(Image.open(out / rec["image"]))
        depth = np.load(out / rec["depth"])
        sky = np.array(Image.open(out / rec["sky"]))
        assert rgb.shape == (24, 40, 3) and rgb.dtype == np.uint8
        assert depth.shape == (24, 40) and depth.dtype == np.float32
        assert np.array_equal(sky == 255, np.isinf(depth)) and set(np.unique(sky)) <= {0, 255}
    assert [f["index"] for f in cams.frames] == [0, 1, 2, 3]


def test_render_writes_a_video_with_even_size(tmp_path):
    import av

    out = tmp_path / "vid"
    result = runner.invoke(app, [
        "worlds", "render", "--seed", "1", "--kind", "indoor", "--trajectory", "loop",
        "--frames", "5", "--size", "33x21", "--out", str(out), "--video",
    ])
    assert result.exit_code == 0, result.output
    with av.open(str(out / "flythrough.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 5
    assert (frames[0].width, frames[0].height) == (34, 22)


def test_bad_size_names_the_option(tmp_path):
    result = runner.invoke(app, [
        "worlds", "render", "--seed", "1", "--kind", "indoor", "--trajectory", "loop",
        "--frames", "2", "--size", "256by256", "--out", str(tmp_path / "x"),
    ])
    assert result.exit_code == 2
    assert "--size" in result.output and "WIDTHxHEIGHT" in result.output


def test_frames_and_seed_are_validated(tmp_path):
    base = ["worlds", "render", "--kind", "indoor", "--trajectory", "loop", "--size", "8x8",
            "--out", str(tmp_path / "x")]
    bad_frames = runner.invoke(app, [*base, "--seed", "1", "--frames", "0"])
    assert bad_frames.exit_code == 2 and "--frames" in bad_frames.output
    bad_seed = runner.invoke(app, [*base, "--seed", "-2", "--frames", "2"])
    assert bad_seed.exit_code == 2 and "--seed" in bad_seed.output


def test_bench_prints_fps_for_both_kinds(tmp_path):
    result = runner.invoke(app, ["worlds", "bench", "--size", "16x16", "--frames", "2",
                                 "--batch", "1", "--plot", str(tmp_path / "fps.png")])
    assert result.exit_code == 0, result.output
    assert "indoor" in result.output and "outdoor" in result.output and "fps" in result.output
    from PIL import Image

    with Image.open(tmp_path / "fps.png") as png:  # --plot (issue 13)
        assert png.format == "PNG" and png.size == (800, 450)
