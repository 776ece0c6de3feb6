"""Camera paths for the player: ``cameras.json`` (as ``latentstage worlds render`` writes) and CSV.

cameras.json, as written by ``latentstage worlds render`` (model/worlds/io.py)::

    {"convention": "opencv", "world": "z-up right-handed metres", "pose": "camera-to-world",
     "intrinsics": {"fx": 182.8, "fy": 182.8, "cx": 127.5, "cy": 127.5,
                    "width": 256, "height": 256},
     "fps": [30, 1],
     "scene": {"seed": 7, "kind": "outdoor", "low_frequency": false},
     "frames": [{"index": 0, "image": "frames/000000.png", ..., "c2w": [[...4x4...]],
                 "timestamp_ns": 0}, ...]}

The player opens the world of ``scene`` (seed and kind) unless told otherwise.

Every malformed value is a ``ValueError`` that names the file, the field (``frames[3].c2w``,
``line 7: x``) and what was expected, raised while the file is read, before anything is sent.

Accepted spellings: the frame list under ``frames``, ``cameras`` or ``poses`` (or the file is
the list); a pose under ``c2w``, ``camera_to_world``, ``transform_matrix`` or ``pose`` (4x4,
nested or 16 numbers, column-vector, camera axes of the convention); time under ``time_s``,
``time``, ``timestamp``, ``t`` (seconds) or ``time_ns``/``timestamp_ns``; the frame number
under ``frame_id``, ``index`` or ``frame``; intrinsics (``fx fy cx cy width height`` or a 3x3
``K`` with ``width``/``height``) at the top or per frame.

CSV: one header row, then one row per pose. Columns (names, any order):

- ``frame_id`` (optional: the row number), ``time_s`` or ``time_ns`` (optional),
  ``timecode`` (optional, "HH:MM:SS:FF", rate from ``--timecode-rate``)
- position ``x,y,z`` in the convention's units (Unreal centimetres, otherwise metres or scene
  units)
- rotation, one of: ``qx,qy,qz,qw`` (quaternion), ``pitch,yaw,roll`` (Unreal FRotator,
  degrees), ``rx,ry,rz`` (Unity Quaternion.Euler, degrees), ``r00,r01,...,r22`` (row-major
  matrix whose columns are the camera axes in world)
- lens (optional: then Open's lens, ``--fov``), one of: ``fov_deg`` (+ optional ``fov_axis``
  horizontal/vertical/diagonal), ``fx,fy,cx,cy`` (+ optional ``width,height``: calibration
  size), ``focal_length_mm,sensor_width_mm,sensor_height_mm`` (+ optional
  ``offset_x,offset_y``)
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.v1 import camera_pb2 as cpb


@dataclass
class PathSample:
    """One camera of a path, ready to become a Pose."""

    frame_id: int  # frame number
    time_s: float | None  # seconds from the path's start, or None
    position: np.ndarray  # [3] in the convention's units
    rotation: cpb.Rotation  # in the convention
    lens: cpb.Lens | None  # None: the session's lens
    timecode: str | None = None  # "HH:MM:SS:FF" or None


@dataclass
class CameraPath:
    """A camera path in one convention."""

    convention: str  # "opencv", "unreal", "unity", ... ("" until known)
    samples: list[PathSample]  # in order
    size: tuple[int, int] | None = None  # (W, H) of the file's intrinsics, if any
    fps: float | None = None  # declared frame rate, if any
    world: dict | None = None  # {"seed": int, "kind": str} when the file names its world


CONVENTIONS = ("opencv", "opengl", "unreal", "unity", "usd", "blender")
_TIMECODE = re.compile(r"\d{2}:\d{2}:\d{2}[:;]\d{2,3}")
_MAX_FRAME_ID = 2**63 - 1
_MAX_TIME_S = 1e9  # seconds from the path's start (about 31 years)
_MAX_SIZE = 65535  # pixels


def _first(d: dict, *keys, default=None):
    for key in keys:
        if key in d:
            return d[key]
    return default


def _number(value, field: str) -> float:
    """A finite number (int, float or numeric string), else ValueError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{field}: got {_show(value)}, expected a number")
    try:
        out = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{field}: got {_show(value)}, expected a number") from None
    if not math.isfinite(out):
        raise ValueError(f"{field}: got {_show(value)}, expected a finite number")
    return out


def _integer(value, field: str, lo: int, hi: int) -> int:
    number = _number(value, field)
    if not number.is_integer() or not lo <= number <= hi:
        raise ValueError(f"{field}: got {_show(value)}, expected an integer in {lo}..{hi}")
    return int(number)


