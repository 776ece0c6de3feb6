"""``cameras.json``: the path format ``latentstage worlds render`` writes, and similar JSON.

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

Declarations at the top level: ``convention``, ``units`` ("m", "cm", "mm", "in", "ft" or
metres per unit as a number), ``up_axis`` ("y" or "z").
"""

from __future__ import annotations

import json
from pathlib import Path

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths import fields as F
from latentstage.engine_bridge.paths.model import CameraPath, Declared, PathSample


def load_json(path: str | Path) -> dict | list:
    """The parsed JSON of ``path``; every failure is a ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None


def declared(data) -> Declared:
    """The units, up axis and convention a JSON document declares at its top level."""
    top = data if isinstance(data, dict) else {}
    conv = F.convention(top["convention"], "convention") if "convention" in top else None
    units = F.first(top, "units", "meters_per_unit")
    up = F.first(top, "up_axis", "up")
    if units is not None and (isinstance(units, bool) or not isinstance(units, str | int | float)):
        raise ValueError(f"units: got {F.show(units)}, expected a unit name or metres per unit")
    if up is not None and not isinstance(up, str):
        raise ValueError(f"up_axis: got {F.show(up)}, expected y or z")
    return Declared(None if units is None else str(units), up, conv)


def read_cameras_json(path: str | Path, data=None) -> CameraPath:
    """A path (positions as written, convention as declared or "") from a cameras.json."""
    data = load_json(path) if data is None else data
    top = data if isinstance(data, dict) else {}
    frames = data if isinstance(data, list) else F.first(top, "frames", "cameras", "poses")
    if frames is None and "c2w" in top:  # arrays at the top: c2w [N, 4, 4], times [N]
        mats = top["c2w"]
        times = F.first(top, "time_s", "times", "timestamps", default=None)
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
    lens, size = F.intrinsics(F.first(top, "intrinsics", "camera", default={}), "intrinsics")
    fps = F.rate(F.first(top, "fps", "frame_rate"))
    world = _world(top)
    samples = []
    for i, fr in enumerate(frames):
        where = f"frames[{i}]"
        if not isinstance(fr, dict):
            raise ValueError(f"{where}: got {F.show(fr)}, expected an object with c2w (or "
                             "camera_to_world, transform_matrix, pose)")
        raw = F.first(fr, "c2w", "camera_to_world", "transform_matrix", "pose")
        if raw is None:
            raise ValueError(f"{where}.c2w: missing (or camera_to_world, transform_matrix, pose)")
        m = F.matrix(raw, f"{where}.c2w", (4, 4))
        t = F.first(fr, "time_s", "time", "timestamp", "t")
        if t is not None:
            t = F.seconds(t, f"{where}.time")
        elif F.first(fr, "time_ns", "timestamp_ns") is not None:
            t = F.seconds(F.number(F.first(fr, "time_ns", "timestamp_ns"), f"{where}.time_ns")
                          / 1e9, f"{where}.time_ns")
        elif fps:
            t = i / fps
        own_lens, own_size = F.intrinsics(F.first(fr, "intrinsics", default={}),
                                          f"{where}.intrinsics")
        size = size or own_size
        frame_id = F.integer(F.first(fr, "frame_id", "index", "frame", default=i),
                             f"{where}.frame_id", 0, F.MAX_FRAME_ID)
        samples.append(PathSample(frame_id, t, m[:3, 3], C.rotation(matrix=m[:3, :3]),
                                  own_lens or lens, F.timecode(fr.get("timecode"),
                                                               f"{where}.timecode")))
    conv = F.convention(top["convention"], "convention") if "convention" in top else ""
    return CameraPath(conv, samples, size, fps, world, source_format="json")


def _world(top: dict) -> dict | None:
    for key in ("scene", "world"):
        w = top.get(key)
        if isinstance(w, dict) and "seed" in w:
            seed = F.integer(w["seed"], f"{key}.seed", 0, F.MAX_FRAME_ID)
            kind = w.get("kind", "outdoor")
            if kind not in ("indoor", "outdoor"):
                raise ValueError(f"{key}.kind: got {F.show(kind)}, expected indoor or outdoor")
            return {**w, "seed": seed, "kind": kind}
    return None
