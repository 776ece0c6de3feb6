"""Configuration of FreeD-tracked cameras: listen addresses, worlds, lenses, stage transforms.

``latentstage serve --freed ADDR:PORT`` makes one tracked camera from command-line options;
``--freed-config FILE`` (JSON, or TOML by its ``.toml`` suffix) makes several::

    [worlds.stage]                       # worlds created when the server starts
    procedural = { seed = 7, kind = "outdoor" }   # or: snapshot = "stage-a"

    [[cameras]]
    name = "main"                        # what Open.tracked_camera names
    freed_camera_id = 1                  # byte 1 of the D1 packets
    listen = "127.0.0.1:40000"           # or a vendor preset: "mosys", "0.0.0.0:sony", ...
    world = "stage"                      # a key of [worlds]
    lens = "lenses/zoom.json"            # calibration file (relative to this file) or builtin:NAME
    transform = "unreal"                 # "freed", "unreal", or a table (see StageTransform)
    unreal_compat = true                 # default: the transform preset's

Cameras naming the same world share it (a wall's frustum and the inner frustum). Cameras on
the same address share one UDP socket (port 0 too: one free port for all of them) and are told
apart by their FreeD camera id. Every error
names the offending key, e.g. ``cameras[1].freed_camera_id``. See docs/freed.md.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from latentstage.runtime import lens_calibration
from latentstage.runtime.errors import InvalidInput, NotFound
from latentstage.runtime.freed import DEFAULT_PORTS
from latentstage.runtime.lens_calibration import LensCalibration
from latentstage.runtime.types import ProceduralSource, SnapshotSource, WorldSpec

DEFAULT_HOST = "127.0.0.1"  # the listener binds loopback unless told otherwise
DEFAULT_LISTEN = "generic"  # FreeD's generic port, 40000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CAMERA_KEYS = {"name", "freed_camera_id", "listen", "world", "lens", "transform", "unreal_compat"}
_TRANSFORM_KEYS = {"preset", "origin_m", "yaw_deg", "scale"}


@dataclass(frozen=True)
class StageTransform:
    """Tracker space to the world: ``p_world = scale * Rz(yaw) @ p_tracker + origin`` and the
    camera's rotation turned by ``Rz(yaw)`` (Z up, counter-clockwise seen from above)."""

    origin_m: tuple[float, float, float] = (0.0, 0.0, 0.0)  # tracker origin in the world, metres
    yaw_deg: float = 0.0  # turn of the tracker's axes about world Z, degrees
    scale: float = 1.0  # world metres per tracker metre, > 0

    def apply(self, c2w: np.ndarray) -> np.ndarray:
        """The world camera-to-world [4, 4] of a tracker-space one [4, 4]."""
        a = math.radians(self.yaw_deg)
        turn = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0],
                         [0.0, 0.0, 1.0]])  # [3, 3]
        out = np.eye(4)
        out[:3, :3] = turn @ c2w[:3, :3]
        out[:3, 3] = self.scale * (turn @ c2w[:3, 3]) + np.asarray(self.origin_m)
        return out


#: Stage presets: the transform and the default ``unreal_compat``. ``freed`` is the project's
#: FreeD world (runtime/freed.py). ``unreal`` is Unreal LiveLinkFreeD's: that world turned -90
#: degrees about Z (Unreal X = FreeD Y, Unreal Y = FreeD X), decoded with Unreal's sign
#: extension, so a packet renders exactly as the camera LiveLinkFreeD would drive in Unreal.
STAGE_PRESETS: dict[str, tuple[StageTransform, bool]] = {
    "freed": (StageTransform(), False),
    "unreal": (StageTransform(yaw_deg=-90.0), True),
}


@dataclass(frozen=True)
class WorldRef:
    """A world created when the server starts, for tracked cameras."""

    name: str  # its key in the config (and the world's label)
    seed: int | None = None  # procedural world seed, or None for a snapshot
    kind: str = "outdoor"  # procedural world kind: "indoor" or "outdoor"
    snapshot: str | None = None  # snapshot name in the server's snapshot folder

    def spec(self) -> WorldSpec:
        source = (SnapshotSource(name=self.snapshot) if self.snapshot is not None
                  else ProceduralSource(int(self.seed or 0), self.kind))
        return WorldSpec(source, self.name, keep=True)


@dataclass(frozen=True)
class TrackedCameraConfig:
    """One tracked camera."""

    name: str  # what Open.tracked_camera names
    freed_camera_id: int  # FreeD camera id, 0..255
    host: str  # UDP address to bind
    port: int  # UDP port to bind (0: any free port)
    world: WorldRef  # the world its frames come from
    lens: LensCalibration | None  # zoom/focus calibration; None: sessions are refused
    transform: StageTransform = StageTransform()  # tracker space to the world
    unreal_compat: bool = False  # decode with Unreal LiveLinkFreeD's sign extension

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class FreeDConfig:
    """Every tracked camera of a server."""

    cameras: tuple[TrackedCameraConfig, ...]  # at least one; names and (address, id) unique


