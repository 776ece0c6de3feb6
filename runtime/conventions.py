"""Camera conventions at the edges: Unreal, Unity, OpenGL/Blender and USD to and from canonical.

Canonical (:mod:`latentstage.runtime.camera`): world right-handed, Z up, metres; a pose is a
camera-to-world 4x4 float64 with OpenCV camera axes (x right, y down, z forward).

Every conversion here is a pair of fixed axis maps, so it reads as
``R_canonical = W @ R_edge @ C`` and ``p_canonical = scale * W @ p_edge``, where ``W`` [3, 3]
maps the edge's world coordinates to canonical world coordinates, ``C`` [3, 3] maps the OpenCV
camera axes to the edge's camera-local axes, and ``scale`` turns the edge's unit into metres.
Both maps are signed permutations, so going back uses their transposes.

| edge | world | unit | camera local axes | canonical world (x, y, z) |
|---|---|---|---|---|
| opencv | right-handed, Z up | m | x right, y down, z forward | (x, y, z) |
| unreal | left-handed, X fwd, Y right, Z up | cm | X forward, Y right, Z up | (x, -y, z) / 100 |
| unity | left-handed, X right, Y up, Z fwd | m | X right, Y up, Z forward | (z, -x, y) |
| blender | right-handed, Z up | mpu | X right, Y up, looks down -Z | (x, y, z) * mpu |
| opengl | right-handed, Y up (or Z up) | mpu | X right, Y up, looks down -Z | (x, -z, y) * mpu |
| usd | right-handed, upAxis Y or Z | mpu | as OpenGL | as opengl or blender |

(mpu: metres per unit, 1 unless the stage says otherwise; USD's fallback is 0.01.)

A Y-up world maps to Z up by a +90 degree turn about X, as Blender's importers do: Y-up
(x, y, z) is canonical (x, -z, y), so a Y-up camera looking down -Z looks along canonical +Y.
The Unreal and Unity maps agree with the usual engine correspondence (Unreal X = Unity Z,
Unreal Y = Unity X, Unreal Z = Unity Y, 1 Unreal cm = 0.01 Unity m).

Rotations in: a [3, 3] matrix (columns are the camera's local axes in that world), a quaternion
(x, y, z, w) [4], or for Unreal and Unity Euler angles in degrees [3]: FRotator
(pitch, yaw, roll), and Unity ``Quaternion.Euler(x, y, z)``. Matrices are column-vector
(``p_world = R @ p_local + t``): transpose a USD ``GfMatrix4d``, which stores row vectors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from enum import StrEnum
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from latentstage.runtime.camera import (
    DEFAULT_BOUNDS,
    Intrinsics,
    ResolutionBounds,
    make_pose,
    normalize_quaternion,
    validate_pose,
    validate_rotation,
)
from latentstage.runtime.errors import InvalidInput, require_finite, require_shape


class Convention(StrEnum):
    """The pose conventions accepted at the edges (the gRPC ``convention`` field)."""

    OPENCV = "opencv"  # canonical itself: right-handed Z-up metres, OpenCV camera axes
    OPENGL = "opengl"  # camera looks down -Z, Y up; world Y up (default) or Z up
    BLENDER = "blender"  # OpenGL camera axes in a right-handed Z-up world
    UNREAL = "unreal"  # left-handed, Z up, X forward, centimetres, FRotator or FQuat
    UNITY = "unity"  # left-handed, Y up, metres, Quaternion or Quaternion.Euler angles
    USD = "usd"  # OpenGL camera axes; stage upAxis and metersPerUnit


#: How a rotation is returned: [3, 3] matrix, (x, y, z, w) quaternion, or Euler degrees [3].
RotationForm = Literal["matrix", "quat", "euler"]

# ----- fixed axis maps (module docstring) -----------------------------------------------------
_UNREAL_WORLD = np.diag([1.0, -1.0, 1.0])  # [3, 3] (x, y, z)_ue -> (x, -y, z)
_UNREAL_CAMERA = np.array([[0.0, 0, 1], [1, 0, 0], [0, -1, 0]])  # [3, 3] cv x,y,z -> +Y,-Z,+X
_UNITY_WORLD = np.array([[0.0, 0, 1], [-1, 0, 0], [0, 1, 0]])  # [3, 3] (x, y, z)_u -> (z, -x, y)
_UNITY_CAMERA = np.diag([1.0, -1.0, 1.0])  # [3, 3] cv x,y,z -> +X,-Y,+Z
_GL_CAMERA = np.diag([1.0, -1.0, -1.0])  # [3, 3] cv x,y,z -> +X,-Y,-Z
_Y_UP_WORLD = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # [3, 3] (x, y, z) -> (x, -z, y)
_Z_UP_WORLD = np.eye(3)  # [3, 3]
_CM = 0.01  # metres per Unreal unit


def _compose(world, camera, scale: float, rotation, position) -> np.ndarray:
    """Canonical c2w [4, 4] from an edge rotation [3, 3] and position [3] in edge units."""
    return make_pose(world @ rotation @ camera, scale * (world @ position))


def _decompose(world, camera, scale: float, c2w) -> tuple[np.ndarray, np.ndarray]:
    """Edge rotation [3, 3] and position [3] in edge units from a canonical c2w [4, 4]."""
    pose = validate_pose(c2w, "c2w")
    return world.T @ pose[:3, :3] @ camera.T, world.T @ pose[:3, 3] / scale


def euler_angles(matrix, seq: str) -> np.ndarray:
    """Euler angles in degrees [3] of a rotation [3, 3] in scipy's ``seq`` (e.g. "ZYX").

    At gimbal lock the third angle is set to 0, silently (the pose is still exact).
    """
    rotation = Rotation.from_matrix(matrix)
    try:
        angles = rotation.as_euler(seq, degrees=True, suppress_warnings=True)  # scipy >= 1.17
    except TypeError:  # older scipy has no such keyword
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Gimbal lock detected")
            angles = rotation.as_euler(seq, degrees=True)
    return angles + 0.0  # no -0.0


def _rotation_in(rotation, field: str, euler: Callable | None = None) -> np.ndarray:
    """A rotation [3, 3] from a matrix [3, 3], a quaternion (x, y, z, w) [4] or, where
    ``euler`` is given, Euler angles in degrees [3]."""
    arr = require_finite(field, rotation)
    if arr.shape == (3, 3):
        return validate_rotation(arr, field)
    if arr.shape == (4,):
        return Rotation.from_quat(normalize_quaternion(arr, field)).as_matrix()
    if arr.shape == (3,) and euler is not None:
        return euler(arr)
    forms = "a [3, 3] rotation matrix or an (x, y, z, w) quaternion"
    raise InvalidInput(field, rotation, forms + (" or 3 Euler angles in degrees" if euler else ""))


def _rotation_out(matrix: np.ndarray, form: str, euler: Callable | None = None) -> np.ndarray:
    """``matrix`` [3, 3] as a matrix, an (x, y, z, w) quaternion with w >= 0, or Euler angles."""
    if form == "matrix":
        return matrix
    if form == "quat":
        return Rotation.from_matrix(matrix).as_quat(canonical=True)
    if form == "euler" and euler is not None:
        return euler(matrix)
    allowed = "'matrix', 'quat'" + (" or 'euler'" if euler else "")
    raise InvalidInput("rotation_form", form, allowed)


def _scalar(field: str, value) -> float:
    """A finite scalar."""
    return float(require_shape(field, value, ()))


def _positive(field: str, value) -> float:
    """A finite scalar > 0."""
    number = _scalar(field, value)
    if number <= 0:
        raise InvalidInput(field, value, "> 0")
    return number


def _world_map(up_axis, field: str) -> np.ndarray:
    """The world axis map [3, 3] for an up axis of 'Y' or 'Z' (either case)."""
    key = up_axis.lower() if isinstance(up_axis, str) else None
    if key not in ("y", "z"):
        raise InvalidInput(field, up_axis, "'Y' or 'Z'")
    return _Y_UP_WORLD if key == "y" else _Z_UP_WORLD


# ----- Unreal ----------------------------------------------------------------------------------
def unreal_rotator_to_matrix(rotator) -> np.ndarray:
    """Rotation [3, 3] in Unreal world axes of an FRotator (pitch, yaw, roll) in degrees [3].

    Columns are the local forward (X), right (Y) and up (Z) axes, as in ``FRotationMatrix``:
    yaw about Z, then pitch about Y, then roll about X, with Unreal's signs (positive pitch
    looks up, positive yaw turns right seen from above), so forward is
    (cosP cosY, cosP sinY, sinP).
    """
    pitch, yaw, roll = require_shape("unreal.rotator", rotator, (3,))
    return Rotation.from_euler("ZYX", [yaw, -pitch, -roll], degrees=True).as_matrix()


def unreal_matrix_to_rotator(matrix) -> np.ndarray:
    """FRotator (pitch, yaw, roll) in degrees [3] of a rotation [3, 3] in Unreal world axes.

    Pitch is in [-90, 90], yaw and roll in [-180, 180]; at pitch +-90 roll is set to 0.
    """
    yaw, neg_pitch, neg_roll = euler_angles(validate_rotation(matrix, "unreal.rotation"), "ZYX")
    return np.array([-neg_pitch, yaw, -neg_roll]) + 0.0


def unreal_to_canonical(location_cm, rotation) -> np.ndarray:
    """Canonical c2w [4, 4] from an Unreal location in cm [3] and a rotation.

    ``rotation`` is an FRotator (pitch, yaw, roll) in degrees [3], an FQuat (x, y, z, w) [4] or
    a matrix [3, 3] whose columns are the camera's forward, right and up in Unreal world axes.
    """
    rot = _rotation_in(rotation, "unreal.rotation", unreal_rotator_to_matrix)
    loc = require_shape("unreal.location", location_cm, (3,))
    return _compose(_UNREAL_WORLD, _UNREAL_CAMERA, _CM, rot, loc)


def canonical_to_unreal(c2w, rotation_form: RotationForm = "euler") -> tuple[np.ndarray, ...]:
    """Unreal location in cm [3] and rotation (FRotator [3], FQuat [4] or matrix [3, 3])."""
    rot, loc = _decompose(_UNREAL_WORLD, _UNREAL_CAMERA, _CM, c2w)
    return loc, _rotation_out(rot, rotation_form, unreal_matrix_to_rotator)


# ----- Unity -----------------------------------------------------------------------------------
def unity_euler_to_matrix(euler) -> np.ndarray:
    """Rotation [3, 3] in Unity world axes of ``Quaternion.Euler(x, y, z)`` in degrees [3].

    Unity rotates about Z, then X, then Y (world axes), so the matrix is Ry @ Rx @ Rz.
    Columns are the local right (X), up (Y) and forward (Z) axes.
    """
    x, y, z = require_shape("unity.euler", euler, (3,))
    return Rotation.from_euler("YXZ", [y, x, z], degrees=True).as_matrix()


def unity_matrix_to_euler(matrix) -> np.ndarray:
    """Unity Euler angles (x, y, z) in degrees [3], each in [0, 360) like ``eulerAngles``."""
    y, x, z = euler_angles(validate_rotation(matrix, "unity.rotation"), "YXZ")
    angles = np.mod([x, y, z], 360.0)
    return np.where(angles >= 360.0, 0.0, angles)


def unity_to_canonical(position_m, rotation) -> np.ndarray:
    """Canonical c2w [4, 4] from a Unity position in metres [3] and a rotation.

    ``rotation`` is Euler angles (x, y, z) in degrees [3] as ``Quaternion.Euler``, a Unity
    Quaternion (x, y, z, w) [4] or a matrix [3, 3] (columns right, up, forward).
    """
    rot = _rotation_in(rotation, "unity.rotation", unity_euler_to_matrix)
    pos = require_shape("unity.position", position_m, (3,))
    return _compose(_UNITY_WORLD, _UNITY_CAMERA, 1.0, rot, pos)


def canonical_to_unity(c2w, rotation_form: RotationForm = "quat") -> tuple[np.ndarray, ...]:
    """Unity position in metres [3] and rotation (Quaternion [4], Euler [3] or matrix [3, 3])."""
    rot, pos = _decompose(_UNITY_WORLD, _UNITY_CAMERA, 1.0, c2w)
    return pos, _rotation_out(rot, rotation_form, unity_matrix_to_euler)


# ----- OpenGL, Blender, USD (camera looks down -Z, Y up) ---------------------------------------
def _gl_maps(up_axis, meters_per_unit, up_field: str) -> tuple[np.ndarray, float]:
    """World map [3, 3] and metres per unit of a right-handed world with an OpenGL camera."""
    world = _world_map(up_axis, up_field)
    return world, _positive("stage.meters_per_unit", meters_per_unit)


def opengl_to_canonical(c2w_gl, world_up: str = "y", meters_per_unit: float = 1.0) -> np.ndarray:
    """Canonical c2w [4, 4] from an OpenGL-camera c2w [4, 4] in a right-handed world.

    ``world_up`` "y" is the OpenGL Y-up world, mapped by (x, y, z) -> (x, -z, y); "z" is a
    Z-up world such as Blender's, used as is. Lengths are scaled by ``meters_per_unit``.
    """
    pose = validate_pose(c2w_gl, "opengl.c2w")
    world, scale = _gl_maps(world_up, meters_per_unit, "stage.world_up")
    return _compose(world, _GL_CAMERA, scale, pose[:3, :3], pose[:3, 3])


def canonical_to_opengl(c2w, world_up: str = "y", meters_per_unit: float = 1.0) -> np.ndarray:
    """OpenGL-camera c2w [4, 4] in a Y-up (or Z-up) world of ``meters_per_unit``."""
    world, scale = _gl_maps(world_up, meters_per_unit, "stage.world_up")
    return make_pose(*_decompose(world, _GL_CAMERA, scale, c2w))


def blender_to_canonical(matrix_world, meters_per_unit: float = 1.0) -> np.ndarray:
    """Canonical c2w [4, 4] from a Blender camera's ``matrix_world`` [4, 4] (Z up, -Z looks)."""
    return opengl_to_canonical(matrix_world, "z", meters_per_unit)


