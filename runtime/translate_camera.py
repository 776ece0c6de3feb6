"""Protobuf camera messages to the canonical camera, with validation at the edge. Torch-free.

The camera half of :mod:`.translate` (which re-exports every public name here): stage
settings, rotations in every convention, positions, lenses to intrinsics (with the
plausibility check), timecodes and dynamic masks. Every error is an
:class:`~latentstage.runtime.errors.InvalidInput` whose field is the protobuf path.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from latentstage.runtime import conventions as cv
from latentstage.runtime.camera import Intrinsics, ResolutionBounds
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.timecode import Timecode
from latentstage.v1 import camera_pb2 as cpb

Convention = cv.Convention
MIN_FOV_DEG = 0.01  # narrowest field of view accepted before the plausibility check, degrees


def _reraise(exc: InvalidInput, field: str) -> InvalidInput:
    """``exc`` reported under the protobuf path ``field`` (its own field kept as a hint)."""
    hint = "" if exc.field in field else f" [{exc.field}]"
    return InvalidInput(field, exc.value, exc.expected + hint)


def _finite(field: str, *values: float) -> None:
    for v in values:
        if not math.isfinite(v):
            raise InvalidInput(field, v, "finite numbers (no NaN or infinity)")


# ----- cameras ---------------------------------------------------------------------------------
def stage_from_proto(conv: Convention, stage: cpb.Stage, field: str) -> dict:
    """Keyword settings of ``conv`` for :func:`conventions.to_canonical`."""
    out: dict = {}
    mpu, up = stage.meters_per_unit, stage.up_axis
    _finite(f"{field}.meters_per_unit", mpu)
    takes_mpu = conv in (Convention.OPENGL, Convention.BLENDER, Convention.USD)
    if mpu != 0:
        if not takes_mpu:
            raise InvalidInput(f"{field}.meters_per_unit", mpu, f"0 ({conv} has fixed units)")
        if mpu < 0:
            raise InvalidInput(f"{field}.meters_per_unit", mpu, "> 0 metres per unit (0 = default)")
        out["meters_per_unit"] = mpu
    if up != cpb.UP_AXIS_UNSPECIFIED:
        axis = {cpb.UP_AXIS_Y: "y", cpb.UP_AXIS_Z: "z"}.get(up)
        if axis is None or conv not in (Convention.OPENGL, Convention.USD):
            raise InvalidInput(f"{field}.up_axis", up, "UP_AXIS_Y or UP_AXIS_Z, and only for "
                               "OPENGL or USD")
        out["world_up" if conv is Convention.OPENGL else "up_axis"] = axis
    return out


def rotation_from_proto(rot: cpb.Rotation, conv: Convention, field: str) -> np.ndarray:
    """The rotation as given: a matrix [3, 3], a quaternion (x, y, z, w) [4] or Euler [3]."""
    form = rot.WhichOneof("form")
    if form == "quaternion":
        q = rot.quaternion
        values = np.array([q.x, q.y, q.z, q.w])
        _finite(f"{field}.quaternion", *values)
        norm = float(np.linalg.norm(values))
        if abs(norm - 1.0) > 1e-3:
            raise InvalidInput(f"{field}.quaternion", values,
                               f"a unit quaternion (|q| = {norm:.6f}, allowed 1 +- 1e-3)")
        return values
    if form == "rotator":
        if conv is not Convention.UNREAL:
            raise InvalidInput(f"{field}.rotator", "rotator", "quaternion or matrix: a rotator "
                               "is only for CONVENTION_UNREAL")
        r = rot.rotator
        values = np.array([r.pitch_deg, r.yaw_deg, r.roll_deg])
        _finite(f"{field}.rotator", *values)
        return values
    if form == "unity_euler":
        if conv is not Convention.UNITY:
            raise InvalidInput(f"{field}.unity_euler", "unity_euler", "quaternion or matrix: "
                               "unity_euler is only for CONVENTION_UNITY")
        e = rot.unity_euler
        values = np.array([e.x_deg, e.y_deg, e.z_deg])
        _finite(f"{field}.unity_euler", *values)
        return values
    if form == "matrix":
        if conv is Convention.UNREAL:  # an FMatrix in memory order is the transpose: refuse
            raise InvalidInput(f"{field}.matrix", "matrix", "rotator or quaternion: Unreal's "
                               "FMatrix is row-vector, so a matrix copied from it would be "
                               "the transpose (a valid rotation the server cannot detect)")
        m = np.array(rot.matrix.m, np.float64)
        if m.size != 9:
            raise InvalidInput(f"{field}.matrix.m", f"{m.size} values", "9 values (row-major 3x3)")
        _finite(f"{field}.matrix.m", *m)
        try:
            return cv.validate_rotation(m.reshape(3, 3), f"{field}.matrix")
        except InvalidInput as exc:
            raise _reraise(exc, f"{field}.matrix") from None
    raise InvalidInput(field, None, "one of quaternion, rotator, unity_euler or matrix")


def vec3(v: cpb.Vec3, field: str) -> np.ndarray:
    values = np.array([v.x, v.y, v.z])
    _finite(field, *values)
    return values


def camera_to_canonical(conv: Convention, stage: dict, position: cpb.Vec3,
                        rotation: cpb.Rotation, field: str) -> np.ndarray:
    """Canonical c2w [4, 4] from a position and rotation in ``conv``."""
    pos = vec3(position, f"{field}.position")
    rot = rotation_from_proto(rotation, conv, f"{field}.rotation")
    try:
        return cv.to_canonical(conv, pos, rot, **stage)
    except InvalidInput as exc:
        raise _reraise(exc, f"{field}.rotation") from None


def check_plausible(k: Intrinsics, field: str) -> Intrinsics:
    """Reject lenses no camera has: FOV outside [1, 170] degrees, fx/fy outside [0.25, 4], or a
    principal point more than one image size from the centre."""
    for name, fov in (("horizontal", k.hfov_deg), ("vertical", k.vfov_deg)):
        if not 1.0 <= fov <= 170.0:
            raise InvalidInput(field, f"fx={k.fx:.6g} fy={k.fy:.6g} at {k.width}x{k.height}",
                               f"a {name} field of view in [1, 170] degrees (got {fov:.4g})")
    if not 0.25 <= k.fx / k.fy <= 4.0:
        raise InvalidInput(field, f"fx/fy = {k.fx / k.fy:.4g}", "a pixel aspect fx/fy in [0.25, 4]")
    if abs(k.cx - (k.width - 1) / 2) > k.width or abs(k.cy - (k.height - 1) / 2) > k.height:
        raise InvalidInput(field, f"cx={k.cx:.6g} cy={k.cy:.6g}",
                           "a principal point within one image size of the image centre")
    return k


def lens_to_intrinsics(lens: cpb.Lens, conv: Convention, width: int, height: int, field: str,
                       bounds: ResolutionBounds) -> Intrinsics:
    """Intrinsics at ``width`` x ``height`` from a Lens message interpreted in ``conv``."""
    model = lens.WhichOneof("model")
    try:
        if model == "pixels":
            p = lens.pixels
            _finite(f"{field}.pixels", p.fx, p.fy, p.cx, p.cy)
            if p.width == 0 and p.height == 0:
                k = Intrinsics(p.fx, p.fy, p.cx, p.cy, width, height)
            else:
                k = Intrinsics(p.fx, p.fy, p.cx, p.cy, p.width, p.height).scaled(width, height)
        elif model == "physical":
            k = _physical(lens.physical, conv, width, height, bounds)
        elif model == "fov":
            fov = lens.fov
            axis = {cpb.FOV_AXIS_HORIZONTAL: "horizontal", cpb.FOV_AXIS_VERTICAL: "vertical",
                    cpb.FOV_AXIS_DIAGONAL: "diagonal"}.get(fov.axis)
            if axis is None and fov.axis != cpb.FOV_AXIS_UNSPECIFIED:
                raise InvalidInput(f"{field}.fov.axis", fov.axis, "a FovAxis value")
            axis = axis or ("vertical" if conv is Convention.UNITY else "horizontal")
            if not (math.isfinite(fov.fov_deg) and MIN_FOV_DEG <= fov.fov_deg < 180):
                raise InvalidInput(f"{field}.fov.fov_deg", fov.fov_deg,
                                   f"a finite field of view in [{MIN_FOV_DEG:g}, 180) degrees")
            k = Intrinsics.from_fov(fov.fov_deg, width, height, axis, bounds)
        else:
            raise InvalidInput(field, None, "one of pixels, physical or fov")
    except InvalidInput as exc:
        sub = f"{field}.{model}" if model else field
        raise (exc if exc.field.startswith(field) else _reraise(exc, sub)) from None
    except (ArithmeticError, ValueError, TypeError) as exc:  # degenerate (tiny or huge) values
        sub = f"{field}.{model}" if model else field
        raise InvalidInput(sub, type(exc).__name__, "a lens whose values give finite "
                           "intrinsics (no zero, subnormal or overflowing values)") from None
    return check_plausible(k, field)


def _physical(p: cpb.PhysicalLens, conv: Convention, width: int, height: int,
              bounds: ResolutionBounds) -> Intrinsics:
    args = (p.focal_length_mm, p.sensor_width_mm, p.sensor_height_mm)
    if conv is Convention.UNREAL:
        return cv.unreal_cine_intrinsics(*args, width, height, p.offset_x, p.offset_y, bounds)
    if conv is Convention.UNITY:
        fit = {cpb.GATE_FIT_UNSPECIFIED: "horizontal", cpb.GATE_FIT_HORIZONTAL: "horizontal",
               cpb.GATE_FIT_VERTICAL: "vertical", cpb.GATE_FIT_NONE: "none"}.get(p.gate_fit)
        if fit is None:
            raise InvalidInput("gate_fit", p.gate_fit, "a GateFit value")
        return cv.unity_physical_intrinsics(p.focal_length_mm, args[1:], (p.offset_x, p.offset_y),
                                            width, height, fit, bounds)
    if conv is Convention.USD:
        return cv.usd_intrinsics(*args, width, height, p.offset_x, p.offset_y, bounds)
    return Intrinsics.from_lens(*args, width, height, p.offset_x, p.offset_y, bounds)


def timecode_from_proto(tc: cpb.Timecode, field: str) -> Timecode:
    if tc.rate.den == 0:
        raise InvalidInput(f"{field}.rate.den", 0, "> 0 (e.g. 30000/1001 or 25/1)")
    try:
        return Timecode(tc.hours, tc.minutes, tc.seconds, tc.frames,
                        Fraction(tc.rate.num, tc.rate.den), tc.drop_frame)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}.{exc.field.removeprefix('timecode.')}", exc.value,
                           exc.expected) from None


def timecode_to_proto(tc: Timecode) -> cpb.Timecode:
    return cpb.Timecode(hours=tc.hours, minutes=tc.minutes, seconds=tc.seconds, frames=tc.frames,
                        rate=cpb.Rational(num=tc.rate.numerator, den=tc.rate.denominator),
                        drop_frame=tc.drop_frame)


def mask_from_proto(mask: cpb.DynamicMask, width: int, height: int, stride: int,
                    field: str) -> np.ndarray:
    """The dynamic mask as bool [h, w] at the output or latent size."""
    sizes = ((width, height), (width // stride, height // stride))
    if (mask.width, mask.height) not in sizes:
        raise InvalidInput(f"{field}.size", (mask.width, mask.height),
                           f"{width}x{height} (output) or {sizes[1][0]}x{sizes[1][1]} (latent)")
    if len(mask.data) != mask.width * mask.height:
        raise InvalidInput(f"{field}.data", f"<{len(mask.data)} bytes>",
                           f"{mask.width * mask.height} bytes, one per pixel")
    return np.frombuffer(mask.data, np.uint8).reshape(mask.height, mask.width) != 0