# ----- parsing ---------------------------------------------------------------------------------
def parse_listen(text: str, field: str = "listen") -> tuple[str, int]:
    """``ADDR:PORT``, ``PORT``, ``ADDR:PRESET`` or ``PRESET`` (generic, mosys, stype, ncam,
    panasonic, sony) as (host, port); the host defaults to 127.0.0.1, IPv6 is ``[ADDR]:PORT``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(field, text, "ADDR:PORT, PORT or a vendor preset")
    text = text.strip()
    host, port_text = DEFAULT_HOST, text
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise InvalidInput(field, text, "[IPv6]:PORT")
        host, port_text = text[1:end], text[end + 2 :]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        host = host or DEFAULT_HOST
    elif ":" in text:
        raise InvalidInput(field, text, "an IPv6 address in brackets: [ADDR]:PORT")
    presets = ", ".join(sorted(DEFAULT_PORTS))
    if port_text.lower() in DEFAULT_PORTS:
        return host, DEFAULT_PORTS[port_text.lower()]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise InvalidInput(field, text, f"a port 0..65535 or a vendor preset ({presets})")
    return host, int(port_text)


def _transform(value, field: str) -> tuple[StageTransform, bool]:
    """A preset name or a table; returns the transform and the preset's unreal_compat."""
    if isinstance(value, str):
        if value not in STAGE_PRESETS:
            raise InvalidInput(field, value, f"one of {', '.join(STAGE_PRESETS)} or a table")
        return STAGE_PRESETS[value]
    if not isinstance(value, dict) or set(value) - _TRANSFORM_KEYS:
        raise InvalidInput(field, value, f"a preset name or a table of {sorted(_TRANSFORM_KEYS)}")
    base, compat = _transform(value.get("preset", "freed"), f"{field}.preset")
    out = base
    if "origin_m" in value:
        origin = value["origin_m"]
        if (not isinstance(origin, list) or len(origin) != 3 or
                not all(_is_number(v) and math.isfinite(v) for v in origin)):
            raise InvalidInput(f"{field}.origin_m", origin, "[x, y, z] metres")
        out = replace(out, origin_m=tuple(float(v) for v in origin))
    if "yaw_deg" in value:
        yaw = value["yaw_deg"]
        if not (_is_number(yaw) and math.isfinite(yaw)):
            raise InvalidInput(f"{field}.yaw_deg", yaw, "a finite number of degrees")
        out = replace(out, yaw_deg=float(yaw))
    if "scale" in value:
        scale = value["scale"]
        if not (_is_number(scale) and math.isfinite(scale) and scale > 0):
            raise InvalidInput(f"{field}.scale", scale, "a number > 0 (world m per tracker m)")
        out = replace(out, scale=float(scale))
    return out, compat


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _world(name: str, table, field: str) -> WorldRef:
    if not _NAME.match(name):
        raise InvalidInput(field, name, "a name of 1..64 characters A-Z a-z 0-9 . _ -")
    if not isinstance(table, dict) or len(table) != 1 or not set(table) <= {"procedural",
                                                                             "snapshot"}:
        raise InvalidInput(field, table, "one of procedural = {seed, kind} or snapshot = NAME")
    if "snapshot" in table:
        snap = table["snapshot"]
        if not isinstance(snap, str) or not snap:
            raise InvalidInput(f"{field}.snapshot", snap, "a snapshot name")
        return WorldRef(name, snapshot=snap)
    proc = table["procedural"]
    if not isinstance(proc, dict) or set(proc) - {"seed", "kind"}:
        raise InvalidInput(f"{field}.procedural", proc, "a table of seed and kind")
    seed, kind = proc.get("seed", 0), proc.get("kind", "outdoor")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InvalidInput(f"{field}.procedural.seed", seed, "an integer 0..2^63-1")
    if kind not in ("indoor", "outdoor"):
        raise InvalidInput(f"{field}.procedural.kind", kind, "indoor or outdoor")
    return WorldRef(name, seed=seed, kind=kind)


def _lens(ref, field: str, base_dir: Path | None) -> LensCalibration | None:
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref:
        raise InvalidInput(field, ref, "a calibration file (.json or .csv) or builtin:NAME")
    try:
        return lens_calibration.load(ref, base_dir)
    except NotFound as exc:
        raise InvalidInput(field, ref, f"an existing calibration ({exc})") from None