def canonical_to_blender(c2w, meters_per_unit: float = 1.0) -> np.ndarray:
    """A Blender camera ``matrix_world`` [4, 4] from a canonical c2w [4, 4]."""
    return canonical_to_opengl(c2w, "z", meters_per_unit)


def usd_to_canonical(local_to_world, up_axis: str = "Y", meters_per_unit: float = 0.01):
    """Canonical c2w [4, 4] from a USD camera's local-to-world [4, 4] (column vectors).

    Defaults are USD's fallbacks (``upAxis`` "Y", ``metersPerUnit`` 0.01). Pass
    ``np.array(gf_matrix).T``: ``GfMatrix4d`` keeps the translation in its last row.
    """
    pose = validate_pose(local_to_world, "usd.local_to_world")
    world, scale = _gl_maps(up_axis, meters_per_unit, "stage.up_axis")
    return _compose(world, _GL_CAMERA, scale, pose[:3, :3], pose[:3, 3])


def canonical_to_usd(c2w, up_axis: str = "Y", meters_per_unit: float = 0.01) -> np.ndarray:
    """A USD camera local-to-world [4, 4] (column vectors) on a stage of ``up_axis``."""
    world, scale = _gl_maps(up_axis, meters_per_unit, "stage.up_axis")
    return make_pose(*_decompose(world, _GL_CAMERA, scale, c2w))


