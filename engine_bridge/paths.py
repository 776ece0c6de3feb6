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


def _first(d: dict, *keys, default=None):
    for key in keys:
        if key in d:
            return d[key]
    return default


def _intrinsics(d: dict) -> tuple[cpb.Lens | None, tuple[int, int] | None]:
    """A pixel lens and its size from ``fx fy cx cy width height`` or ``K``."""
    if not isinstance(d, dict):
        return None, None
    w, h = d.get("width"), d.get("height")
    if "K" in d:
        k = np.asarray(d["K"], float).reshape(3, 3)
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    elif all(key in d for key in ("fx", "fy", "cx", "cy")):
        fx, fy, cx, cy = (float(d[key]) for key in ("fx", "fy", "cx", "cy"))
    else:
        return None, None
    size = (int(w), int(h)) if w and h else None
    return C.lens_pixels((fx, fy, cx, cy), *(size or (0, 0))), size


def _rate(value) -> float | None:
    """A frame rate from 30, 29.97, "30000/1001" or [30000, 1001]."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return value[0] / value[1]
    if isinstance(value, str) and "/" in value:
        num, den = value.split("/")
        return float(num) / float(den)
    return float(value)


def read_cameras_json(path: str | Path) -> CameraPath:
    data = json.loads(Path(path).read_text("utf-8"))
    top = data if isinstance(data, dict) else {}
    frames = data if isinstance(data, list) else _first(top, "frames", "cameras", "poses")
    if frames is None and "c2w" in top:  # arrays at the top: c2w [N, 4, 4], times [N]
        times = _first(top, "time_s", "times", "timestamps", default=[None] * len(top["c2w"]))
        frames = [{"c2w": m, "time": t} for m, t in zip(top["c2w"], times, strict=True)]
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"{path}: no camera list (expected 'frames', 'cameras' or 'poses')")
    lens, size = _intrinsics(_first(top, "intrinsics", "camera", default={}))
    fps = _rate(_first(top, "fps", "frame_rate"))
    world = next((top[k] for k in ("scene", "world") if isinstance(top.get(k), dict)
                  and "seed" in top[k]), None)
    samples = []
    for i, fr in enumerate(frames):
        m = np.asarray(_first(fr, "c2w", "camera_to_world", "transform_matrix", "pose"), float)
        m = m.reshape(4, 4)
        t = _first(fr, "time_s", "time", "timestamp", "t")
        if t is None and _first(fr, "time_ns", "timestamp_ns") is not None:
            t = _first(fr, "time_ns", "timestamp_ns") / 1e9
        if t is None and fps:
            t = i / fps
        own_lens, own_size = _intrinsics(_first(fr, "intrinsics", default={}))
        size = size or own_size
        samples.append(PathSample(int(_first(fr, "frame_id", "index", "frame", default=i)),
                                  None if t is None else float(t), m[:3, 3],
                                  C.rotation(matrix=m[:3, :3]), own_lens or lens,
                                  fr.get("timecode")))
    conv = str(top["convention"]).lower() if "convention" in top else ""
    return CameraPath(conv, samples, size, fps, world)


_ROTATIONS = (("qx", "qy", "qz", "qw"), ("pitch", "yaw", "roll"), ("rx", "ry", "rz"),
              tuple(f"r{i}{j}" for i in range(3) for j in range(3)))


def _csv_rotation(row: dict, line: int) -> cpb.Rotation:
    for cols in _ROTATIONS:
        if all(row.get(c) not in (None, "") for c in cols):
            v = [float(row[c]) for c in cols]
            if cols[0] == "qx":
                return C.rotation(quat=v)
            if cols[0] == "pitch":
                return C.rotation(rotator=v)
            if cols[0] == "rx":
                return C.rotation(unity_euler=v)
            return C.rotation(matrix=np.reshape(v, (3, 3)))
    raise ValueError(f"line {line}: no rotation columns (qx..qw, pitch/yaw/roll, rx/ry/rz or "
                     "r00..r22)")


def _csv_lens(row: dict) -> cpb.Lens | None:
    def has(*cols):
        return all(row.get(c) not in (None, "") for c in cols)

    if has("fov_deg"):
        return C.lens_fov(float(row["fov_deg"]), row.get("fov_axis") or None)
    if has("fx", "fy", "cx", "cy"):
        size = (int(row["width"]), int(row["height"])) if has("width", "height") else (0, 0)
        return C.lens_pixels(tuple(float(row[c]) for c in ("fx", "fy", "cx", "cy")), *size)
    if has("focal_length_mm", "sensor_width_mm", "sensor_height_mm"):
        off = [float(row.get(c) or 0) for c in ("offset_x", "offset_y")]
        return C.lens_physical(float(row["focal_length_mm"]), float(row["sensor_width_mm"]),
                               float(row["sensor_height_mm"]), *off)
    return None


def read_csv(path: str | Path, convention: str) -> CameraPath:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no rows after the header")
    samples = []
    for i, row in enumerate(rows):
        row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        line = i + 2
        if not all(row.get(c) not in (None, "") for c in ("x", "y", "z")):
            raise ValueError(f"line {line}: x, y and z are required")
        t = None
        if row.get("time_s"):
            t = float(row["time_s"])
        elif row.get("time_ns"):
            t = float(row["time_ns"]) / 1e9
        samples.append(PathSample(int(row.get("frame_id") or i), t,
                                  np.array([float(row[c]) for c in ("x", "y", "z")]),
                                  _csv_rotation(row, line), _csv_lens(row),
                                  row.get("timecode") or None))
    return CameraPath(convention, samples)


def read_path(path: str | Path, convention: str | None = None) -> CameraPath:
    """A path from ``.json`` or ``.csv``. The convention is the file's (JSON ``convention``),
    else ``convention``, else opencv; a file and a ``convention`` that disagree are an error."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return read_csv(path, (convention or "opencv").lower())
    cam = read_cameras_json(path)
    if cam.convention and convention and convention.lower() != cam.convention:
        raise ValueError(f"{path} declares convention {cam.convention!r} but --convention is "
                         f"{convention!r}")
    cam.convention = cam.convention or (convention or "opencv").lower()
    return cam
