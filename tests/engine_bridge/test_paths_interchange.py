"""Camera paths as an interchange (issue 13, section 1): units, up axes, conventions, CSV
layouts, nerfstudio, USD, plausibility. Poses are compared in the canonical frame, converted
exactly as the server converts them (``CameraPath.canonical_c2w``)."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths import CameraPath, PathSample, load_path
from latentstage.runtime import conventions as cv
from latentstage.runtime.camera import look_at

ATOL = 1e-9  # metres or rotation entries: conversions are exact up to float64 rounding


def orbit(n: int = 6) -> np.ndarray:
    """Canonical c2w [n, 4, 4]: a quarter orbit 3 m around a point 1 m up, 1.6 m high."""
    return np.stack([look_at([3 * math.cos(a), 3 * math.sin(a), 1.6], [0, 0, 1.0])
                     for a in np.linspace(0, math.pi / 2, n)])


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _unreal_rows(c2ws, scale: float) -> list[str]:
    """Unreal location (cm, times ``scale``) and FRotator rows for canonical poses."""
    rows = []
    for i, m in enumerate(c2ws):
        loc, rot = cv.canonical_to_unreal(m)
        rows.append(",".join([str(i)] + [repr(float(v)) for v in [*(loc * scale), *rot]]))
    return rows


# ----- units ------------------------------------------------------------------------------------
def test_an_unreal_csv_in_metres_reads_the_same_as_one_in_centimetres_once_declared(tmp_path):
    c2ws = orbit()
    cm = _write(tmp_path, "cm.csv", "frame,x,y,z,pitch,yaw,roll\n" + "\n".join(
        _unreal_rows(c2ws, 1.0)) + "\n")
    m = _write(tmp_path, "m.csv", "# units=m\nframe,x,y,z,pitch,yaw,roll\n" + "\n".join(
        _unreal_rows(c2ws, 0.01)) + "\n")
    a, b = load_path(cm, convention="unreal"), load_path(m, convention="unreal")
    np.testing.assert_allclose(a.canonical_c2w(), c2ws, atol=ATOL)
    np.testing.assert_allclose(b.canonical_c2w(), c2ws, atol=ATOL)
    assert a.warnings == [] and b.warnings == [] and b.units == "m (declared)"
    assert a.units == "cm (unreal default)"
    # the same metres file on the command line instead of in the file
    plain = _write(tmp_path, "m_plain.csv", "frame,x,y,z,pitch,yaw,roll\n" + "\n".join(
        _unreal_rows(c2ws, 0.01)) + "\n")
    np.testing.assert_allclose(load_path(plain, convention="unreal", units="m").canonical_c2w(),
                               c2ws, atol=ATOL)


def test_metres_read_as_centimetres_get_a_warning_naming_the_unit(tmp_path):
    plain = _write(tmp_path, "m_plain.csv", "frame,x,y,z,pitch,yaw,roll\n" + "\n".join(
        _unreal_rows(orbit(), 0.01)) + "\n")
    path = load_path(plain, convention="unreal")  # taken as cm: the orbit spans 4.2 cm
    assert len(path.warnings) == 1
    assert "spans" in path.warnings[0] and "units=m" in path.warnings[0]
    assert "--units m" in path.warnings[0]


def test_centimetres_read_as_metres_thousands_of_km_get_a_warning(tmp_path):
    rows = "\n".join(f"{i},{i * 2e8},0,1.6,0,0,0,1" for i in range(4))
    path = load_path(_write(tmp_path, "far.csv", "frame_id,x,y,z,qx,qy,qz,qw\n" + rows + "\n"))
    assert len(path.warnings) == 1 and "km long" in path.warnings[0]
    assert "units=" in path.warnings[0]


def test_a_locked_off_camera_is_not_a_unit_mistake(tmp_path):
    rows = "\n".join(f"{i},0,0,1.6,0,{i},0" for i in range(4))  # pan only
    path = load_path(_write(tmp_path, "pan.csv", "frame,x,y,z,pitch,yaw,roll\n" + rows + "\n"),
                     convention="unreal")
    assert path.warnings == []


def test_json_units_in_the_file_scale_opencv_positions(tmp_path):
    c2ws = orbit()
    cm = c2ws.copy()
    cm[:, :3, 3] *= 100
    doc = {"convention": "opencv", "units": "cm", "frames": [{"c2w": m.tolist()} for m in cm]}
    path = load_path(_write(tmp_path, "cm.json", json.dumps(doc)))
    np.testing.assert_allclose(path.canonical_c2w(), c2ws, atol=ATOL)
    with pytest.raises(ValueError, match="declares units 'cm' but the command line gives 'm'"):
        load_path(tmp_path / "cm.json", units="m")


def test_opengl_scene_units_go_on_the_wire_as_the_stage(tmp_path):
    c2ws = orbit()
    gl = np.stack([cv.canonical_to_opengl(m, "y", 0.01) for m in c2ws])  # Y up, centimetres
    doc = {"convention": "opengl", "units": "cm", "up_axis": "y",
           "frames": [{"c2w": m.tolist()} for m in gl]}
    path = load_path(_write(tmp_path, "gl.json", json.dumps(doc)))
    stage = path.stage()
    assert stage.meters_per_unit == 0.01 and stage.up_axis == 1  # UP_AXIS_Y
    np.testing.assert_allclose(path.canonical_c2w(), c2ws, atol=ATOL)
    msg = C.open_message(C.empty_world(), (64, 48), path.convention, stage=path.stage())
    assert msg.stage.meters_per_unit == 0.01 and msg.stage.up_axis == 1


# ----- up axes ----------------------------------------------------------------------------------
def test_y_up_and_z_up_files_of_one_shot_agree(tmp_path):
    c2ws = orbit()
    z_up = np.stack([cv.canonical_to_blender(m) for m in c2ws])  # OpenGL camera, Z up
    y_up = np.stack([cv.canonical_to_opengl(m, "y") for m in c2ws])  # OpenGL camera, Y up
    a = load_path(_write(tmp_path, "z.json", json.dumps(
        {"frames": [{"c2w": m.tolist()} for m in z_up]})), convention="blender")
    b = load_path(_write(tmp_path, "y.json", json.dumps(
        {"frames": [{"c2w": m.tolist()} for m in y_up]})), convention="blender", up_axis="y")
    assert b.convention == "opengl" and b.up_axis == "y"  # Blender's axes, turned to Y up
    np.testing.assert_allclose(a.canonical_c2w(), c2ws, atol=ATOL)
    np.testing.assert_allclose(b.canonical_c2w(), c2ws, atol=ATOL)
    # an OpenCV-camera path in a Y-up world (x, y, z) -> canonical (x, -z, y)
    cv_y = c2ws.copy()
    turn = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # canonical -> Y-up world
    cv_y[:, :3, :] = turn @ c2ws[:, :3, :]
    c = load_path(_write(tmp_path, "cv_y.json", json.dumps(
        {"frames": [{"c2w": m.tolist()} for m in cv_y]})), up_axis="y")
    np.testing.assert_allclose(c.canonical_c2w(), c2ws, atol=ATOL)


def test_an_up_axis_a_convention_fixes_otherwise_is_refused(tmp_path):
    path = _write(tmp_path, "u.csv", "x,y,z,pitch,yaw,roll\n0,0,170,0,0,0\n")
    with pytest.raises(ValueError, match="unreal fixes its up axis to 'z'"):
        load_path(path, up_axis="y")


# ----- CSV layouts ------------------------------------------------------------------------------
def test_tracker_log_layout_reads_pan_tilt_as_unreal_yaw_pitch(tmp_path):
    text = "# units=mm\nframe,x,y,z,pan,tilt,roll,focal\n10,1000,2000,1600,30,-5,1,35\n"
    path = load_path(_write(tmp_path, "tracker.csv", text))
    s = path.samples[0]
    assert path.convention == "unreal" and s.frame_id == 10
    assert (s.rotation.rotator.yaw_deg, s.rotation.rotator.pitch_deg,
            s.rotation.rotator.roll_deg) == (30, -5, 1)
    np.testing.assert_allclose(s.position, [100, 200, 160])  # mm -> Unreal cm
    assert s.lens.physical.focal_length_mm == 35 and s.lens.physical.sensor_width_mm == 36
    assert any("convention not declared" in w for w in path.warnings)
    assert any("36 x 24 mm" in w for w in path.warnings)
    np.testing.assert_allclose(path.canonical_c2w()[0], cv.to_canonical(
        "unreal", [100, 200, 160], [-5, 30, 1]), atol=ATOL)


def test_unreal_export_layout_with_and_without_sensor_height(tmp_path):
    head = "LocationX,LocationY,LocationZ,Pitch,Yaw,Roll,FocalLength,SensorWidth"
    a = load_path(_write(tmp_path, "ue.csv", head + "\n100,50,170,-10,30,0,24,36\n"))
    b = load_path(_write(tmp_path, "ue_h.csv", head + ",SensorHeight\n100,50,170,-10,30,0,24,"
                         "36,24\n"))
    pa, pb_ = a.samples[0].lens.physical, b.samples[0].lens.physical
    assert (pa.focal_length_mm, pa.sensor_width_mm, pa.sensor_height_mm) == (24, 36, 20.25)
    assert pb_.sensor_height_mm == 24 and a.convention == "unreal"
    np.testing.assert_allclose(a.canonical_c2w()[0], cv.to_canonical(
        "unreal", [100, 50, 170], [-10, 30, 0]), atol=ATOL)


def test_a_spreadsheet_byte_order_mark_is_not_part_of_the_first_header(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffFrame;X;Y;Z;QX;QY;QZ;QW\r\n7;1;2;3;0;0;0;1\r\n".encode())
    s = load_path(path).samples[0]
    assert s.frame_id == 7 and list(s.position) == [1, 2, 3]


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_headers_any_case_and_sniffed_delimiters(tmp_path, delimiter):
    head = delimiter.join(["Frame_ID", "X", " Y", "z", "QX", "qy", "Qz", "QW", "FOV_DEG"])
    row = delimiter.join(["3", "1.5", "2", "1.6", "0", "0", "0", "1", "60"])
    path = load_path(_write(tmp_path, "d.csv", head + "\n" + row + "\n"))
    s = path.samples[0]
    assert s.frame_id == 3 and list(s.position) == [1.5, 2, 1.6] and s.lens.fov.fov_deg == 60


BAD_LAYOUTS = [  # (content, message parts)
    ("a,b,c\n1,2,3\n", ["line 1 (header): no position columns", "found a, b, c",
                        "accepted x,y,z (or LocationX"]),
    ("# units=m\n\nframe,x,y,z,heading\n0,0,0,0,0\n",
     ["line 3 (header): no rotation columns", "found frame, x, y, z, heading",
      "pitch,yaw,roll (or tilt,pan,roll)"]),
    ("frame,x,y,z,pan,tilt\n0,0,0,0,1,2\n", ["line 1 (header): no rotation columns",
                                             "found frame, x, y, z, pan, tilt"]),
    ("x,y,z,qx,qy,qz,qw\n0,0,0,0,0,0,1\n0,0,,0,0,0,1\n", ["line 3: x, y and z are required"]),
    ("# units=parsecs\nx,y,z,qx,qy,qz,qw\n0,0,0,0,0,0,1\n", ["units: got 'parsecs'"]),
    ("# sensor=36\nx,y,z,qx,qy,qz,qw,focal\n0,0,0,0,0,0,1,35\n", ["sensor: got '36'",
                                                                   "WIDTHxHEIGHT"]),
]


@pytest.mark.parametrize("content, parts", BAD_LAYOUTS,
                         ids=[str(i) for i in range(len(BAD_LAYOUTS))])
def test_an_unknown_csv_layout_names_the_line_the_columns_and_the_names_accepted(
        tmp_path, content, parts):
    path = _write(tmp_path, "bad.csv", content)
    with pytest.raises(ValueError) as err:
        load_path(path)
    for part in parts:
        assert part in str(err.value), str(err.value)
    assert str(path) in str(err.value)


# ----- nerfstudio -------------------------------------------------------------------------------
def test_nerfstudio_transforms_are_opengl_axes_with_their_intrinsics(tmp_path):
    c2ws = orbit(3)
    gl = [cv.canonical_to_blender(m).tolist() for m in c2ws]
    doc = {"camera_model": "OPENCV", "fl_x": 500.0, "fl_y": 510.0, "cx": 320.0, "cy": 240.0,
           "w": 640, "h": 480, "k1": 0.0,
           "frames": [{"file_path": f"images/{i}.png", "transform_matrix": m}
                      for i, m in enumerate(gl)]}
    doc["frames"][2]["fl_x"] = 600.0  # a frame's own intrinsics win
    path = load_path(_write(tmp_path, "transforms.json", json.dumps(doc)))
    assert path.source_format == "nerfstudio" and path.convention == "blender"
    np.testing.assert_allclose(path.canonical_c2w(), c2ws, atol=ATOL)
    px = path.samples[0].lens.pixels
    assert (px.fx, px.fy, px.cx, px.cy, px.width, px.height) == (500, 510, 319.5, 239.5, 640, 480)
    assert path.samples[2].lens.pixels.fx == 600 and path.size == (640, 480)
    assert path.warnings == []


def test_nerfstudio_camera_angle_x_stands_in_for_the_focal_length(tmp_path):
    gl = cv.canonical_to_blender(orbit(1)[0]).tolist()
    doc = {"camera_angle_x": math.radians(90), "frames": [{"file_path": "a.png",
                                                            "transform_matrix": gl}]}
    lens = load_path(_write(tmp_path, "t.json", json.dumps(doc))).samples[0].lens
    assert lens.fov.fov_deg == pytest.approx(90) and lens.fov.axis == 1  # horizontal
    doc.update(w=200, h=100)
    lens = load_path(_write(tmp_path, "t.json", json.dumps(doc))).samples[0].lens
    assert lens.pixels.fx == pytest.approx(100) and lens.pixels.cx == pytest.approx(99.5)


# ----- USD --------------------------------------------------------------------------------------
needs_usd = pytest.mark.skipif(importlib.util.find_spec("pxr") is None,
                               reason="usd-core (the [usd] extra) is not installed")


def _shot(n: int = 5) -> CameraPath:
    samples = [PathSample(i, i / 24, m[:3, 3], C.rotation(matrix=m[:3, :3]),
                          C.lens_fov(50 + i, "horizontal")) for i, m in enumerate(orbit(n))]
    return CameraPath("opencv", samples, (320, 180), 24.0, {"seed": 3, "kind": "indoor"},
                      clipping_range=(0.1, 500.0))


@needs_usd
@pytest.mark.parametrize("up, mpu", [("z", 1.0), ("y", 0.01), ("z", 0.01), ("y", 2.5)])
def test_usd_write_then_read_gives_the_same_shot(tmp_path, up, mpu):
    from latentstage.engine_bridge.paths import save_usd
    from latentstage.runtime.camera import DEFAULT_BOUNDS
    from latentstage.runtime.translate import lens_to_intrinsics

    shot = _shot()
    file = save_usd(shot, tmp_path / "shot.usda", up_axis=up, meters_per_unit=mpu)
    back = load_path(file)
    assert back.convention == "usd" and back.up_axis == up and back.meters_per_unit == mpu
    assert back.stage().meters_per_unit == mpu
    np.testing.assert_allclose(back.canonical_c2w(), shot.canonical_c2w(), atol=1e-9)
    assert [s.time_code for s in back.samples] == [0, 1, 2, 3, 4]
    assert [s.time_s for s in back.samples] == pytest.approx([i / 24 for i in range(5)])
    assert back.fps == 24 and back.world == {"seed": 3, "kind": "indoor"}
    assert back.clipping_range == pytest.approx((0.1, 500.0), rel=1e-6)
    for s, t in zip(shot.samples, back.samples, strict=True):
        k0 = lens_to_intrinsics(s.lens, cv.Convention.OPENCV, 320, 180, "a", DEFAULT_BOUNDS)
        k1 = lens_to_intrinsics(t.lens, cv.Convention.USD, 320, 180, "b", DEFAULT_BOUNDS)
        # USD stores lens attributes as float32: 1e-4 px at 320 px is float32's resolution
        np.testing.assert_allclose([k1.fx, k1.fy, k1.cx, k1.cy], [k0.fx, k0.fy, k0.cx, k0.cy],
                                   atol=1e-4)


@needs_usd
def test_usd_field_of_view_matches_gf_camera(tmp_path):
    from pxr import Gf, Usd, UsdGeom

    from latentstage.runtime.camera import DEFAULT_BOUNDS
    from latentstage.runtime.translate import lens_to_intrinsics

    stage = Usd.Stage.CreateNew(str(tmp_path / "cam.usda"))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    cam = UsdGeom.Camera.Define(stage, "/Shot/Cam")
    cam.AddTranslateOp().Set(Gf.Vec3d(0, -500, 170))
    cam.GetFocalLengthAttr().Set(35.0)
    cam.GetHorizontalApertureAttr().Set(36.0)  # tenths of a centimetre: a 36 x 24 mm back
    cam.GetVerticalApertureAttr().Set(24.0)
    stage.GetRootLayer().Save()
    path = load_path(tmp_path / "cam.usda")
    gf = cam.GetCamera(Usd.TimeCode.Default())
    k = lens_to_intrinsics(path.samples[0].lens, cv.Convention.USD, 360, 240, "lens",
                           DEFAULT_BOUNDS)
    assert k.hfov_deg == pytest.approx(gf.GetFieldOfView(Gf.Camera.FOVHorizontal), abs=1e-4)
    assert k.vfov_deg == pytest.approx(gf.GetFieldOfView(Gf.Camera.FOVVertical), abs=1e-4)
    # USD's fallback metersPerUnit is 0.01: the camera stands 5 m back, 1.7 m up
    np.testing.assert_allclose(path.canonical_c2w()[0][:3, 3], [0, -5, 1.7], atol=1e-9)


@needs_usd
def test_usd_with_several_cameras_needs_a_prim_path(tmp_path):
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.CreateNew(str(tmp_path / "two.usda"))
    for name in ("/A", "/B"):
        UsdGeom.Camera.Define(stage, name)
    stage.GetRootLayer().Save()
    with pytest.raises(ValueError, match=r"2 cameras \(/A, /B\); choose one with --camera"):
        load_path(tmp_path / "two.usda")
    assert load_path(tmp_path / "two.usda", camera="/B").samples[0].frame_id == 0
    with pytest.raises(ValueError, match="no UsdGeom.Camera at that prim path"):
        load_path(tmp_path / "two.usda", camera="/C")


@needs_usd
def test_the_sample_shot_in_the_repo_reads_as_generated():
    from pathlib import Path

    shot = Path(__file__).parents[2] / "docs" / "examples" / "shot.usda"
    path = load_path(shot)
    assert len(path.samples) == 48 and path.fps == 24 and path.world == {"seed": 7,
                                                                          "kind": "outdoor"}
    assert (path.up_axis, path.meters_per_unit) == ("z", 0.01) and path.warnings == []
    assert path.size == (256, 144)  # the 16:9 filmback's aspect


def test_usd_without_usd_core_names_the_extra(tmp_path, monkeypatch):
    import sys

    from latentstage.engine_bridge.paths import MissingExtra

    monkeypatch.setitem(sys.modules, "pxr", None)
    _write(tmp_path, "x.usda", "#usda 1.0\n")
    with pytest.raises(MissingExtra, match=r"latentstage\[usd\]"):
        load_path(tmp_path / "x.usda")