# ----- dispatch --------------------------------------------------------------------------------
_STAGE_KEYS = {
    Convention.OPENCV: (),
    Convention.OPENGL: ("world_up", "meters_per_unit"),
    Convention.BLENDER: ("meters_per_unit",),
    Convention.UNREAL: (),
    Convention.UNITY: (),
    Convention.USD: ("up_axis", "meters_per_unit"),
}
_MATRIX_IN = {
    Convention.OPENCV: lambda pose: validate_pose(pose, "c2w"),
    Convention.OPENGL: opengl_to_canonical,
    Convention.BLENDER: blender_to_canonical,
    Convention.USD: usd_to_canonical,
}
_MATRIX_OUT = {
    Convention.OPENCV: lambda pose: validate_pose(pose, "c2w"),
    Convention.OPENGL: canonical_to_opengl,
    Convention.BLENDER: canonical_to_blender,
    Convention.USD: canonical_to_usd,
}


def parse_convention(convention) -> Convention:
    """The :class:`Convention` named by ``convention``, or :class:`InvalidInput`."""
    try:
        return Convention(convention)
    except (ValueError, TypeError):
        names = ", ".join(repr(c.value) for c in Convention)
        raise InvalidInput("convention", convention, f"one of {names}") from None


def _check_stage(convention: Convention, stage: dict) -> None:
    """Reject stage settings that ``convention`` does not take."""
    allowed = _STAGE_KEYS[convention]
    for key in stage:
        if key not in allowed:
            raise InvalidInput(f"stage.{key}", stage[key], f"one of {allowed} for {convention}")


