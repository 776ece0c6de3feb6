"""``latentstage client play --path`` on malformed files: a clear error naming the field and a
non-zero exit, never a traceback (issue 12, finding 11)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentstage.engine_bridge.paths import read_path

EYE = np.eye(4).tolist()


def _json(**top) -> str:
    doc = {"convention": "opencv", "frames": [{"c2w": EYE, "time_s": 0.0}]}
    doc.update(top)
    return json.dumps(doc)


def _frame(**fields) -> str:
    return _json(frames=[{"c2w": EYE, **fields}])


HEADER = "frame_id,time_s,x,y,z,pitch,yaw,roll,timecode\n"
MALFORMED = [  # (file name, content, what the error must name)
    ("fps_zero.json", _json(fps=[30, 0]), "fps"),
    ("fps_text.json", _json(fps="fast"), "fps"),
    ("frames_ints.json", _json(frames=[1, 2]), "frames[0]"),
    ("frame_id_negative.json", _frame(frame_id=-1), "frames[0].frame_id"),
    ("frame_id_fraction.json", _frame(frame_id=1.5), "frames[0].frame_id"),
    ("frame_id_huge.json", _frame(frame_id=2**70), "frames[0].frame_id"),
    ("time_nan.json", _frame(time_s=float("nan")), "frames[0].time"),
    ("time_text.json", _frame(time="soon"), "frames[0].time"),
    ("time_ns_list.json", _frame(time_ns=[1]), "frames[0].time_ns"),
    ("timecode_bad.json", _frame(timecode="1:2:3"), "frames[0].timecode"),
    ("timecode_number.json", _frame(timecode=12), "frames[0].timecode"),
    ("c2w_missing.json", _json(frames=[{"time": 0}]), "frames[0].c2w"),
    ("c2w_short.json", _frame(c2w=[1, 2, 3]), "frames[0].c2w"),
    ("c2w_text.json", _frame(c2w="identity"), "frames[0].c2w"),
    ("c2w_ragged.json", _frame(c2w=[[1, 0], [0, 1, 0]]), "frames[0].c2w"),
    ("K_bad.json", _json(intrinsics={"K": [1, 2], "width": 64, "height": 48}), "intrinsics.K"),
    ("fx_text.json", _json(intrinsics={"fx": "a", "fy": 1, "cx": 1, "cy": 1}), "intrinsics.fx"),
    ("width_negative.json", _json(intrinsics={"fx": 50, "fy": 50, "cx": 1, "cy": 1,
                                              "width": -64, "height": 48}), "intrinsics.width"),
    ("seed_text.json", _json(scene={"seed": "seven"}), "scene.seed"),
    ("kind_bad.json", _json(scene={"seed": 7, "kind": "lunar"}), "scene.kind"),
    ("convention_bad.json", _json(convention="maya"), "convention"),
    ("convention_number.json", _json(convention=3), "convention"),
    ("top_c2w_ragged.json", json.dumps({"c2w": [EYE], "times": [0, 1]}), "c2w"),
    ("nested.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("not_json.json", "{frames: nope}", "not JSON"),
    ("latin1.json", b'{"frames": "\xe9"}', "UTF-8"),
    ("empty.json", "{}", "no camera list"),
    ("field_128k.csv", HEADER + "0,0," + "1" * 140_000 + ",0,0,0,0,0,\n", "CSV"),
    ("nul.csv", HEADER + "0,0,0\x00,0,0,0,0,0,\n", "line 2: x"),
    ("x_text.csv", HEADER + "0,0,left,0,0,0,0,0,\n", "line 2: x"),
    ("time_nan.csv", HEADER + "0,nan,0,0,0,0,0,0,\n", "line 2: time_s"),
    ("frame_id_bad.csv", HEADER + "-1,0,0,0,0,0,0,0,\n", "line 2: frame_id"),
    ("timecode_bad.csv", HEADER + "0,0,0,0,0,0,0,0,25:61\n", "line 2: timecode"),
    ("yaw_inf.csv", HEADER + "0,0,0,0,0,0,inf,0,\n", "line 2: yaw"),
    ("extra_fields.csv", HEADER + "0,0,0,0,0,0,0,0,,9,9\n", "more fields"),
    ("fov_axis.csv", "x,y,z,qx,qy,qz,qw,fov_deg,fov_axis\n0,0,0,0,0,0,1,60,sideways\n",
     "fov_axis"),
    ("width_text.csv", "x,y,z,qx,qy,qz,qw,fx,fy,cx,cy,width,height\n"
     "0,0,0,0,0,0,1,50,50,31,23,wide,48\n", "line 2: width"),
]


def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("name, content, names", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_path_is_a_value_error_naming_the_field(tmp_path, name, content, names):
    path = _write(tmp_path, name, content)
    with pytest.raises(ValueError) as err:
        read_path(path, "unreal" if name.endswith(".csv") else None)
    assert names in str(err.value) and name in str(err.value)


def test_client_play_exits_non_zero_with_the_field_for_every_malformed_file(tmp_path):
    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    runner = CliRunner()
    for name, content, names in MALFORMED:
        path = _write(tmp_path, name, content)
        result = runner.invoke(app, ["client", "play", "--server", "127.0.0.1:9", "--path",
                                     str(path)])
        assert result.exit_code == 2, (name, result.output, result.exception)
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), (name, result.exception)
        assert "Traceback" not in result.output
        flat = "".join(ch for ch in result.output if ch.isalnum() or ch in "[]._")
        assert "".join(ch for ch in names if ch.isalnum() or ch in "[]._") in flat, (
            name, result.output)


def test_a_bad_convention_option_is_a_clear_error(tmp_path):
    path = _write(tmp_path, "ok.csv", HEADER + "0,0,0,0,0,0,0,0,\n")
    with pytest.raises(ValueError, match="--convention"):
        read_path(path, "maya")
