"""Tests for tracked-camera configuration (runtime/freed_config.py): listen addresses and
vendor presets, JSON and TOML files, the stage transform and the Unreal preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentstage.runtime import conventions as cv
from latentstage.runtime import freed
from latentstage.runtime import freed_config as fc
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.types import ProceduralSource, SnapshotSource

TOML = """
[worlds.stage]
procedural = { seed = 7, kind = "indoor" }

[worlds.saved]
snapshot = "stage-a"

[[cameras]]
name = "wall"
freed_camera_id = 1
listen = "mosys"
world = "stage"
lens = "builtin:broadcast-22x"

[[cameras]]
name = "inner"
freed_camera_id = 2
listen = "0.0.0.0:8001"
world = "stage"
lens = "zoom.csv"
transform = { preset = "unreal", origin_m = [1.0, 2.0, 0.0] }

[[cameras]]
name = "crane"
freed_camera_id = 1
listen = "[::1]:sony"
world = "saved"
transform = "unreal"
unreal_compat = false
"""
CSV = "table,counts,value\nsensor_width_mm,,9.59\nsensor_height_mm,,5.39\nzoom_focal_mm,0,7.6\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("40000", ("127.0.0.1", 40000)),
    ("generic", ("127.0.0.1", 40000)),
    ("mosys", ("127.0.0.1", 8001)),
    ("mo-sys", ("127.0.0.1", 8001)),
    ("stype", ("127.0.0.1", 6301)),
    ("ncam", ("127.0.0.1", 6301)),
    ("panasonic", ("127.0.0.1", 1111)),
    ("sony", ("127.0.0.1", 52380)),
    ("0.0.0.0:40000", ("0.0.0.0", 40000)),
    ("10.0.0.5:Sony", ("10.0.0.5", 52380)),
    (":6301", ("127.0.0.1", 6301)),
    ("[::1]:0", ("::1", 0)),
])
def test_listen_addresses_and_vendor_presets(text, expected):
    assert fc.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", "65536", "host:port", "::1:40000", "[::1]40000", "ndi"])
def test_bad_listen_addresses_name_the_field(text):
    with pytest.raises(InvalidInput) as e:
        fc.parse_listen(text, "cameras[0].listen")
    assert e.value.field == "cameras[0].listen"


def test_toml_config(tmp_path):
    (tmp_path / "zoom.csv").write_text(CSV)
    (tmp_path / "stage.toml").write_text(TOML)
    config = fc.load_config(tmp_path / "stage.toml")
    wall, inner, crane = config.cameras
    assert (wall.name, wall.freed_camera_id, wall.host, wall.port) == ("wall", 1, "127.0.0.1", 8001)
    assert wall.world == inner.world and wall.world.spec().source == ProceduralSource(7, "indoor")
    assert crane.world.spec().source == SnapshotSource(name="stage-a")
    assert wall.world.spec().keep and wall.world.spec().name == "stage"
    assert wall.lens.name == "broadcast-22x" and inner.lens.focal_length_mm(99) == 7.6
    assert inner.lens.source == str(tmp_path / "zoom.csv")  # relative to the config file
    assert crane.lens is None
    assert (wall.transform, wall.unreal_compat) == (fc.StageTransform(), False)
    assert inner.transform == fc.StageTransform((1.0, 2.0, 0.0), -90.0, 1.0)
    assert inner.unreal_compat  # from the preset
    assert crane.transform.yaw_deg == -90.0 and not crane.unreal_compat  # overridden
    assert crane.listen == "[::1]:52380"


def test_json_config_equals_toml(tmp_path):
    import tomllib

    (tmp_path / "zoom.csv").write_text(CSV)
    (tmp_path / "stage.toml").write_text(TOML)
    (tmp_path / "stage.json").write_text(json.dumps(tomllib.loads(TOML)))
    a = fc.load_config(tmp_path / "stage.toml")
    b = fc.load_config(tmp_path / "stage.json")
    assert a == b


@pytest.mark.parametrize(("camera", "field"), [
    ({"freed_camera_id": 256}, "cameras[0].freed_camera_id"),
    ({"freed_camera_id": True}, "cameras[0].freed_camera_id"),
    ({"name": "a b"}, "cameras[0].name"),
    ({"world": "nowhere"}, "cameras[0].world"),
    ({"lens": "missing.json"}, "cameras[0].lens"),
    ({"transform": "blender"}, "cameras[0].transform"),
    ({"transform": {"scale": 0}}, "cameras[0].transform.scale"),
    ({"transform": {"origin_m": [1, 2]}}, "cameras[0].transform.origin_m"),
    ({"unreal_compat": "yes"}, "cameras[0].unreal_compat"),
    ({"zoom": 3}, "cameras[0].zoom"),
])
def test_bad_cameras_name_the_field(camera, field, tmp_path):
    base = {"name": "a", "freed_camera_id": 0, "world": "w"}
    data = {"worlds": {"w": {"procedural": {"seed": 1}}}, "cameras": [{**base, **camera}]}
    with pytest.raises(InvalidInput) as e:
        fc.from_dict(data, tmp_path)
    assert e.value.field == field


def test_duplicate_names_and_ids_on_one_address_are_refused():
    worlds = {"w": {"procedural": {"seed": 1}}}
    a = {"name": "a", "freed_camera_id": 1, "world": "w"}
    with pytest.raises(InvalidInput) as e:
        fc.from_dict({"worlds": worlds, "cameras": [a, {**a, "freed_camera_id": 2}]})
    assert e.value.field == "cameras[1].name"
    with pytest.raises(InvalidInput) as e:
        fc.from_dict({"worlds": worlds, "cameras": [a, {**a, "name": "b"}]})
    assert e.value.field == "cameras[1].freed_camera_id"
    other_port = {**a, "name": "b", "listen": "sony"}  # the same id on another port is fine
    assert len(fc.from_dict({"worlds": worlds, "cameras": [a, other_port]}).cameras) == 2


def test_single_camera_of_the_command_line():
    config = fc.single_camera("panasonic", 3, "procedural:9:indoor", "builtin:default", "unreal")
    (cam,) = config.cameras
    assert (cam.name, cam.freed_camera_id, cam.port, cam.host) == ("camera3", 3, 1111, "127.0.0.1")
    assert cam.world.spec().source == ProceduralSource(9, "indoor")
    assert cam.unreal_compat and cam.transform.yaw_deg == -90.0 and cam.lens.name == "default"
    assert fc.single_camera("40000").cameras[0].lens is None  # no silent default lens
    with pytest.raises(InvalidInput) as e:
        fc.single_camera("40000", world="image:x.png")
    assert e.value.field == "--freed-world"


def test_stage_transform_moves_turns_and_scales():
    c2w = freed.freed_to_pose(freed.FreeDPacket(pan_deg=0.0, x_mm=1000.0, y_mm=2000.0,
                                                z_mm=1500.0))
    t = fc.StageTransform(origin_m=(10.0, 0.0, -1.0), yaw_deg=90.0, scale=2.0)
    out = t.apply(c2w)
    # Rz(90) takes (1, 2, 1.5) to (-2, 1, 1.5); times 2, plus the origin: (6, 2, 2).
    np.testing.assert_allclose(out[:3, 3], [6.0, 2.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(out[:3, 2], [-1.0, 0.0, 0.0], atol=1e-12)  # +Y turned to -X
    np.testing.assert_allclose(out[3], [0, 0, 0, 1])
    np.testing.assert_allclose(fc.StageTransform().apply(c2w), c2w)


def unreal_livelink_pose(data: bytes) -> np.ndarray:
    """The canonical c2w of the camera Unreal's LiveLinkFreeD drives from ``data``: its
    decoding, written out from its source, then the Unreal convention of the server."""
    def s24(i):
        raw = int.from_bytes(data[i:i + 3], "big")
        return raw - 0xFFFFFF if data[i] & 0x80 else raw

    location_cm = [s24(14) / 640.0, s24(11) / 640.0, s24(17) / 640.0]  # X = FreeD Y, Y = FreeD X
    rotator = [s24(5) / 32768.0, s24(2) / 32768.0, s24(8) / 32768.0]  # pitch, yaw, roll
    return cv.to_canonical("unreal", location_cm, rotator)


counts = st.integers(-(2**23), 2**23 - 1)


@given(angles=st.tuples(counts, counts, counts), position=st.tuples(counts, counts, counts))
@settings(max_examples=200, deadline=None)
def test_the_unreal_preset_reproduces_livelink_freed(angles, position):
    # 200 random packets over the whole range of every field (negative ones half the time).
    packet = freed.FreeDPacket(4, *(a / 32768 for a in angles), *(p / 64 for p in position))
    data = freed.encode(packet)
    transform, compat = fc.STAGE_PRESETS["unreal"]
    ours = transform.apply(freed.freed_to_pose(freed.decode(data, unreal_compat=compat)))
    np.testing.assert_allclose(ours, unreal_livelink_pose(data), atol=1e-9)


def test_the_freed_world_is_yawed_90_degrees_from_unreals():
    data = freed.encode(freed.FreeDPacket(0, 30.0, 10.0, 5.0, 1000.0, 2000.0, 300.0))  # positive
    ours = freed.freed_to_pose(freed.decode(data))
    turn = np.eye(4)
    turn[:3, :3] = [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]  # Rz(-90): (x, y) -> (y, -x)
    np.testing.assert_allclose(turn @ ours, unreal_livelink_pose(data), atol=1e-12)
    assert not np.allclose(ours, unreal_livelink_pose(data), atol=1e-3)
