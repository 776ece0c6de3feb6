"""Tests for lens calibrations (runtime/lens_calibration.py): interpolation against values
computed by hand, both file layouts, the bundled files and the errors."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest

from latentstage.runtime import lens_calibration as L
from latentstage.runtime.errors import InvalidInput, NotFound

ROOT = Path(__file__).resolve().parents[2]


def calib(zoom_points, unit="focal_mm", focus_points=None, sw=10.0, sh=5.0):
    data = {"sensor_width_mm": sw, "sensor_height_mm": sh,
            "zoom": {"unit": unit, "points": zoom_points}}
    if focus_points is not None:
        data["focus"] = {"unit": "m", "points": focus_points}
    return L.from_dict(data, "test")


def test_zoom_interpolates_linearly_and_clamps_at_both_ends():
    c = calib([[100, 10.0], [1100, 20.0], [3100, 60.0]])
    # Inside a segment: 10 + (600 - 100) / 1000 * 10 = 15; 20 + (2100 - 1100) / 2000 * 40 = 40.
    assert c.focal_length_mm(600) == pytest.approx(15.0)
    assert c.focal_length_mm(2100) == pytest.approx(40.0)
    assert c.focal_length_mm(1100) == 20.0  # on a point
    assert c.focal_length_mm(0) == 10.0  # before the first point: clamped
    assert c.focal_length_mm(2**24 - 1) == 60.0  # past the last point: clamped


def test_focus_interpolates_in_metres_and_is_optional():
    c = calib([[0, 35.0]], focus_points=[[0, 0.5], [1000, 2.5], [2000, 10.0]])
    assert c.focus_m(250) == pytest.approx(1.0)  # 0.5 + 0.25 * 2
    assert c.focus_m(1500) == pytest.approx(6.25)  # 2.5 + 0.5 * 7.5
    assert c.focus_m(5000) == 10.0
    assert calib([[0, 35.0]]).focus_m(123) is None


def test_intrinsics_keep_the_horizontal_fov_with_square_pixels():
    c = calib([[0, 20.0], [1000, 40.0]], sw=10.0, sh=5.0)
    k = c.intrinsics(500, 64, 48)  # 30 mm on a 10 mm wide sensor: fx = 30 / 10 * 64 = 192
    assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == pytest.approx(
        (192.0, 192.0, 31.5, 23.5, 64, 48))
    assert c.hfov_deg(500) == pytest.approx(math.degrees(2 * math.atan(5.0 / 30.0)))


def test_a_field_of_view_table_gives_the_same_lens_as_its_focal_length():
    # 90 degrees across a 10 mm sensor is a 5 mm lens; 60 degrees is 5 / tan(30) = 8.660 mm.
    c = calib([[0, 90.0], [1000, 60.0]], unit="hfov_deg")
    assert c.focal_length_mm(0) == pytest.approx(5.0)
    assert c.focal_length_mm(1000) == pytest.approx(5.0 / math.tan(math.radians(30)))
    assert c.hfov_deg(500) == pytest.approx(75.0)  # interpolated in degrees
    assert c.intrinsics(0, 64, 48).fx == pytest.approx(32.0)  # 90 degrees over 64 pixels


def test_csv_and_json_layouts_give_the_same_calibration(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({
        "sensor_width_mm": 9.59, "sensor_height_mm": 5.39,
        "zoom": {"unit": "hfov_deg", "points": [[0, 60.0], [65535, 3.0]]},
        "focus": {"unit": "m", "points": [[0, 0.6], [65535, 1000.0]]}}))
    (tmp_path / "a.csv").write_text(
        "# comment\ntable,counts,value\nsensor_width_mm,,9.59\nsensor_height_mm,,5.39\n"
        "zoom_hfov_deg,0,60\nzoom_hfov_deg,65535,3\nfocus_m,0,0.6\nfocus_m,65535,1000\n")
    a, b = L.load(tmp_path / "a.json"), L.load(tmp_path / "a.csv")
    assert (a.zoom, a.focus, a.zoom_unit, a.sensor_width_mm) == (
        b.zoom, b.focus, b.zoom_unit, b.sensor_width_mm)


def test_bundled_calibrations_load_and_the_example_csv_matches_its_json():
    assert {"default", "broadcast-22x"} <= set(L.builtin_names())
    default = L.load("builtin:default")
    assert default.focal_length_mm(0) == default.focal_length_mm(2**24 - 1) == 35.0
    assert (default.sensor_width_mm, default.sensor_height_mm) == (23.76, 13.365)
    zoom = L.load("builtin:broadcast-22x")
    assert zoom.focal_length_mm(0) == 7.6 and zoom.focal_length_mm(65535) == 168.0
    assert zoom.focal_length_mm(4096) == pytest.approx((7.6 + 11.19) / 2)  # halfway to 8192
    example = L.load(ROOT / "docs" / "examples" / "freed" / "broadcast-22x.csv")
    assert (example.zoom, example.focus) == (zoom.zoom, zoom.focus)


def test_the_bundled_files_ship_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "data/**/*" in config["tool"]["setuptools"]["package-data"]["latentstage.runtime"]
    assert L.BUILTIN_DIR == ROOT / "runtime" / "data" / "lens"


@pytest.mark.parametrize(("data", "field"), [
    ({"sensor_width_mm": 10, "sensor_height_mm": 5,
      "zoom": {"unit": "focal_mm", "points": [[10, 20.0], [5, 30.0]]}}, "test:zoom.points[1]"),
    ({"sensor_width_mm": 10, "sensor_height_mm": 5,
      "zoom": {"unit": "focal_mm", "points": [[0, -1.0]]}}, "test:zoom.points[0]"),
    ({"sensor_width_mm": 10, "sensor_height_mm": 5,
      "zoom": {"unit": "hfov_deg", "points": [[0, 180.0]]}}, "test:zoom.points[0]"),
    ({"sensor_width_mm": 10, "sensor_height_mm": 5,
      "zoom": {"unit": "mm", "points": [[0, 20.0]]}}, "test:zoom.unit"),
    ({"sensor_width_mm": 10, "sensor_height_mm": 5,
      "zoom": {"unit": "focal_mm", "points": [[2**24, 20.0]]}}, "test:zoom.points[0]"),
    ({"sensor_height_mm": 5, "zoom": {"unit": "focal_mm", "points": [[0, 20.0]]}},
     "test:sensor_width_mm"),
    ({"sensor_width_mm": 10, "sensor_height_mm": 5, "zoom_typo": 1,
      "zoom": {"unit": "focal_mm", "points": [[0, 20.0]]}}, "test:zoom_typo"),
])
def test_bad_calibrations_name_the_field(data, field):
    with pytest.raises(InvalidInput) as e:
        L.from_dict(data, "test")
    assert e.value.field == field


def test_missing_files_and_builtins_are_not_found(tmp_path):
    with pytest.raises(NotFound, match="no such file"):
        L.load(tmp_path / "nope.json")
    with pytest.raises(NotFound, match="builtin:default"):
        L.load("builtin:nope")  # the message lists what is bundled