def to_canonical(convention, position, rotation, **stage) -> np.ndarray:
    """Canonical c2w [4, 4] from a position [3] and rotation given in ``convention``.

    ``stage`` holds the convention's settings: ``world_up`` and ``meters_per_unit`` for
    opengl, ``meters_per_unit`` for blender, ``up_axis`` and ``meters_per_unit`` for usd.
    """
    conv = parse_convention(convention)
    _check_stage(conv, stage)
    if conv is Convention.UNREAL:
        return unreal_to_canonical(position, rotation)
    if conv is Convention.UNITY:
        return unity_to_canonical(position, rotation)
    rot = _rotation_in(rotation, f"{conv}.rotation")
    pose = make_pose(rot, require_shape(f"{conv}.position", position, (3,)))
    return _MATRIX_IN[conv](pose, **stage)


def from_canonical(
    convention, c2w, rotation_form: RotationForm | None = None, **stage
) -> tuple[np.ndarray, np.ndarray]:
    """Position [3] and rotation in ``convention`` from a canonical c2w [4, 4].

    ``rotation_form`` defaults to "euler" (FRotator) for unreal, "quat" for unity and
    "matrix" otherwise; Euler angles exist only for unreal and unity.
    """
    conv = parse_convention(convention)
    _check_stage(conv, stage)
    if conv is Convention.UNREAL:
        return canonical_to_unreal(c2w, rotation_form or "euler")
    if conv is Convention.UNITY:
        return canonical_to_unity(c2w, rotation_form or "quat")
    pose = _MATRIX_OUT[conv](c2w, **stage)
    return pose[:3, 3].copy(), _rotation_out(pose[:3, :3].copy(), rotation_form or "matrix")


