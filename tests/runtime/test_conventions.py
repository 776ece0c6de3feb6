"""Tests for the edge conventions (runtime/conventions.py).

Tolerances: conversions are a few float64 matrix products, so poses agree to ~1e-12 relative;
1e-9 leaves room for positions of up to 1e4 m (1e6 Unreal cm). Euler angles recovered by
scipy lose precision near gimbal lock, hence 1e-7 on rotations that went through Euler angles.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from latentstage.runtime import conventions as cv
from latentstage.runtime.camera import look_at, make_pose
from latentstage.runtime.conventions import Convention, from_canonical, to_canonical
from latentstage.runtime.errors import InvalidInput

FAST = settings(max_examples=200, deadline=None)
angles = st.floats(-180.0, 180.0, allow_nan=False)
pitches = st.floats(-89.0, 89.0, allow_nan=False)
coords = st.floats(-1e4, 1e4, allow_nan=False)
positions = st.tuples(coords, coords, coords).map(np.array)
rotations = st.integers(0, 2**32 - 1).map(lambda s: Rotation.random(random_state=s).as_matrix())


def rx(deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def ry(deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def rz(deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def f_rotation_matrix(pitch, yaw, roll):
    """Unreal's FRotationMatrix, transcribed: rows are forward (X), right (Y), up (Z)."""
    sp, cp = math.sin(math.radians(pitch)), math.cos(math.radians(pitch))
    sy, cy = math.sin(math.radians(yaw)), math.cos(math.radians(yaw))
    sr, cr = math.sin(math.radians(roll)), math.cos(math.radians(roll))
    return np.array(
        [
            [cp * cy, cp * sy, sp],
            [sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp],
            [-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp],
        ]
    )


def f_rotator_quaternion(pitch, yaw, roll):
    """Unreal's FRotator::Quaternion, transcribed: (x, y, z, w)."""
    sp, cp = math.sin(math.radians(pitch / 2)), math.cos(math.radians(pitch / 2))
    sy, cy = math.sin(math.radians(yaw / 2)), math.cos(math.radians(yaw / 2))
    sr, cr = math.sin(math.radians(roll / 2)), math.cos(math.radians(roll / 2))
    return np.array(
        [
            cr * sp * sy - sr * cp * cy,
            -cr * sp * cy - sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        ]
    )


