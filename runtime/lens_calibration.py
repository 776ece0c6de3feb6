"""Lens calibration of a tracked camera: FreeD zoom and focus encoder counts to a lens.

FreeD carries zoom and focus as raw encoder counts (24-bit unsigned), not millimetres. A
calibration file maps them, with linear interpolation between its points and clamping beyond
the first and last point:

- **zoom** counts to the focal length in millimetres (``focal_mm``) or to the horizontal field
  of view across the sensor width in degrees (``hfov_deg``);
- **focus** counts to the focus distance in metres (optional; reported, not rendered);
- the **sensor** (filmback) width and height in millimetres.

The image keeps the horizontal field of view of the sensor width with square pixels, as an
Unreal CineCamera does ("maintain X-axis FOV"), so any output size works.

JSON::

    {"name": "...", "description": "...", "sensor_width_mm": 9.59, "sensor_height_mm": 5.39,
     "zoom": {"unit": "focal_mm", "points": [[0, 7.6], [65535, 168.0]]},
     "focus": {"unit": "m", "points": [[0, 0.6], [65535, 1000.0]]}}

CSV (``#`` starts a comment line; one header line ``table,counts,value``)::

    table,counts,value
    sensor_width_mm,,9.59
    sensor_height_mm,,5.39
    zoom_focal_mm,0,7.6          # or zoom_hfov_deg
    zoom_focal_mm,65535,168.0
    focus_m,0,0.6

Bundled files (``builtin:NAME``) live in ``runtime/data/lens/``; see docs/freed.md.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentstage.runtime.camera import DEFAULT_BOUNDS, Intrinsics, ResolutionBounds
from latentstage.runtime.conventions import unreal_cine_intrinsics
from latentstage.runtime.errors import InvalidInput, NotFound

BUILTIN_DIR = Path(__file__).resolve().parent / "data" / "lens"
BUILTIN_PREFIX = "builtin:"
MAX_COUNTS = (1 << 24) - 1  # FreeD zoom and focus are 24-bit unsigned
ZOOM_UNITS = ("focal_mm", "hfov_deg")
_JSON_KEYS = {"name", "description", "sensor_width_mm", "sensor_height_mm", "zoom", "focus"}
_CSV_TABLES = {"sensor_width_mm", "sensor_height_mm", "zoom_focal_mm", "zoom_hfov_deg", "focus_m"}


@dataclass(frozen=True)
class LensTable:
    """A piecewise-linear map from encoder counts to a value, clamped at both ends."""

    counts: tuple[int, ...]  # encoder counts, strictly increasing, 0..2^24-1
    values: tuple[float, ...]  # the value at each count (unit set by the table's use)

    def __call__(self, count: int) -> float:
        return float(np.interp(count, self.counts, self.values))


@dataclass(frozen=True)
class LensCalibration:
    """A calibrated zoom (and focus) lens on a sensor."""

    name: str  # label for logs and errors
    source: str  # the file it came from, or builtin:NAME
    sensor_width_mm: float  # filmback width, mm
    sensor_height_mm: float  # filmback height, mm
    zoom_unit: str  # "focal_mm" or "hfov_deg": what the zoom table gives
    zoom: LensTable  # zoom counts -> focal length (mm) or horizontal FOV (degrees)
    focus: LensTable | None = None  # focus counts -> distance (m); None: not calibrated

    def focal_length_mm(self, zoom_counts: int) -> float:
        """The focal length in millimetres at ``zoom_counts``."""
        value = self.zoom(zoom_counts)
        if self.zoom_unit == "focal_mm":
            return value
        return self.sensor_width_mm / (2.0 * math.tan(math.radians(value) / 2.0))

    def hfov_deg(self, zoom_counts: int) -> float:
        """The horizontal field of view across the sensor width, degrees."""
        f = self.focal_length_mm(zoom_counts)
        return math.degrees(2.0 * math.atan(self.sensor_width_mm / (2.0 * f)))

    def focus_m(self, focus_counts: int) -> float | None:
        """The focus distance in metres, or None without a focus table."""
        return None if self.focus is None else self.focus(focus_counts)

    def intrinsics(self, zoom_counts: int, width: int, height: int,
                   bounds: ResolutionBounds = DEFAULT_BOUNDS) -> Intrinsics:
        """Square-pixel intrinsics at ``width`` x ``height`` keeping the horizontal FOV."""
        return unreal_cine_intrinsics(self.focal_length_mm(zoom_counts), self.sensor_width_mm,
                                      self.sensor_height_mm, width, height, bounds=bounds)


# ----- loading ---------------------------------------------------------------------------------
def _number(source: str, field: str, value, lo: float, hi: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{source}:{field}", value, f"a number in {unit}")
    if not (math.isfinite(value) and lo < value < hi):
        raise InvalidInput(f"{source}:{field}", value,
                           f"a finite number in ({lo:g}, {hi:g}) {unit}")
    return float(value)


def _table(source: str, field: str, points, lo: float, hi: float, unit: str) -> LensTable:
    """Validate ``points`` [[counts, value], ...]: integer counts strictly increasing."""
    if not isinstance(points, list) or not points:
        raise InvalidInput(f"{source}:{field}", points, "a non-empty list of [counts, value]")
    counts, values = [], []
    for i, point in enumerate(points):
        where = f"{field}[{i}]"
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise InvalidInput(f"{source}:{where}", point, "[counts, value]")
        c, v = point
        if isinstance(c, float) and c.is_integer():
            c = int(c)
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= MAX_COUNTS:
            raise InvalidInput(f"{source}:{where}", c, f"integer encoder counts in 0..{MAX_COUNTS}")
        if counts and c <= counts[-1]:
            raise InvalidInput(f"{source}:{where}", c, f"counts above {counts[-1]} (the table "
                               "must be sorted by counts, without repeats)")
        counts.append(c)
        values.append(_number(source, where, v, lo, hi, unit))
    return LensTable(tuple(counts), tuple(values))


def _zoom(source: str, unit: str, points) -> LensTable:
    if unit == "focal_mm":
        return _table(source, "zoom.points", points, 0.0, 10_000.0, "mm")
    if unit == "hfov_deg":
        return _table(source, "zoom.points", points, 0.0, 180.0, "degrees")
    raise InvalidInput(f"{source}:zoom.unit", unit, f"one of {', '.join(ZOOM_UNITS)}")


def from_dict(data: dict, source: str) -> LensCalibration:
    """A calibration from the JSON layout (see the module docstring)."""
    if not isinstance(data, dict):
        raise InvalidInput(source, type(data).__name__, "a JSON object")
    unknown = sorted(set(data) - _JSON_KEYS)
    if unknown:
        raise InvalidInput(f"{source}:{unknown[0]}", unknown[0],
                           f"one of the keys {', '.join(sorted(_JSON_KEYS))}")
    for key in ("sensor_width_mm", "sensor_height_mm", "zoom"):
        if key not in data:
            raise InvalidInput(f"{source}:{key}", None, "present (required)")
    zoom = data["zoom"]
    if not isinstance(zoom, dict) or set(zoom) != {"unit", "points"}:
        raise InvalidInput(f"{source}:zoom", zoom, '{"unit": "focal_mm" or "hfov_deg", '
                           '"points": [[counts, value], ...]}')
    focus = None
    if data.get("focus") is not None:
        f = data["focus"]
        if not isinstance(f, dict) or f.get("unit", "m") != "m" or "points" not in f:
            raise InvalidInput(f"{source}:focus", f, '{"unit": "m", "points": [[counts, metres]]}')
        focus = _table(source, "focus.points", f["points"], 0.0, 1e6, "metres")
    name = data.get("name") or Path(source.removeprefix(BUILTIN_PREFIX)).stem
    return LensCalibration(
        str(name), source,
        _number(source, "sensor_width_mm", data["sensor_width_mm"], 0.0, 1000.0, "mm"),
        _number(source, "sensor_height_mm", data["sensor_height_mm"], 0.0, 1000.0, "mm"),
        zoom["unit"], _zoom(source, zoom["unit"], zoom["points"]), focus)


def parse_csv(text: str, source: str) -> LensCalibration:
    """A calibration from the CSV layout (see the module docstring)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    if not rows or [c.strip() for c in rows[0]] != ["table", "counts", "value"]:
        raise InvalidInput(f"{source}:header", rows[0] if rows else None,
                           "the header line table,counts,value")
    scalars: dict[str, float] = {}
    tables: dict[str, list] = {}
    for n, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        if len(cells) != 3 or cells[0] not in _CSV_TABLES:
            raise InvalidInput(f"{source}:row {n}", row, f"table,counts,value with table one "
                               f"of {', '.join(sorted(_CSV_TABLES))}")
        try:
            value = float(cells[2])
            counts = int(cells[1]) if cells[1] else None
        except ValueError:
            raise InvalidInput(f"{source}:row {n}", row, "numbers in counts and value") from None
        if cells[0].startswith("sensor_"):
            scalars[cells[0]] = value
        else:
            tables.setdefault(cells[0], []).append([counts, value])
    zooms = [t for t in ("zoom_focal_mm", "zoom_hfov_deg") if t in tables]
    if len(zooms) != 1:
        raise InvalidInput(f"{source}:zoom", zooms, "rows of exactly one of zoom_focal_mm or "
                           "zoom_hfov_deg")
    data = {**scalars, "zoom": {"unit": zooms[0].removeprefix("zoom_"), "points": tables[zooms[0]]}}
    if "focus_m" in tables:
        data["focus"] = {"unit": "m", "points": tables["focus_m"]}
    return from_dict(data, source)


def builtin_names() -> list[str]:
    """Names of the bundled calibrations (``builtin:NAME``)."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.json"))


def load(ref: str | Path, base_dir: Path | None = None) -> LensCalibration:
    """Load ``builtin:NAME`` or a .json / .csv file (relative paths from ``base_dir``)."""
    text_ref = str(ref)
    if text_ref.startswith(BUILTIN_PREFIX):
        name = text_ref.removeprefix(BUILTIN_PREFIX)
        path = BUILTIN_DIR / f"{name}.json"
        if name not in builtin_names():
            raise NotFound(f"lens {text_ref!r}: no such bundled calibration; bundled: "
                           f"{', '.join(BUILTIN_PREFIX + n for n in builtin_names())}")
        return from_dict(json.loads(path.read_text()), text_ref)
    path = Path(ref)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise NotFound(f"lens {text_ref!r}: no such file ({path})")
    text = path.read_text()
    if path.suffix.lower() == ".csv":
        return parse_csv(text, str(path))
    if path.suffix.lower() != ".json":
        raise InvalidInput("lens", str(path), "a .json or .csv calibration file, or builtin:NAME")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(str(path), f"line {exc.lineno}", f"valid JSON ({exc.msg})") from None
    return from_dict(data, str(path))
