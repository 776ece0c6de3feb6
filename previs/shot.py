"""A shot: a camera path read from a file, converted once to canonical cameras at one size.

Paths are read by :func:`latentstage.engine_bridge.paths.read_path` (JSON, CSV; USD when that
module provides it) and converted by the runtime's own edge translation (the same code a
served session uses), so a shot rendered offline and the same path played to a server see
the same cameras.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentstage.runtime.camera import DEFAULT_BOUNDS, Intrinsics
from latentstage.runtime.conventions import Convention
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.translate import Edge, pose_from_proto, stage_from_proto
from latentstage.v1 import camera_pb2 as cpb

#: Horizontal field of view of paths that carry no lens, degrees.
DEFAULT_FOV_DEG = 60.0


@dataclass
class ShotFrame:
    """One camera of a shot, canonical."""

    index: int  # position in the shot, 0-based
    frame_id: int  # the path's frame number (selects the noise)
    c2w: np.ndarray  # [4, 4] canonical camera-to-world, metres
    intrinsics: Intrinsics  # at the shot's size, pixels
    time_s: float | None  # seconds from the path's start, or None
    timecode: str | None  # "HH:MM:SS:FF" from the path, or None
    time_code: float | None = None  # the USD time code the camera was read at, or None


@dataclass
class Shot:
    """A camera path ready to render."""

    source: Path  # the path file
    sha256: str  # SHA-256 of the path file's bytes
    convention: str  # the file's convention
    size: tuple[int, int]  # (W, H) pixels
    fps: float | None  # declared frame rate, or None
    world: dict | None  # {"seed", "kind"} when the file names its world
    frames: list[ShotFrame]  # in order
    warnings: list[str] = field(default_factory=list)  # plausibility notes (units, axes)
    stage: cpb.Stage | None = None  # the file's units and up axis (Open.stage), if declared

    def __len__(self) -> int:
        return len(self.frames)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """``WxH`` as (W, H) pixels, each side 16..8192 (the runtime's one size parser)."""
    from latentstage.runtime.sizes import parse_size as parse

    w, h = parse(text, option)
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise InvalidInput(option, text, "each side in 16..8192 pixels")
    return w, h


def load_shot(path: str | Path, size: tuple[int, int] | None = None,
              convention: str | None = None, stride: int = 8,
              fov_deg: float = DEFAULT_FOV_DEG, *, units: str | None = None,
              up_axis: str | None = None, camera: str | None = None) -> Shot:
    """Read the camera path at ``path`` and convert every pose to canonical form at ``size``
    (default: the file's own size, else 256x256). Raises ``ValueError`` naming the file,
    line or field of a bad value (see :mod:`latentstage.engine_bridge.paths`)."""
    from latentstage.engine_bridge.paths import load_path
    from latentstage.engine_bridge.play import to_pose

    path = Path(path)
    cam = load_path(path, units=units, up_axis=up_axis, convention=convention, camera=camera)
    width, height = size or cam.size or (256, 256)
    conv = Convention(cam.convention)
    # The file's units and up axis (a USD stage's metersPerUnit and upAxis, a CSV's declared
    # units), exactly as Open.stage carries them to a server.
    stage = stage_from_proto(conv, cam.stage() or cpb.Stage(), "stage")
    edge = Edge(conv, stage, width, height, stride, DEFAULT_BOUNDS,
                intrinsics=Intrinsics.from_fov(fov_deg, width, height))
    frames = []
    for i, sample in enumerate(cam.samples):
        try:
            pose = pose_from_proto(to_pose(sample, 0, 25), edge)
        except InvalidInput as exc:
            raise ValueError(f"{path}: frame {i} (frame_id {sample.frame_id}): {exc}") from None
        frames.append(ShotFrame(i, sample.frame_id, pose.c2w, edge.intrinsics, sample.time_s,
                                sample.timecode, sample.time_code))
    return Shot(path, file_sha256(path), cam.convention, (width, height), cam.fps, cam.world,
                frames, list(cam.warnings), cam.stage())


def frame_range(text: str | None, count: int) -> range:
    """``A:B`` (either side optional, B exclusive) as a range of shot indices."""
    if not text:
        return range(count)
    try:
        a, _, b = text.partition(":")
        start = int(a) if a else 0
        stop = int(b) if b else count
    except ValueError:
        raise InvalidInput("--frames", text, "A:B frame indices (B exclusive), e.g. 0:48") \
            from None
    if not 0 <= start < stop <= count:
        raise InvalidInput("--frames", text, f"0 <= A < B <= {count} (the shot's frames)")
    return range(start, stop)