def angle_diff(a, b):
    """Elementwise difference of angles in degrees, wrapped to [-180, 180)."""
    return (np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0


def axes(c2w):
    """(right, down, forward) of a canonical pose as world vectors."""
    return c2w[:3, 0], c2w[:3, 1], c2w[:3, 2]


# ----- Unreal ----------------------------------------------------------------------------------
@pytest.mark.parametrize("pitch", [-60.0, -10.0, 0.0, 25.0, 89.0])
@pytest.mark.parametrize("yaw", [-135.0, 0.0, 30.0, 90.0, 180.0])
def test_unreal_forward_vector(pitch, yaw):
    p, y = math.radians(pitch), math.radians(yaw)
    forward_ue = np.array([math.cos(p) * math.cos(y), math.cos(p) * math.sin(y), math.sin(p)])
    np.testing.assert_allclose(
        cv.unreal_rotator_to_matrix([pitch, yaw, 17.0])[:, 0], forward_ue, atol=1e-12
    )
    c2w = cv.unreal_to_canonical([0.0, 0.0, 0.0], [pitch, yaw, 17.0])
    forward_canonical = forward_ue * [1, -1, 1]  # canonical = Unreal with Y flipped
    np.testing.assert_allclose(c2w[:3, 2], forward_canonical, atol=1e-12)


@given(pitch=angles, yaw=angles, roll=angles)
@FAST
def test_unreal_matches_frotationmatrix_and_fquat(pitch, yaw, roll):
    matrix = cv.unreal_rotator_to_matrix([pitch, yaw, roll])
    np.testing.assert_allclose(matrix, f_rotation_matrix(pitch, yaw, roll).T, atol=1e-12)
    quat = f_rotator_quaternion(pitch, yaw, roll)
    from_rotator = cv.unreal_to_canonical([1.0, 2.0, 3.0], [pitch, yaw, roll])
    np.testing.assert_allclose(
        cv.unreal_to_canonical([1.0, 2.0, 3.0], quat), from_rotator, atol=1e-12
    )


def test_unreal_known_poses():
    c2w = cv.unreal_to_canonical([100.0, 200.0, 300.0], [0.0, 0.0, 0.0])
    right, down, forward = axes(c2w)
    np.testing.assert_allclose(c2w[:3, 3], [1.0, -2.0, 3.0])  # cm -> m, Y flipped
    np.testing.assert_allclose(forward, [1, 0, 0], atol=1e-15)  # Unreal +X
    np.testing.assert_allclose(right, [0, -1, 0], atol=1e-15)  # Unreal +Y = canonical -Y
    np.testing.assert_allclose(down, [0, 0, -1], atol=1e-15)
    # Yaw 90 looks along Unreal +Y, which is canonical -Y.
    np.testing.assert_allclose(
        axes(cv.unreal_to_canonical([0, 0, 0], [0, 90, 0]))[2], [0, -1, 0], atol=1e-12
    )
    # Pitch 90 looks straight up.
    np.testing.assert_allclose(
        axes(cv.unreal_to_canonical([0, 0, 0], [90, 0, 0]))[2], [0, 0, 1], atol=1e-12
    )
    # Positive roll turns clockwise seen from behind: the right side dips.
    right, _, _ = axes(cv.unreal_to_canonical([0, 0, 0], [0, 0, 30]))
    np.testing.assert_allclose(right, [0, -math.cos(math.radians(30)), -0.5], atol=1e-12)


@given(pitch=pitches, yaw=angles, roll=angles, location=positions)
@FAST
def test_unreal_rotator_round_trip(pitch, yaw, roll, location):
    c2w = cv.unreal_to_canonical(location, [pitch, yaw, roll])
    back_location, rotator = cv.canonical_to_unreal(c2w)
    np.testing.assert_allclose(back_location, location, atol=1e-9)
    np.testing.assert_allclose(angle_diff(rotator, [pitch, yaw, roll]), 0.0, atol=1e-7)


@given(rotation=rotations, location=positions)
@FAST
def test_unreal_quat_round_trip(rotation, location):
    quat = Rotation.from_matrix(rotation).as_quat()
    c2w = cv.unreal_to_canonical(location, quat)
    back_location, back_quat = cv.canonical_to_unreal(c2w, "quat")
    np.testing.assert_allclose(back_location, location, atol=1e-9)
    assert abs(abs(np.dot(back_quat, quat)) - 1.0) < 1e-12  # q and -q are the same rotation


def test_unreal_gimbal_lock_round_trip_is_silent():
    c2w = cv.unreal_to_canonical([0.0, 0.0, 0.0], [90.0, 30.0, 20.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, rotator = cv.canonical_to_unreal(c2w)
    assert rotator[0] == pytest.approx(90.0) and rotator[2] == 0.0
    np.testing.assert_allclose(cv.unreal_to_canonical([0.0, 0.0, 0.0], rotator), c2w, atol=1e-7)


# ----- Unity -----------------------------------------------------------------------------------
@given(x=angles, y=angles, z=angles)
@FAST
def test_unity_euler_applies_z_then_x_then_y(x, y, z):
    np.testing.assert_allclose(
        cv.unity_euler_to_matrix([x, y, z]), ry(y) @ rx(x) @ rz(z), atol=1e-12
    )


def test_unity_euler_order_is_not_xyz():
    assert not np.allclose(cv.unity_euler_to_matrix([30, 40, 50]), rz(50) @ ry(40) @ rx(30))


def test_unity_known_poses():
    c2w = cv.unity_to_canonical([1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 1.0])
    right, down, forward = axes(c2w)
    np.testing.assert_allclose(c2w[:3, 3], [3.0, -1.0, 2.0])  # (z, -x, y)
    np.testing.assert_allclose(forward, [1, 0, 0], atol=1e-15)  # Unity +Z
    np.testing.assert_allclose(right, [0, -1, 0], atol=1e-15)  # Unity +X
    np.testing.assert_allclose(down, [0, 0, -1], atol=1e-15)  # Unity -Y
    # Euler y = 90 turns right: looks along Unity +X = canonical -Y (as Unreal yaw 90).
    np.testing.assert_allclose(
        axes(cv.unity_to_canonical([0, 0, 0], [0, 90, 0]))[2], [0, -1, 0], atol=1e-12
    )
    # Euler x = 30 looks down by 30 degrees.
    forward = axes(cv.unity_to_canonical([0, 0, 0], [30, 0, 0]))[2]
    np.testing.assert_allclose(forward, [math.cos(math.radians(30)), 0, -0.5], atol=1e-12)


@given(x=pitches, y=angles, z=angles, position=positions)
@FAST
def test_unity_euler_round_trip(x, y, z, position):
    c2w = cv.unity_to_canonical(position, [x, y, z])
    back_position, euler = cv.canonical_to_unity(c2w, "euler")
    np.testing.assert_allclose(back_position, position, atol=1e-9)
    assert np.all((euler >= 0) & (euler < 360))  # like Unity's eulerAngles
    np.testing.assert_allclose(angle_diff(euler, [x, y, z]), 0.0, atol=1e-7)


@given(pitch=angles, yaw=angles, roll=angles, location=positions)
@FAST
def test_unreal_to_unity_to_canonical_agrees(pitch, yaw, roll, location):
    # Engine correspondence: Unreal X = Unity Z, Unreal Y = Unity X, Unreal Z = Unity Y.
    perm = np.array([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]])  # Unity coords = perm @ Unreal coords
    ue_rotation = cv.unreal_rotator_to_matrix([pitch, yaw, roll])
    unity_position = perm @ location / 100.0
    unity_rotation = perm @ ue_rotation @ perm.T
    expected = cv.unreal_to_canonical(location, [pitch, yaw, roll])
    np.testing.assert_allclose(
        cv.unity_to_canonical(unity_position, unity_rotation), expected, atol=1e-9
    )
    # The same rotation as Unity Euler angles: (x, y, z) = (-pitch, yaw, -roll).
    via_euler = cv.unity_to_canonical(unity_position, [-pitch, yaw, -roll])
    np.testing.assert_allclose(via_euler, expected, atol=1e-9)


# ----- OpenGL, Blender, USD --------------------------------------------------------------------
def test_blender_identity_camera_looks_down():
    right, down, forward = axes(cv.blender_to_canonical(np.eye(4)))
    np.testing.assert_allclose(forward, [0, 0, -1])  # looks down -Z
    np.testing.assert_allclose(down, [0, -1, 0])  # its up is +Y
    np.testing.assert_allclose(right, [1, 0, 0])


def test_blender_camera_rotated_90_about_x_looks_along_y():
    c2w = cv.blender_to_canonical(make_pose(rx(90), [1.0, 2.0, 3.0]))
    right, down, forward = axes(c2w)
    np.testing.assert_allclose(forward, [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(down, [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(c2w[:3, 3], [1, 2, 3])


def test_opengl_y_up_world():
    c2w = cv.opengl_to_canonical(make_pose(np.eye(3), [1.0, 2.0, 3.0]), world_up="y")
    right, down, forward = axes(c2w)
    np.testing.assert_allclose(forward, [0, 1, 0], atol=1e-15)  # -Z_gl -> +Y
    np.testing.assert_allclose(down, [0, 0, -1], atol=1e-15)  # +Y_gl is up -> +Z
    np.testing.assert_allclose(right, [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(c2w[:3, 3], [1.0, -3.0, 2.0])  # (x, -z, y)


@pytest.mark.parametrize(
    ("up_axis", "mpu", "position", "forward"),
    [
        ("Y", 0.01, [1.0, -3.0, 2.0], [0, 1, 0]),
        ("Z", 0.01, [1.0, 2.0, 3.0], [0, 0, -1]),
        ("Y", 1.0, [100.0, -300.0, 200.0], [0, 1, 0]),
        ("z", 1.0, [100.0, 200.0, 300.0], [0, 0, -1]),
    ],
)
def test_usd_up_axis_and_meters_per_unit(up_axis, mpu, position, forward):
    local_to_world = make_pose(np.eye(3), [100.0, 200.0, 300.0])
    c2w = cv.usd_to_canonical(local_to_world, up_axis=up_axis, meters_per_unit=mpu)
    np.testing.assert_allclose(c2w[:3, 3], position)
    np.testing.assert_allclose(c2w[:3, 2], forward, atol=1e-15)
    np.testing.assert_allclose(c2w[:3, 1], [0, 0, -1] if up_axis == "Y" else [0, -1, 0], atol=1e-15)


@given(rotation=rotations, position=positions)
@FAST
def test_opengl_blender_usd_round_trips(rotation, position):
    c2w = make_pose(rotation, position)
    np.testing.assert_allclose(cv.opengl_to_canonical(cv.canonical_to_opengl(c2w)), c2w, atol=1e-9)
    np.testing.assert_allclose(
        cv.blender_to_canonical(cv.canonical_to_blender(c2w)), c2w, atol=1e-9
    )
    for up in ("Y", "Z"):
        usd = cv.canonical_to_usd(c2w, up, 0.01)
        np.testing.assert_allclose(cv.usd_to_canonical(usd, up, 0.01), c2w, atol=1e-9)
    # The OpenGL camera looks down its -Z: canonical forward is the mapped -Z column.
    gl = cv.canonical_to_opengl(c2w, "y")
    np.testing.assert_allclose(cv._Y_UP_WORLD @ -gl[:3, 2], c2w[:3, 2], atol=1e-12)


# ----- dispatch --------------------------------------------------------------------------------
CASES = [
    ("opencv", {}, ["matrix", "quat"]),
    ("opengl", {"world_up": "y", "meters_per_unit": 0.5}, ["matrix", "quat"]),
    ("opengl", {"world_up": "z"}, ["matrix"]),
    ("blender", {"meters_per_unit": 1.0}, ["matrix", "quat"]),
    ("usd", {"up_axis": "Y", "meters_per_unit": 0.01}, ["matrix", "quat"]),
    ("usd", {"up_axis": "Z", "meters_per_unit": 1.0}, ["matrix"]),
    ("unreal", {}, ["euler", "quat", "matrix"]),
    ("unity", {}, ["euler", "quat", "matrix"]),
]
CASE_FORMS = [(name, stage, form) for name, stage, forms in CASES for form in forms]


@given(case=st.sampled_from(CASE_FORMS), rotation=rotations, position=positions)
@settings(max_examples=400, deadline=None)
def test_dispatch_round_trip_every_convention(case, rotation, position):
    name, stage, form = case
    c2w = make_pose(rotation, position)
    edge_position, edge_rotation = from_canonical(name, c2w, form, **stage)
    np.testing.assert_allclose(
        to_canonical(name, edge_position, edge_rotation, **stage), c2w, atol=1e-7
    )


def test_dispatch_matches_direct_functions():
    c2w = look_at([1.0, 2.0, 3.0], [0.0, -1.0, 0.5])
    np.testing.assert_allclose(
        to_canonical(Convention.UNREAL, [10, 20, 30], [5, 6, 7]),
        cv.unreal_to_canonical([10, 20, 30], [5, 6, 7]),
    )
    np.testing.assert_allclose(
        to_canonical("unity", [1, 2, 3], [5, 6, 7]), cv.unity_to_canonical([1, 2, 3], [5, 6, 7])
    )
    gl = cv.canonical_to_opengl(c2w, "y", 0.1)
    np.testing.assert_allclose(
        to_canonical("opengl", gl[:3, 3], gl[:3, :3], meters_per_unit=0.1), c2w, atol=1e-12
    )
    np.testing.assert_allclose(to_canonical("opencv", c2w[:3, 3], c2w[:3, :3]), c2w)


def test_from_canonical_default_forms():
    c2w = look_at([1.0, 2.0, 3.0], [0.0, -1.0, 0.5])
    assert from_canonical("unreal", c2w)[1].shape == (3,)  # FRotator
    assert from_canonical("unity", c2w)[1].shape == (4,)  # Quaternion
    assert from_canonical("usd", c2w)[1].shape == (3, 3)
    quat = from_canonical("opencv", c2w, "quat")[1]
    assert quat[3] >= 0 and np.linalg.norm(quat) == pytest.approx(1.0)


def test_unknown_convention():
    with pytest.raises(InvalidInput) as e:
        to_canonical("maya", [0, 0, 0], np.eye(3))
    assert e.value.field == "convention" and e.value.value == "maya"
    assert "'unreal'" in str(e.value)
    with pytest.raises(InvalidInput) as e:
        from_canonical(None, np.eye(4))
    assert e.value.field == "convention"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: to_canonical("unreal", [0, 0, 0], [0, 0, 0], up_axis="Y"), "stage.up_axis"),
        (lambda: to_canonical("opencv", [0, 0, 0], [0, 0, 0]), "opencv.rotation"),
        (lambda: to_canonical("unreal", [np.nan, 0, 0], [0, 0, 0]), "unreal.location"),
        (lambda: to_canonical("unreal", [0, 0, 0], [0, np.inf, 0]), "unreal.rotation"),
        (lambda: to_canonical("unity", [0, 0, 0], [0, 0, 0, 1.01]), "unity.rotation"),
        (lambda: to_canonical("unity", [0, 0], [0, 0, 0, 1]), "unity.position"),
        (lambda: to_canonical("blender", [0, 0, 0], 2 * np.eye(3)), "blender.rotation"),
        (lambda: to_canonical("opengl", [0, 0, 0], np.diag([1.0, 1, -1])), "opengl.rotation"),
        (lambda: to_canonical("usd", [0, 0, 0], np.eye(3), up_axis="X"), "stage.up_axis"),
        (
            lambda: to_canonical("usd", [0, 0, 0], np.eye(3), meters_per_unit=0),
            "stage.meters_per_unit",
        ),
        (lambda: to_canonical("opengl", [0, 0, 0], np.eye(3), world_up="x"), "stage.world_up"),
        (lambda: from_canonical("usd", np.eye(4), "euler"), "rotation_form"),
        (lambda: from_canonical("unreal", np.diag([1.0, 1, -1, 1])), "c2w.rotation"),
        (lambda: cv.usd_to_canonical(np.ones((4, 4))), "usd.local_to_world.rotation"),
    ],
)
def test_validation_names_the_field(call, field):
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == field


def test_quaternion_within_tolerance_is_renormalised():
    exact = to_canonical("unity", [0, 0, 0], [0.0, 0.6, 0.0, 0.8])
    np.testing.assert_allclose(
        to_canonical("unity", [0, 0, 0], [0.0, 0.6003, 0.0, 0.8004]), exact, atol=1e-12
    )


# ----- intrinsics ------------------------------------------------------------------------------
def test_unreal_cine_intrinsics():
    # Default CineCamera filmback: 16:9 digital film, 23.76 x 13.365 mm, 35 mm lens.
    k = cv.unreal_cine_intrinsics(35.0, 23.76, 13.365, 1920, 1080)
    assert k.fx == pytest.approx(35.0 * 1920 / 23.76)
    assert k.fy == pytest.approx(k.fx)
    assert (k.cx, k.cy) == (959.5, 539.5)
    # A positive offset slides the frustum right/up: principal point moves left/down.
    shifted = cv.unreal_cine_intrinsics(35.0, 23.76, 13.365, 1920, 1080, 2.376, 1.3365)
    assert shifted.cx == pytest.approx(959.5 - 192.0)
    assert shifted.cy == pytest.approx(539.5 + 108.0)


def test_unreal_cine_keeps_horizontal_fov_on_other_aspect():
    k = cv.unreal_cine_intrinsics(35.0, 23.76, 13.365, 1000, 1000)
    assert k.hfov_deg == pytest.approx(math.degrees(2 * math.atan(23.76 / 70)))
    assert k.fy == pytest.approx(k.fx)


def test_unreal_fov_is_horizontal_and_unity_fov_is_vertical():
    ue = cv.unreal_fov_intrinsics(90.0, 1920, 1080)
    unity = cv.unity_fov_intrinsics(60.0, 1920, 1080)
    assert ue.fx == pytest.approx(960.0) and ue.hfov_deg == pytest.approx(90.0)
    assert unity.fy == pytest.approx(540.0 / math.tan(math.radians(30)))
    assert unity.vfov_deg == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("gate_fit", "fx", "fy"),
    [
        ("horizontal", 50 * 1920 / 36, 50 * 1920 / 36),
        ("vertical", 50 * 1080 / 24, 50 * 1080 / 24),
        ("none", 50 * 1920 / 36, 50 * 1080 / 24),
    ],
)
def test_unity_physical_intrinsics(gate_fit, fx, fy):
    k = cv.unity_physical_intrinsics(50.0, (36.0, 24.0), (0.0, 0.0), 1920, 1080, gate_fit)
    assert (k.fx, k.fy) == (pytest.approx(fx), pytest.approx(fy))
    assert (k.cx, k.cy) == (959.5, 539.5)


def test_unity_lens_shift():
    k = cv.unity_physical_intrinsics(50.0, (36.0, 24.0), (0.1, 0.2), 1920, 1080)
    assert k.cx == pytest.approx(959.5 - 0.1 * 1920)  # view shifts right: centre moves left
    assert k.cy == pytest.approx(539.5 + 0.2 * 1080)  # view shifts up: centre moves down


def test_usd_intrinsics_and_round_trip():
    k = cv.usd_intrinsics(50.0, 20.955, 15.2908, 640, 480)
    assert k.fx == pytest.approx(50.0 / 20.955 * 640)
    assert k.fy == pytest.approx(50.0 / 15.2908 * 480)
    shifted = cv.usd_intrinsics(50.0, 20.0, 15.0, 640, 480, 2.0, 1.5)
    assert shifted.cx == pytest.approx(319.5 - 64.0)
    assert shifted.cy == pytest.approx(239.5 + 48.0)
    attrs = cv.usd_camera_attributes(shifted, horizontal_aperture=20.0)
    assert attrs == pytest.approx(
        {
            "focalLength": 50.0,
            "horizontalAperture": 20.0,
            "verticalAperture": 15.0,
            "horizontalApertureOffset": 2.0,
            "verticalApertureOffset": 1.5,
        }
    )
    args = [attrs[k] for k in ("focalLength", "horizontalAperture", "verticalAperture")]
    offsets = [attrs["horizontalApertureOffset"], attrs["verticalApertureOffset"]]
    assert cv.usd_intrinsics(*args, 640, 480, *offsets) == shifted


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: cv.unreal_cine_intrinsics(0.0, 23.76, 13.365, 64, 64), "unreal.focal_length_mm"),
        (lambda: cv.unreal_cine_intrinsics(35, -1.0, 13.365, 64, 64), "unreal.sensor_width_mm"),
        (
            lambda: cv.unreal_cine_intrinsics(35, 23.76, 13.365, 64, 64, np.nan),
            "unreal.sensor_horizontal_offset_mm",
        ),
        (lambda: cv.unreal_cine_intrinsics(35, 23.76, 13.365, 4, 64), "intrinsics.width"),
        (lambda: cv.unreal_fov_intrinsics(np.inf, 64, 64), "fov_deg"),
        (
            lambda: cv.unity_physical_intrinsics(50, (36, 0), (0, 0), 64, 64),
            "unity.sensor_size_mm.y",
        ),
        (
            lambda: cv.unity_physical_intrinsics(50, (36, 24), (0, np.nan), 64, 64),
            "unity.lens_shift",
        ),
        (
            lambda: cv.unity_physical_intrinsics(-5, (36, 24), (0, 0), 64, 64),
            "unity.focal_length_mm",
        ),
        (lambda: cv.unity_physical_intrinsics(50, (36, 24), (0, 0), 64, 64, "fill"), "gate_fit"),
        (lambda: cv.unity_physical_intrinsics(50, (36, 24), (0, 0), 64, 9000), "intrinsics.height"),
        (lambda: cv.usd_intrinsics(50, 0, 15, 64, 64), "usd.horizontalAperture"),
        (lambda: cv.usd_intrinsics(np.nan, 20, 15, 64, 64), "usd.focalLength"),
    ],
)
def test_intrinsics_validation(call, field):
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == field


# ----- interpolation and extrapolation ---------------------------------------------------------
def yawed(yaw_deg, position, pitch_deg=0.0):
    """A canonical pose looking along +X turned by yaw about Z, pitched up by ``pitch_deg``."""
    base = look_at(
        [0, 0, 0], [math.cos(math.radians(pitch_deg)), 0, math.sin(math.radians(pitch_deg))]
    )
    return make_pose(rz(yaw_deg) @ base[:3, :3], position)


def test_interpolate_poses_known_values():
    times = [0.0, 1.0, 3.0]
    poses = np.stack([yawed(0, [0, 0, 0]), yawed(90, [2, 0, 0]), yawed(90, [2, 4, 0])])
    out = cv.interpolate_poses(times, poses, [0.0, 0.5, 1.0, 2.0, 3.0])
    assert out.shape == (5, 4, 4)
    np.testing.assert_allclose(out[0], poses[0], atol=1e-12)
    np.testing.assert_allclose(out[1], yawed(45, [1, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(out[2], poses[1], atol=1e-12)
    np.testing.assert_allclose(out[3], yawed(90, [2, 2, 0]), atol=1e-12)
    np.testing.assert_allclose(out[4], poses[2], atol=1e-12)
    assert cv.interpolate_poses(times, poses, []).shape == (0, 4, 4)


@pytest.mark.parametrize(
    ("times", "query", "field"),
    [
        ([0.0, 1.0], [1.5], "query_times"),
        ([0.0, 1.0], [-0.1], "query_times"),
        ([1.0, 1.0], [1.0], "times"),
        ([0.0], [0.0], "times"),
        ([0.0, np.nan], [0.0], "times"),
        ([0.0, 1.0], [np.inf], "query_times"),
    ],
)
def test_interpolate_poses_rejects(times, query, field):
    poses = np.stack([np.eye(4)] * len(times))
    with pytest.raises(InvalidInput) as e:
        cv.interpolate_poses(times, poses, query)
    assert e.value.field == field


def test_interpolate_poses_rejects_bad_poses():
    with pytest.raises(InvalidInput) as e:
        cv.interpolate_poses([0.0, 1.0, 2.0], np.stack([np.eye(4)] * 2), [0.5])
    assert e.value.field == "c2ws"
    bad = np.stack([np.eye(4), np.diag([1.0, 1, -1, 1])])
    with pytest.raises(InvalidInput) as e:
        cv.interpolate_poses([0.0, 1.0], bad, [0.5])
    assert e.value.field == "c2ws[1].rotation"


def test_extrapolate_pose_constant_velocity():
    # Panning 10 degrees per interval about world Z while pitched down 20: the pitch holds.
    t0, t1 = 1_000_000_000, 1_033_333_333  # nanoseconds
    c0, c1 = yawed(10, [0, 0, 1], -20), yawed(20, [1, 2, 1], -20)
    predicted = cv.extrapolate_pose(t0, c0, t1, c1, t1 + (t1 - t0))
    np.testing.assert_allclose(predicted, yawed(30, [2, 4, 1], -20), atol=1e-9)
    np.testing.assert_allclose(cv.extrapolate_pose(t0, c0, t1, c1, t1), c1, atol=1e-12)
    np.testing.assert_allclose(cv.extrapolate_pose(t0, c0, t1, c1, t0), c0, atol=1e-12)


@given(r0=rotations, r1=rotations, p0=positions, p1=positions, s=st.floats(0.0, 1.0))
@FAST
def test_extrapolate_agrees_with_interpolate_between_keys(r0, r1, p0, p1, s):
    c0, c1 = make_pose(r0, p0), make_pose(r1, p1)
    mid = cv.interpolate_poses([0.0, 2.0], np.stack([c0, c1]), [2.0 * s])[0]
    np.testing.assert_allclose(cv.extrapolate_pose(0.0, c0, 2.0, c1, 2.0 * s), mid, atol=1e-8)


def test_extrapolate_pose_rejects():
    with pytest.raises(InvalidInput) as e:
        cv.extrapolate_pose(1.0, np.eye(4), 1.0, np.eye(4), 2.0)
    assert e.value.field == "t1"
    with pytest.raises(InvalidInput) as e:
        cv.extrapolate_pose(0.0, np.eye(4), 1.0, np.eye(4), np.nan)
    assert e.value.field == "t"
    with pytest.raises(InvalidInput) as e:
        cv.extrapolate_pose(0.0, 2 * np.eye(4), 1.0, np.eye(4), 2.0)
    assert e.value.field == "c2w0.rotation"