# ----- intrinsics at the edges -----------------------------------------------------------------
def _gate(sensor_w: float, sensor_h: float, width: int, height: int, fit: str):
    """The part of the sensor (w, h) that the image covers, for a gate fit mode."""
    if fit == "horizontal":
        return sensor_w, sensor_w * height / width
    if fit == "vertical":
        return sensor_h * width / height, sensor_h
    if fit == "none":
        return sensor_w, sensor_h
    raise InvalidInput("gate_fit", fit, "'horizontal', 'vertical' or 'none'")


def unreal_cine_intrinsics(
    focal_length_mm: float,
    sensor_width_mm: float,
    sensor_height_mm: float,
    width: int,
    height: int,
    sensor_horizontal_offset_mm: float = 0.0,
    sensor_vertical_offset_mm: float = 0.0,
    bounds: ResolutionBounds = DEFAULT_BOUNDS,
) -> Intrinsics:
    """Intrinsics of an Unreal CineCamera: focal length and filmback in millimetres.

    Square pixels with the horizontal field of view of the filmback width (Unreal's "maintain
    X-axis FOV"). A positive filmback offset slides the frustum right/up, which moves the
    principal point left/down by ``offset / sensor_size`` of the image; this is exact when the
    image aspect equals the filmback aspect (Constrain Aspect Ratio).
    """
    bounds.check(width, height, "intrinsics")
    sw = _positive("unreal.sensor_width_mm", sensor_width_mm)
    sh = _positive("unreal.sensor_height_mm", sensor_height_mm)
    focal = _positive("unreal.focal_length_mm", focal_length_mm)
    h_off = _scalar("unreal.sensor_horizontal_offset_mm", sensor_horizontal_offset_mm)
    v_off = _scalar("unreal.sensor_vertical_offset_mm", sensor_vertical_offset_mm)
    gate_w, gate_h = _gate(sw, sh, width, height, "horizontal")
    return Intrinsics.from_lens(
        focal, gate_w, gate_h, width, height, -h_off / sw * gate_w, v_off / sh * gate_h, bounds
    )