def camera_from_dict(data, field: str, worlds: dict[str, WorldRef],
                     base_dir: Path | None) -> TrackedCameraConfig:
    """One ``[[cameras]]`` entry."""
    if not isinstance(data, dict):
        raise InvalidInput(field, data, "a table")
    unknown = sorted(set(data) - _CAMERA_KEYS)
    if unknown:
        raise InvalidInput(f"{field}.{unknown[0]}", unknown[0],
                           f"one of the keys {', '.join(sorted(_CAMERA_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"{field}.name", name, "a name of 1..64 characters A-Z a-z 0-9 . _ -")
    cid = data.get("freed_camera_id")
    if isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid <= 255:
        raise InvalidInput(f"{field}.freed_camera_id", cid, "an integer 0..255 (required)")
    host, port = parse_listen(data.get("listen", DEFAULT_LISTEN), f"{field}.listen")
    world = data.get("world")
    if world not in worlds:
        raise InvalidInput(f"{field}.world", world, f"one of the [worlds]: {sorted(worlds)}")
    transform, compat = _transform(data.get("transform", "freed"), f"{field}.transform")
    compat = data.get("unreal_compat", compat)
    if not isinstance(compat, bool):
        raise InvalidInput(f"{field}.unreal_compat", compat, "true or false")
    lens = _lens(data.get("lens"), f"{field}.lens", base_dir)
    return TrackedCameraConfig(name, cid, host, port, worlds[world], lens, transform, compat)


def from_dict(data, base_dir: Path | None = None, source: str = "freed config") -> FreeDConfig:
    """A :class:`FreeDConfig` from the parsed file (see the module docstring)."""
    if not isinstance(data, dict) or set(data) - {"worlds", "cameras"}:
        raise InvalidInput(source, data if not isinstance(data, dict) else sorted(data),
                           "a table with worlds and cameras")
    raw_worlds = data.get("worlds", {})
    if not isinstance(raw_worlds, dict):
        raise InvalidInput("worlds", raw_worlds, "a table of named worlds")
    worlds = {k: _world(k, v, f"worlds.{k}") for k, v in raw_worlds.items()}
    cams = data.get("cameras")
    if not isinstance(cams, list) or not cams:
        raise InvalidInput("cameras", cams, "a non-empty list of cameras ([[cameras]])")
    out = [camera_from_dict(c, f"cameras[{i}]", worlds, base_dir) for i, c in enumerate(cams)]
    seen_names: set[str] = set()
    seen_ids: set[tuple[str, int, int]] = set()
    for i, cam in enumerate(out):
        key = (cam.host, cam.port, cam.freed_camera_id)
        if cam.name in seen_names:
            raise InvalidInput(f"cameras[{i}].name", cam.name, "a name no other camera has")
        if key in seen_ids:
            raise InvalidInput(f"cameras[{i}].freed_camera_id", cam.freed_camera_id,
                               f"an id no other camera on {cam.listen} has")
        seen_names.add(cam.name)
        seen_ids.add(key)
    return FreeDConfig(tuple(out))


def load_config(path: str | Path) -> FreeDConfig:
    """Read a JSON or TOML (``.toml``) config; relative lens paths are from its folder."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput("--freed-config", str(path), "an existing JSON or TOML file")
    text = path.read_text()
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("--freed-config", str(path), f"valid JSON or TOML ({exc})") from None
    return from_dict(data, path.parent, str(path))


def single_camera(listen: str, camera_id: int = 0, world: str = "procedural:0:outdoor",
                  lens: str | None = None, transform: str = "freed",
                  name: str | None = None) -> FreeDConfig:
    """The one-camera config of ``serve --freed`` (``world``: procedural:SEED[:KIND] or
    snapshot:NAME, as ``latentstage client play --world``)."""
    if world.startswith("snapshot:"):
        table = {"snapshot": world.removeprefix("snapshot:")}
    elif world.startswith("procedural:"):
        seed, _, kind = world.removeprefix("procedural:").partition(":")
        if not seed.isdigit():
            raise InvalidInput("--freed-world", world, "procedural:SEED[:KIND] or snapshot:NAME")
        table = {"procedural": {"seed": int(seed), "kind": kind or "outdoor"}}
    else:
        raise InvalidInput("--freed-world", world, "procedural:SEED[:KIND] or snapshot:NAME")
    camera = {"name": name or f"camera{camera_id}", "freed_camera_id": camera_id,
              "listen": listen, "world": "tracked", "transform": transform}
    if lens is not None:
        camera["lens"] = lens
    return from_dict({"worlds": {"tracked": table}, "cameras": [camera]}, Path.cwd(), "--freed")
