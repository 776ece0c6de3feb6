"""CSV camera paths: one header row, then one row per pose.

The delimiter is sniffed from the header (comma, semicolon, tab or bar). Header names are
matched without regard to case, spaces or underscores, and through the aliases below.
Lines before the header that start with ``#`` may declare the file's coordinates as
``key=value`` words::

    # units=cm up=z convention=unreal sensor=36x24

(``units``: m, cm, mm, dm, km, in, ft or metres per unit; ``up``: y or z; ``sensor``: the
sensor size in mm for a ``focal`` column that comes without one.)

Columns (names, any order):

- ``frame_id`` (optional: the row number), ``time_s`` or ``time_ns`` (optional),
  ``timecode`` (optional, "HH:MM:SS:FF", rate from ``--timecode-rate``)
- position ``x,y,z`` in the declared units (else the convention's: Unreal centimetres,
  otherwise metres or scene units)
- rotation, one of: ``qx,qy,qz,qw`` (quaternion), ``pitch,yaw,roll`` (Unreal FRotator,
  degrees), ``rx,ry,rz`` (Unity Quaternion.Euler, degrees), ``r00,r01,...,r22`` (row-major
  matrix whose columns are the camera axes in world)
- lens (optional: then Open's lens, ``--fov``), one of: ``fov_deg`` (+ optional ``fov_axis``
  horizontal/vertical/diagonal), ``fx,fy,cx,cy`` (+ optional ``width,height``: calibration
  size), ``focal_length_mm,sensor_width_mm,sensor_height_mm`` (+ optional
  ``offset_x,offset_y``)

Aliases: a tracker log ``frame,x,y,z,pan,tilt,roll,focal`` (pan = yaw, tilt = pitch, as
Unreal's LiveLinkFreeD reads them; ``focal`` in mm) and an Unreal export
``LocationX,LocationY,LocationZ,Pitch,Yaw,Roll,FocalLength,SensorWidth[,SensorHeight]``
(a missing sensor height is taken as 16:9 of the width, Unreal's default filmback).
Without a declared convention, pitch/yaw/roll columns mean unreal, rx/ry/rz unity, others
opencv.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths import fields as F
from latentstage.engine_bridge.paths.model import CameraPath, Declared, PathSample
from latentstage.v1 import camera_pb2 as cpb

ROTATIONS = (("qx", "qy", "qz", "qw"), ("pitch", "yaw", "roll"), ("rx", "ry", "rz"),
             tuple(f"r{i}{j}" for i in range(3) for j in range(3)))
ALIASES = {  # normalised header name (lower case, no spaces or underscores) -> column
    "frameid": "frame_id", "frame": "frame_id", "index": "frame_id",
    "times": "time_s", "time": "time_s", "timens": "time_ns",
    "locationx": "x", "locationy": "y", "locationz": "z", "posx": "x", "posy": "y",
    "posz": "z", "positionx": "x", "positiony": "y", "positionz": "z",
    "pan": "yaw", "tilt": "pitch",
    "focal": "focal_length_mm", "focallength": "focal_length_mm",
    "focallengthmm": "focal_length_mm", "sensorwidth": "sensor_width_mm",
    "sensorwidthmm": "sensor_width_mm", "sensorheight": "sensor_height_mm",
    "sensorheightmm": "sensor_height_mm", "fovdeg": "fov_deg", "fov": "fov_deg",
    "fovaxis": "fov_axis", "offsetx": "offset_x", "offsety": "offset_y",
}
_AXES = ("horizontal", "vertical", "diagonal")
_ACCEPTED_POSITION = "x,y,z (or LocationX,LocationY,LocationZ; pos_x..; position_x..)"
_ACCEPTED_ROTATION = ("qx,qy,qz,qw | pitch,yaw,roll (or tilt,pan,roll) | rx,ry,rz | "
                      "r00..r22")
_DEFAULT_SENSOR = (36.0, 24.0)  # mm, full frame: a focal column without a sensor size


def column_name(header: str) -> str:
    """The column a header cell names (case, spaces and underscores ignored; aliases)."""
    key = header.strip().lower()
    flat = key.replace("_", "").replace(" ", "").replace("-", "")
    if flat in ALIASES:
        return ALIASES[flat]
    known = {c for cols in ROTATIONS for c in cols} | {
        "x", "y", "z", "time_s", "time_ns", "timecode", "fov_deg", "fov_axis", "fx", "fy", "cx",
        "cy", "width", "height", "focal_length_mm", "sensor_width_mm", "sensor_height_mm",
        "offset_x", "offset_y", "frame_id"}
    for name in known:
        if name.replace("_", "") == flat:
            return name
    return key


def _has(row: dict, *cols) -> bool:
    return all(row.get(c) not in (None, "") for c in cols)


def _rotation(row: dict, line: int) -> cpb.Rotation:
    for cols in ROTATIONS:
        if _has(row, *cols):
            v = [F.number(row[c], f"line {line}: {c}") for c in cols]
            if cols[0] == "qx":
                return C.rotation(quat=v)
            if cols[0] == "pitch":
                return C.rotation(rotator=v)
            if cols[0] == "rx":
                return C.rotation(unity_euler=v)
            return C.rotation(matrix=np.reshape(v, (3, 3)))
    raise ValueError(f"line {line}: no rotation values (columns {_ACCEPTED_ROTATION})")


def _lens(row: dict, line: int, sensor: tuple[float, float]) -> cpb.Lens | None:
    def num(col):
        return F.number(row[col], f"line {line}: {col}")

    if _has(row, "fov_deg"):
        axis = row.get("fov_axis") or None
        if axis is not None and axis not in _AXES:
            raise ValueError(f"line {line}: fov_axis: got {F.show(axis)}, expected one of "
                             f"{', '.join(_AXES)}")
        return C.lens_fov(num("fov_deg"), axis)
    if _has(row, "fx", "fy", "cx", "cy"):
        size = (0, 0)
        if _has(row, "width", "height"):
            size = tuple(F.integer(row[c], f"line {line}: {c}", 1, F.MAX_SIZE)
                         for c in ("width", "height"))
        return C.lens_pixels(tuple(num(c) for c in ("fx", "fy", "cx", "cy")), *size)
    if _has(row, "focal_length_mm"):
        width = num("sensor_width_mm") if _has(row, "sensor_width_mm") else sensor[0]
        if _has(row, "sensor_height_mm"):
            height = num("sensor_height_mm")
        else:
            height = width * 9 / 16 if _has(row, "sensor_width_mm") else sensor[1]
        off = [num(c) if _has(row, c) else 0.0 for c in ("offset_x", "offset_y")]
        return C.lens_physical(num("focal_length_mm"), width, height, *off)
    return None


def _split_preamble(text: str) -> tuple[dict, int, str]:
    """``# key=value`` declarations before the header, the header's line number and the text
    from the header on."""
    lines = text.splitlines(keepends=True)
    notes: dict = {}
    n = 0
    while n < len(lines) and (lines[n].lstrip().startswith("#") or not lines[n].strip()):
        for word in lines[n].lstrip().lstrip("#").replace(",", " ").split():
            key, eq, value = word.partition("=")
            if eq:
                notes[key.strip().lower()] = value.strip()
        n += 1
    return notes, n + 1, "".join(lines[n:])


def _sensor(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    w, sep, h = value.lower().partition("x")
    if not sep:
        raise ValueError(f"sensor: got {F.show(value)}, expected WIDTHxHEIGHT in mm (36x24)")
    return F.number(w, "sensor width"), F.number(h, "sensor height")


def _declared(notes: dict) -> Declared:
    conv = notes.get("convention")
    return Declared(notes.get("units"), notes.get("up", notes.get("up_axis")),
                    F.convention(conv, "convention") if conv is not None else None)


def _layout(header: list[str], line: int) -> list[str]:
    """The columns of ``header``, or a ValueError naming the line, the columns found and the
    names accepted, when the positions or the rotation cannot be found."""
    cols = [column_name(h) for h in header]
    found = ", ".join(h.strip() for h in header) or "(nothing)"
    if not {"x", "y", "z"} <= set(cols):
        raise ValueError(f"line {line} (header): no position columns; found {found}; "
                         f"accepted {_ACCEPTED_POSITION}")
    if not any(set(r) <= set(cols) for r in ROTATIONS):
        raise ValueError(f"line {line} (header): no rotation columns; found {found}; "
                         f"accepted {_ACCEPTED_ROTATION}")
    return cols


def _default_convention(cols: list[str]) -> str:
    if {"pitch", "yaw", "roll"} <= set(cols):
        return "unreal"
    if {"rx", "ry", "rz"} <= set(cols):
        return "unity"
    return "opencv"


def read_csv(path: str | Path, convention: str | None = None) -> tuple[CameraPath, Declared]:
    """A path (positions as written) and what the file declares about it."""
    try:
        text = Path(path).read_text("utf-8-sig")  # a spreadsheet's byte-order mark is dropped
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        notes, header_line, body = _split_preamble(text)
        declared = _declared(notes)
        sensor = _sensor(notes.get("sensor"))
    except ValueError as exc:
        raise ValueError(f"{path}: line 1: {exc}") from None
    first_line = body.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
        rows = [(header_line - 1 + reader.line_num, cells) for cells in reader]
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte ...
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows or not any(c.strip() for c in rows[0][1]):
        raise ValueError(f"{path}: line {header_line}: no header row")
    try:
        cols = _layout(rows[0][1], header_line)
        conv = convention or declared.convention or _default_convention(cols)
        samples = _rows(rows[1:], cols, sensor or _DEFAULT_SENSOR)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not samples:
        raise ValueError(f"{path}: no rows after the header (line {header_line})")
    cam = CameraPath(conv, samples, source_format="csv")
    if convention is None and declared.convention is None and conv != "opencv":
        cam.warnings.append(f"convention not declared: the rotation columns are {conv}'s, so "
                            f"{conv} is assumed")
    if "focal_length_mm" in cols and "sensor_width_mm" not in cols and sensor is None:
        cam.warnings.append("a focal column without a sensor size: assuming 36 x 24 mm (declare "
                            "# sensor=WxH)")
    return cam, declared


def _rows(rows: list[tuple[int, list[str]]], cols: list[str],
          sensor: tuple[float, float]) -> list[PathSample]:
    """One sample per non-empty row of (line number, cells)."""
    samples = []
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(cols):
            raise ValueError(f"line {line}: more fields than header columns")
        row = {c: v.strip() for c, v in zip(cols, cells, strict=False)}
        if not _has(row, "x", "y", "z"):
            raise ValueError(f"line {line}: x, y and z are required")
        t = None
        if row.get("time_s"):
            t = F.seconds(row["time_s"], f"line {line}: time_s")
        elif row.get("time_ns"):
            t = F.seconds(F.number(row["time_ns"], f"line {line}: time_ns") / 1e9,
                          f"line {line}: time_ns")
        frame_id = (F.integer(row["frame_id"], f"line {line}: frame_id", 0, F.MAX_FRAME_ID)
                    if row.get("frame_id") else len(samples))
        position = np.array([F.number(row[c], f"line {line}: {c}") for c in ("x", "y", "z")])
        samples.append(PathSample(frame_id, t, position, _rotation(row, line),
                                  _lens(row, line, sensor),
                                  F.timecode(row.get("timecode"), f"line {line}: timecode")))
    return samples
