"""Camera paths for the player and for renders: JSON, CSV, nerfstudio and USD.

``load_path(file)`` reads any of them into a :class:`CameraPath`: poses in one wire
convention, with that convention's ``Open.stage`` settings, ready to send. The format comes
from the file (``.usd``/``.usda``/``.usdc``/``.usdz``, ``.csv``, JSON; a JSON document with
nerfstudio's keys is a ``transforms.json``) unless given. Units, up axis and convention come
from the file (JSON top-level keys, a ``# units=cm up=z convention=unreal`` line above a CSV
header, the USD stage's metadata) and the caller; the two disagreeing is an error. See
docs/paths.md for each format, and :mod:`.units` for how declarations reach the wire.

Every malformed value is a ``ValueError`` that names the file, the field (``frames[3].c2w``,
``line 7: x``) and what was expected, raised while the file is read, before anything is sent.
A path whose size does not fit its units gets a warning (``CameraPath.warnings``, also
logged) naming the likely unit mistake (:mod:`.plausibility`).
"""

from __future__ import annotations

from pathlib import Path

from latentstage.engine_bridge.paths import fields as F
from latentstage.engine_bridge.paths import plausibility
from latentstage.engine_bridge.paths.model import CameraPath, Declared, PathSample
from latentstage.engine_bridge.paths.units import UNITS, apply_declared, parse_units
from latentstage.engine_bridge.paths.usd import MissingExtra
from latentstage.runtime.cli_choices import PathFormat

__all__ = ["CONVENTIONS", "UNITS", "CameraPath", "Declared", "MissingExtra", "PathFormat",
           "PathSample", "load_path", "read_path", "save_usd"]

CONVENTIONS = F.CONVENTIONS
USD_SUFFIXES = (".usd", ".usda", ".usdc", ".usdz")


def detect_format(file: Path, data=None) -> PathFormat:
    """The format of ``file`` from its suffix (and, for JSON, its keys)."""
    suffix = file.suffix.lower()
    if suffix in USD_SUFFIXES:
        return PathFormat.usd
    if suffix in (".csv", ".tsv", ".txt"):
        return PathFormat.csv
    from latentstage.engine_bridge.paths.nerfstudio import is_transforms_json

    return PathFormat.nerfstudio if is_transforms_json(data) else PathFormat.json


def load_path(file: str | Path, *, format: str | None = None, units: str | None = None,
              up_axis: str | None = None, convention: str | None = None,
              camera: str | None = None) -> CameraPath:
    """A camera path from ``file``; the keywords are the caller's declarations (None: the
    file's, else the format's default). ``camera`` is the USD camera's prim path."""
    file = Path(file)
    caller = Declared(units, up_axis, F.convention(convention, "--convention")
                      if convention is not None else None)
    if units is not None:
        parse_units(units, "--units")
    fmt = PathFormat(format) if format is not None else None
    data = None
    if fmt in (None, PathFormat.json, PathFormat.nerfstudio) and (
            fmt is not None or file.suffix.lower() not in USD_SUFFIXES + (".csv", ".tsv", ".txt")):
        from latentstage.engine_bridge.paths.json_format import load_json

        data = load_json(file)
    fmt = fmt or detect_format(file, data)
    try:
        path, declared = _read(fmt, file, data, caller, camera)
        merged = declared.merge(caller, str(file), "the command line")
        if merged.convention and path.convention and merged.convention != path.convention \
                and fmt in (PathFormat.nerfstudio, PathFormat.usd):
            raise ValueError(f"{fmt} paths are {path.convention}; --convention "
                             f"{merged.convention} does not apply")
        path.convention = path.convention or merged.convention or "opencv"
        apply_declared(path, merged)
        path.warnings.extend(plausibility.check(path))
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(str(file)) else f"{file}: {text}") from None
    return path


def _read(fmt: PathFormat, file: Path, data, caller: Declared,
          camera: str | None) -> tuple[CameraPath, Declared]:
    """The path as written in the file, and what the file declares."""
    if fmt is PathFormat.csv:
        from latentstage.engine_bridge.paths.csv_format import read_csv

        return read_csv(file, caller.convention)
    if fmt is PathFormat.usd:
        from latentstage.engine_bridge.paths.usd import read_usd

        path = read_usd(file, camera)
        # the stage's metadata is the file's declaration; the caller may only repeat it
        for name, value, mine in (("units", caller.units, path.meters_per_unit),
                                  ("up_axis", caller.up_axis, path.up_axis)):
            if value is not None and (parse_units(value) if name == "units"
                                      else value.lower()) != mine:
                raise ValueError(f"the stage declares {name} {mine!r} but the command line "
                                 f"gives {value!r}")
        return path, Declared()
    from latentstage.engine_bridge.paths import json_format

    declared = json_format.declared(data)
    if fmt is PathFormat.nerfstudio:
        from latentstage.engine_bridge.paths.nerfstudio import read_transforms_json

        return read_transforms_json(data if isinstance(data, dict) else {}), declared
    return json_format.read_cameras_json(file, data), declared


def read_path(path: str | Path, convention: str | None = None) -> CameraPath:
    """A path from ``.json`` or ``.csv`` (the player's original entry point): the convention
    is the file's, else ``convention``, else the format's default; a file and a
    ``convention`` that disagree are an error."""
    return load_path(path, convention=convention)


def save_usd(path: CameraPath, file: str | Path, **kwargs) -> Path:
    """Write ``path`` as a USD camera (see :func:`.usd.write_usd` for the keywords)."""
    from latentstage.engine_bridge.paths.usd import write_usd

    return write_usd(path, file, **kwargs)
