"""Declared units and up axis, applied to a path so that what goes on the wire means what the
file meant.

How a declaration reaches the server, per convention (runtime/conventions.py has the axes):

| convention | units | up axis |
|---|---|---|
| opencv | positions scaled to metres | Z native; Y up turns the path by +90 degrees about X |
| unity | positions scaled to metres | Y only (fixed by Unity) |
| unreal | positions scaled to centimetres | Z only (fixed by Unreal) |
| blender | Open.stage.meters_per_unit | Z native; Y up sends it as opengl with Y up |
| opengl, usd | Open.stage.meters_per_unit | Open.stage.up_axis |

Undeclared units are the convention's own (Unreal centimetres, USD 0.01 m, metres otherwise)
and :mod:`.plausibility` warns when the positions do not look like that unit.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths.fields import number, show
from latentstage.engine_bridge.paths.model import CameraPath, Declared

#: Metres per unit of each unit name accepted in files and on the command line.
UNITS = {"m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0,
         "cm": 0.01, "centimetres": 0.01, "centimeters": 0.01, "mm": 0.001,
         "millimetres": 0.001, "millimeters": 0.001, "dm": 0.1, "km": 1000.0,
         "in": 0.0254, "inch": 0.0254, "inches": 0.0254, "ft": 0.3048, "foot": 0.3048,
         "feet": 0.3048}
#: Metres per unit a convention uses when nothing is declared.
DEFAULT_MPU = {"opencv": 1.0, "unity": 1.0, "unreal": 0.01, "blender": 1.0, "opengl": 1.0,
               "usd": 0.01}
_FIXED_MPU = ("opencv", "unity", "unreal")  # units fixed on the wire: positions are scaled
_FIXED_UP = {"unreal": "z", "unity": "y"}  # up axes these engines fix
_Y_UP = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # [3, 3] Y-up (x, y, z) -> (x, -z, y)


def parse_units(value, field: str = "units") -> float:
    """Metres per unit of a unit name ("cm", "m", ...) or of a positive number of metres."""
    if isinstance(value, str) and value.strip().lower() in UNITS:
        return UNITS[value.strip().lower()]
    try:
        mpu = number(value, field)
    except ValueError:
        raise ValueError(f"{field}: got {show(value)}, expected one of m, cm, mm, dm, km, in, "
                         "ft or metres per unit as a number") from None
    if mpu <= 0:
        raise ValueError(f"{field}: got {show(value)}, expected metres per unit > 0")
    return mpu


def parse_up_axis(value, field: str = "up_axis") -> str:
    """"y" or "z" (any case)."""
    axis = value.strip().lower() if isinstance(value, str) else value
    if axis not in ("y", "z"):
        raise ValueError(f"{field}: got {show(value)}, expected y or z")
    return axis


def apply_declared(path: CameraPath, declared: Declared) -> CameraPath:
    """Make ``path`` (read in ``path.convention``, positions as written in the file) carry the
    declared units and up axis on the wire; see the module docstring. Modifies ``path``."""
    conv = path.convention
    up = parse_up_axis(declared.up_axis, "up_axis") if declared.up_axis is not None else None
    default = DEFAULT_MPU[conv] if not path.meters_per_unit else path.meters_per_unit
    mpu = parse_units(declared.units) if declared.units is not None else None
    if mpu is not None:
        path.units = f"{declared.units} (declared)"
    elif not path.units:
        path.units = f"{_unit_name(default)} ({conv} default)"
    if up is not None and _FIXED_UP.get(conv, up) != up:
        raise ValueError(f"up_axis: got {up!r}, but {conv} fixes its up axis to "
                         f"{_FIXED_UP[conv]!r}; declare another convention (opengl or usd take "
                         "either)")
    if conv in _FIXED_MPU:
        if mpu is not None and mpu != DEFAULT_MPU[conv]:
            scale = mpu / DEFAULT_MPU[conv]
            for s in path.samples:
                s.position = s.position * scale
        if conv == "opencv" and up == "y":
            _turn_y_up(path)
        return path
    if mpu is not None:
        path.meters_per_unit = mpu
    if up is not None:
        if conv == "blender" and up == "y":
            path.convention = "opengl"
        if path.convention in ("opengl", "usd"):
            path.up_axis = up
    return path


def effective_mpu(path: CameraPath) -> float:
    """Metres per unit of the positions as they go on the wire."""
    return path.meters_per_unit or DEFAULT_MPU[path.convention or "opencv"]


def _unit_name(mpu: float) -> str:
    names = {1.0: "m", 0.01: "cm", 0.001: "mm", 0.0254: "in", 0.3048: "ft", 0.1: "dm",
             1000.0: "km"}
    return names.get(mpu, f"{mpu:g} m")


def _turn_y_up(path: CameraPath) -> None:
    """An OpenCV-camera path in a Y-up world, turned to the canonical Z-up world."""
    for i, s in enumerate(path.samples):
        form = s.rotation.WhichOneof("form")
        if form == "quaternion":
            q = s.rotation.quaternion
            rot = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
        elif form == "matrix":
            rot = np.reshape(s.rotation.matrix.m, (3, 3))
        else:
            raise ValueError(f"frames[{i}].rotation: got {form}, expected a quaternion or a "
                             "matrix for opencv with up_axis y")
        s.rotation = C.rotation(matrix=_Y_UP @ rot)
        s.position = _Y_UP @ s.position
