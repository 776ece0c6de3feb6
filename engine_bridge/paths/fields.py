"""Field readers shared by the path formats: each returns a checked value or raises a
``ValueError`` that names the field, the value and what was expected."""

from __future__ import annotations

import math
import re

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.v1 import camera_pb2 as cpb

CONVENTIONS = ("opencv", "opengl", "unreal", "unity", "usd", "blender")
TIMECODE = re.compile(r"\d{2}:\d{2}:\d{2}[:;]\d{2,3}")
MAX_FRAME_ID = 2**63 - 1
MAX_TIME_S = 1e9  # seconds from the path's start (about 31 years)
MAX_SIZE = 65535  # pixels


def first(d: dict, *keys, default=None):
    """The value of the first of ``keys`` present in ``d``, else ``default``."""
    for key in keys:
        if key in d:
            return d[key]
    return default


def show(value, limit: int = 60) -> str:
    """``repr(value)``, shortened to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(value, field: str) -> float:
    """A finite number (int, float or numeric string), else ValueError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{field}: got {show(value)}, expected a number")
    try:
        out = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{field}: got {show(value)}, expected a number") from None
    if not math.isfinite(out):
        raise ValueError(f"{field}: got {show(value)}, expected a finite number")
    return out


def integer(value, field: str, lo: int, hi: int) -> int:
    """An integer in ``lo..hi`` (an integral float or string is accepted)."""
    value_f = number(value, field)
    if not value_f.is_integer() or not lo <= value_f <= hi:
        raise ValueError(f"{field}: got {show(value)}, expected an integer in {lo}..{hi}")
    return int(value_f)


def matrix(value, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """Finite numbers reshaped to ``shape`` (nested lists or a flat list)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ValueError(f"{field}: got {show(value)}, expected {'x'.join(map(str, shape))} "
                         "numbers") from None
    if arr.size != math.prod(shape):
        raise ValueError(f"{field}: got {arr.size} values, expected "
                         f"{'x'.join(map(str, shape))} numbers")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{field}: expected finite numbers (no NaN or infinity)")
    return arr.reshape(shape)


def seconds(value, field: str) -> float:
    """Seconds from the path's start, in ``0..MAX_TIME_S``."""
    t = number(value, field)
    if not 0 <= t <= MAX_TIME_S:
        raise ValueError(f"{field}: got {show(value)}, expected seconds in 0..{MAX_TIME_S:g}")
    return t


def timecode(value, field: str) -> str | None:
    """An SMPTE label "HH:MM:SS:FF" (or ";FF"), or None for an empty value."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not TIMECODE.fullmatch(value):
        raise ValueError(f"{field}: got {show(value)}, expected HH:MM:SS:FF (or ;FF for drop "
                         "frame)")
    return value


def intrinsics(d, field: str) -> tuple[cpb.Lens | None, tuple[int, int] | None]:
    """A pixel lens and its size from ``fx fy cx cy width height`` or ``K``."""
    if not isinstance(d, dict):
        return None, None
    w, h = d.get("width"), d.get("height")
    if "K" in d:
        k = matrix(d["K"], f"{field}.K", (3, 3))
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    elif all(key in d for key in ("fx", "fy", "cx", "cy")):
        fx, fy, cx, cy = (number(d[key], f"{field}.{key}") for key in ("fx", "fy", "cx", "cy"))
    else:
        return None, None
    size = None
    if w and h:
        size = (integer(w, f"{field}.width", 1, MAX_SIZE), integer(h, f"{field}.height", 1,
                                                                    MAX_SIZE))
    return C.lens_pixels((fx, fy, cx, cy), *(size or (0, 0))), size


def rate(value, field: str = "fps") -> float | None:
    """A frame rate from 30, 29.97, "30000/1001" or [30000, 1001]."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"{field}: got {show(value)}, expected [numerator, denominator]")
        num, den = number(value[0], f"{field}[0]"), number(value[1], f"{field}[1]")
    elif isinstance(value, str) and "/" in value:
        a, _, b = value.partition("/")
        num, den = number(a, field), number(b, field)
    else:
        num, den = number(value, field), 1.0
    if num <= 0 or den <= 0 or not math.isfinite(num / den):
        raise ValueError(f"{field}: got {show(value)}, expected a positive frame rate")
    return num / den


def convention(value, field: str) -> str:
    """A convention name of :data:`CONVENTIONS` (any case)."""
    name = str(value).lower() if isinstance(value, str) else value
    if name not in CONVENTIONS:
        raise ValueError(f"{field}: got {show(value)}, expected one of {', '.join(CONVENTIONS)}")
    return name