def unreal_fov_intrinsics(
    field_of_view_deg: float, width: int, height: int, bounds: ResolutionBounds = DEFAULT_BOUNDS
) -> Intrinsics:
    """Intrinsics from an Unreal camera's ``FieldOfView`` (horizontal, degrees)."""
    return Intrinsics.from_fov(field_of_view_deg, width, height, "horizontal", bounds)


def unity_physical_intrinsics(
    focal_length_mm: float,
    sensor_size_mm,
    lens_shift,
    width: int,
    height: int,
    gate_fit: Literal["horizontal", "vertical", "none"] = "horizontal",
    bounds: ResolutionBounds = DEFAULT_BOUNDS,
) -> Intrinsics:
    """Intrinsics of a Unity physical camera.

    ``sensor_size_mm`` is (width, height) [2] in mm; ``lens_shift`` (x, y) [2] is a fraction
    of the gate, positive x shifting the view right and positive y up, which moves the
    principal point left/down by ``shift * image_size`` pixels. ``gate_fit`` is
    ``Camera.gateFit``: "horizontal" and "vertical" keep square pixels, "none" stretches the
    sensor over the image.
    """
    bounds.check(width, height, "intrinsics")
    sw, sh = require_shape("unity.sensor_size_mm", sensor_size_mm, (2,))
    _positive("unity.sensor_size_mm.x", sw)
    _positive("unity.sensor_size_mm.y", sh)
    shift_x, shift_y = require_shape("unity.lens_shift", lens_shift, (2,))
    focal = _positive("unity.focal_length_mm", focal_length_mm)
    gate_w, gate_h = _gate(float(sw), float(sh), width, height, gate_fit)
    return Intrinsics.from_lens(
        focal, gate_w, gate_h, width, height, -shift_x * gate_w, shift_y * gate_h, bounds
    )


def unity_fov_intrinsics(
    field_of_view_deg: float, width: int, height: int, bounds: ResolutionBounds = DEFAULT_BOUNDS
) -> Intrinsics:
    """Intrinsics from a Unity camera's ``fieldOfView`` (vertical, degrees)."""
    return Intrinsics.from_fov(field_of_view_deg, width, height, "vertical", bounds)


def usd_intrinsics(
    focal_length: float,
    horizontal_aperture: float,
    vertical_aperture: float,
    width: int,
    height: int,
    horizontal_aperture_offset: float = 0.0,
    vertical_aperture_offset: float = 0.0,
    bounds: ResolutionBounds = DEFAULT_BOUNDS,
) -> Intrinsics:
    """Intrinsics from USD camera attributes, all in the same unit (tenths of a scene unit).

    The aperture is taken to fill the image, so pixels are square only when the aperture's
    aspect equals the image's (conform the window first). A positive aperture offset slides
    the window right/up, moving the principal point left/down.
    """
    bounds.check(width, height, "intrinsics")
    focal = _positive("usd.focalLength", focal_length)
    h_ap = _positive("usd.horizontalAperture", horizontal_aperture)
    v_ap = _positive("usd.verticalAperture", vertical_aperture)
    h_off = _scalar("usd.horizontalApertureOffset", horizontal_aperture_offset)
    v_off = _scalar("usd.verticalApertureOffset", vertical_aperture_offset)
    return Intrinsics.from_lens(focal, h_ap, v_ap, width, height, -h_off, v_off, bounds)