def _show(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _matrix(value, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """Finite numbers reshaped to ``shape`` (nested lists or a flat list)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ValueError(f"{field}: got {_show(value)}, expected {'x'.join(map(str, shape))} "
                         "numbers") from None
    if arr.size != math.prod(shape):
        raise ValueError(f"{field}: got {arr.size} values, expected "
                         f"{'x'.join(map(str, shape))} numbers")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{field}: expected finite numbers (no NaN or infinity)")
    return arr.reshape(shape)


def _time(value, field: str) -> float:
    t = _number(value, field)
    if not 0 <= t <= _MAX_TIME_S:
        raise ValueError(f"{field}: got {_show(value)}, expected seconds in 0..{_MAX_TIME_S:g}")
    return t


def _timecode(value, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _TIMECODE.fullmatch(value):
        raise ValueError(f"{field}: got {_show(value)}, expected HH:MM:SS:FF (or ;FF for drop "
                         "frame)")
    return value


def _intrinsics(d, field: str) -> tuple[cpb.Lens | None, tuple[int, int] | None]:
    """A pixel lens and its size from ``fx fy cx cy width height`` or ``K``."""
    if not isinstance(d, dict):
        return None, None
    w, h = d.get("width"), d.get("height")
    if "K" in d:
        k = _matrix(d["K"], f"{field}.K", (3, 3))
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    elif all(key in d for key in ("fx", "fy", "cx", "cy")):
        fx, fy, cx, cy = (_number(d[key], f"{field}.{key}") for key in ("fx", "fy", "cx", "cy"))
    else:
        return None, None
    size = None
    if w and h:
        size = (_integer(w, f"{field}.width", 1, _MAX_SIZE),
                _integer(h, f"{field}.height", 1, _MAX_SIZE))
    return C.lens_pixels((fx, fy, cx, cy), *(size or (0, 0))), size


def _rate(value, field: str = "fps") -> float | None:
    """A frame rate from 30, 29.97, "30000/1001" or [30000, 1001]."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"{field}: got {_show(value)}, expected [numerator, denominator]")
        num, den = _number(value[0], f"{field}[0]"), _number(value[1], f"{field}[1]")
    elif isinstance(value, str) and "/" in value:
        a, _, b = value.partition("/")
        num, den = _number(a, field), _number(b, field)
    else:
        num, den = _number(value, field), 1.0
    if num <= 0 or den <= 0 or not math.isfinite(num / den):
        raise ValueError(f"{field}: got {_show(value)}, expected a positive frame rate")
    return num / den


def _world(top: dict) -> dict | None:
    for key in ("scene", "world"):
        w = top.get(key)
        if isinstance(w, dict) and "seed" in w:
            seed = _integer(w["seed"], f"{key}.seed", 0, _MAX_FRAME_ID)
            kind = w.get("kind", "outdoor")
            if kind not in ("indoor", "outdoor"):
                raise ValueError(f"{key}.kind: got {_show(kind)}, expected indoor or outdoor")
            return {**w, "seed": seed, "kind": kind}
    return None


def _convention(value, field: str) -> str:
    name = str(value).lower() if isinstance(value, str) else value
    if name not in CONVENTIONS:
        raise ValueError(f"{field}: got {_show(value)}, expected one of {', '.join(CONVENTIONS)}")
    return name


def read_cameras_json(path: str | Path) -> CameraPath:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    top = data if isinstance(data, dict) else {}
    frames = data if isinstance(data, list) else _first(top, "frames", "cameras", "poses")
    if frames is None and "c2w" in top:  # arrays at the top: c2w [N, 4, 4], times [N]
        mats = top["c2w"]
        times = _first(top, "time_s", "times", "timestamps", default=None)
        if not isinstance(mats, list) or (times is not None and (
                not isinstance(times, list) or len(times) != len(mats))):
            raise ValueError(f"{path}: c2w: expected a list of 4x4 matrices (and as many times)")
        frames = [{"c2w": m, "time": t} for m, t in zip(mats, times or [None] * len(mats),
                                                          strict=True)]
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"{path}: no camera list (expected 'frames', 'cameras' or 'poses')")
    try:
        return _parse_json(top, frames)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _parse_json(top: dict, frames: list) -> CameraPath:
    lens, size = _intrinsics(_first(top, "intrinsics", "camera", default={}), "intrinsics")
    fps = _rate(_first(top, "fps", "frame_rate"))
    world = _world(top)
    samples = []
    for i, fr in enumerate(frames):
        where = f"frames[{i}]"
        if not isinstance(fr, dict):
            raise ValueError(f"{where}: got {_show(fr)}, expected an object with c2w (or "
                             "camera_to_world, transform_matrix, pose)")
        raw = _first(fr, "c2w", "camera_to_world", "transform_matrix", "pose")
        if raw is None:
            raise ValueError(f"{where}.c2w: missing (or camera_to_world, transform_matrix, pose)")
        m = _matrix(raw, f"{where}.c2w", (4, 4))
        t = _first(fr, "time_s", "time", "timestamp", "t")
        if t is not None:
            t = _time(t, f"{where}.time")
        elif _first(fr, "time_ns", "timestamp_ns") is not None:
            t = _time(_number(_first(fr, "time_ns", "timestamp_ns"), f"{where}.time_ns") / 1e9,
                      f"{where}.time_ns")
        elif fps:
            t = i / fps
        own_lens, own_size = _intrinsics(_first(fr, "intrinsics", default={}),
                                         f"{where}.intrinsics")
        size = size or own_size
        frame_id = _integer(_first(fr, "frame_id", "index", "frame", default=i),
                            f"{where}.frame_id", 0, _MAX_FRAME_ID)
        samples.append(PathSample(frame_id, t, m[:3, 3], C.rotation(matrix=m[:3, :3]),
                                  own_lens or lens, _timecode(fr.get("timecode"),
                                                              f"{where}.timecode")))
    conv = _convention(top["convention"], "convention") if "convention" in top else ""
    return CameraPath(conv, samples, size, fps, world)


_ROTATIONS = (("qx", "qy", "qz", "qw"), ("pitch", "yaw", "roll"), ("rx", "ry", "rz"),
              tuple(f"r{i}{j}" for i in range(3) for j in range(3)))
_AXES = ("horizontal", "vertical", "diagonal")


def _has(row: dict, *cols) -> bool:
    return all(row.get(c) not in (None, "") for c in cols)


def _csv_rotation(row: dict, line: int) -> cpb.Rotation:
    for cols in _ROTATIONS:
        if _has(row, *cols):
            v = [_number(row[c], f"line {line}: {c}") for c in cols]
            if cols[0] == "qx":
                return C.rotation(quat=v)
            if cols[0] == "pitch":
                return C.rotation(rotator=v)
            if cols[0] == "rx":
                return C.rotation(unity_euler=v)
            return C.rotation(matrix=np.reshape(v, (3, 3)))
    raise ValueError(f"line {line}: no rotation columns (qx..qw, pitch/yaw/roll, rx/ry/rz or "
                     "r00..r22)")


def _csv_lens(row: dict, line: int) -> cpb.Lens | None:
    def num(col):
        return _number(row[col], f"line {line}: {col}")

    if _has(row, "fov_deg"):
        axis = row.get("fov_axis") or None
        if axis is not None and axis not in _AXES:
            raise ValueError(f"line {line}: fov_axis: got {_show(axis)}, expected one of "
                             f"{', '.join(_AXES)}")
        return C.lens_fov(num("fov_deg"), axis)
    if _has(row, "fx", "fy", "cx", "cy"):
        size = (0, 0)
        if _has(row, "width", "height"):
            size = tuple(_integer(row[c], f"line {line}: {c}", 1, _MAX_SIZE)
                         for c in ("width", "height"))
        return C.lens_pixels(tuple(num(c) for c in ("fx", "fy", "cx", "cy")), *size)
    if _has(row, "focal_length_mm", "sensor_width_mm", "sensor_height_mm"):
        off = [num(c) if _has(row, c) else 0.0 for c in ("offset_x", "offset_y")]
        return C.lens_physical(num("focal_length_mm"), num("sensor_width_mm"),
                               num("sensor_height_mm"), *off)
    return None


def read_csv(path: str | Path, convention: str) -> CameraPath:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte ...
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: no rows after the header")
    samples = []
    for i, row in enumerate(rows):
        line = i + 2
        if None in row:
            raise ValueError(f"{path}: line {line}: more fields than header columns")
        row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        if not _has(row, "x", "y", "z"):
            raise ValueError(f"{path}: line {line}: x, y and z are required")
        try:
            t = None
            if row.get("time_s"):
                t = _time(row["time_s"], f"line {line}: time_s")
            elif row.get("time_ns"):
                t = _time(_number(row["time_ns"], f"line {line}: time_ns") / 1e9,
                          f"line {line}: time_ns")
            frame_id = (_integer(row["frame_id"], f"line {line}: frame_id", 0, _MAX_FRAME_ID)
                        if row.get("frame_id") else i)
            position = np.array([_number(row[c], f"line {line}: {c}") for c in ("x", "y", "z")])
            samples.append(PathSample(frame_id, t, position, _csv_rotation(row, line),
                                      _csv_lens(row, line),
                                      _timecode(row.get("timecode"), f"line {line}: timecode")))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return CameraPath(convention, samples)


def read_path(path: str | Path, convention: str | None = None) -> CameraPath:
    """A path from ``.json`` or ``.csv``. The convention is the file's (JSON ``convention``),
    else ``convention``, else opencv; a file and a ``convention`` that disagree are an error."""
    path = Path(path)
    if convention is not None:
        convention = _convention(convention, "--convention")
    if path.suffix.lower() == ".csv":
        return read_csv(path, convention or "opencv")
    cam = read_cameras_json(path)
    if cam.convention and convention and convention != cam.convention:
        raise ValueError(f"{path} declares convention {cam.convention!r} but --convention is "
                         f"{convention!r}")
    cam.convention = cam.convention or convention or "opencv"
    return cam