def usd_camera_attributes(intrinsics: Intrinsics, horizontal_aperture: float = 20.955) -> dict:
    """USD camera attributes (focalLength, apertures, offsets) for ``intrinsics``.

    The inverse of :func:`usd_intrinsics`; ``horizontal_aperture`` fixes the unit (USD's
    fallback is 20.955).
    """
    h_ap = _positive("usd.horizontalAperture", horizontal_aperture)
    k = intrinsics
    focal = k.fx * h_ap / k.width
    v_ap = focal * k.height / k.fy
    return {
        "focalLength": focal,
        "horizontalAperture": h_ap,
        "verticalAperture": v_ap,
        "horizontalApertureOffset": -(k.cx - (k.width - 1) / 2) / k.width * h_ap,
        "verticalApertureOffset": (k.cy - (k.height - 1) / 2) / k.height * v_ap,
    }


# ----- interpolation and prediction ------------------------------------------------------------
def interpolate_poses(times, c2ws, query_times) -> np.ndarray:
    """Canonical poses [M, 4, 4] at ``query_times`` [M] between keyed poses.

    ``times`` [N] (N >= 2, strictly increasing, any one unit) key ``c2ws`` [N, 4, 4].
    Rotations are slerped and positions linear; queries must lie within the keyed times.
    """
    t = require_finite("times", times)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
        raise InvalidInput("times", times, "at least 2 strictly increasing times [N]")
    poses = require_finite("c2ws", c2ws)
    if poses.shape != (t.size, 4, 4):
        raise InvalidInput("c2ws", c2ws, f"shape ({t.size}, 4, 4), got {poses.shape}")
    poses = np.stack([validate_pose(p, f"c2ws[{i}]") for i, p in enumerate(poses)])
    q = np.atleast_1d(require_finite("query_times", query_times))
    if q.ndim != 1:
        raise InvalidInput("query_times", query_times, "a 1-D array of times [M]")
    if q.size and (q.min() < t[0] or q.max() > t[-1]):
        raise InvalidInput("query_times", query_times, f"times within [{t[0]}, {t[-1]}]")
    out = np.tile(np.eye(4), (q.size, 1, 1))
    if q.size:
        out[:, :3, :3] = Slerp(t, Rotation.from_matrix(poses[:, :3, :3]))(q).as_matrix()
        out[:, :3, 3] = np.stack([np.interp(q, t, poses[:, i, 3]) for i in range(3)], axis=-1)
    return out


def extrapolate_pose(t0, c2w0, t1, c2w1, t) -> np.ndarray:
    """Canonical pose [4, 4] at time ``t`` moving with the constant angular and linear velocity
    that takes ``c2w0`` at ``t0`` to ``c2w1`` at ``t1`` (t1 > t0, any one time unit).

    The rotation between the two poses is taken the short way (at most 180 degrees).
    """
    p0, p1 = validate_pose(c2w0, "c2w0"), validate_pose(c2w1, "c2w1")
    t0, t1, t = _scalar("t0", t0), _scalar("t1", t1), _scalar("t", t)
    if t1 <= t0:
        raise InvalidInput("t1", t1, f"a time after t0 = {t0}")
    s = (t - t1) / (t1 - t0)  # how many (t1 - t0) intervals past t1
    r0, r1 = Rotation.from_matrix(p0[:3, :3]), Rotation.from_matrix(p1[:3, :3])
    step = (r1 * r0.inv()).as_rotvec()  # [3] world-frame rotation over one interval
    rot = Rotation.from_rotvec(step * s) * r1
    return make_pose(rot.as_matrix(), p1[:3, 3] + (p1[:3, 3] - p0[:3, 3]) * s)
