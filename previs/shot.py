"""A shot: a camera path read from a file, converted once to canonical cameras at one size.

Paths are read by :func:`latentstage.engine_bridge.paths.read_path` (JSON, CSV; USD when that
module provides it) and converted by the runtime's own edge translation (the same code a
served session uses), so a shot rendered offline and the same path played to a server see
the same cameras.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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

    def __len__(self) -> int:
        return len(self.frames)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """``WxH`` as (W, H) pixels."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InvalidInput(option, text, "WIDTHxHEIGHT, e.g. 256x256") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise InvalidInput(option, text, "each side in 16..8192 pixels")
    return w, h


def load_shot(path: str | Path, size: tuple[int, int] | None = None,
              convention: str | None = None, stride: int = 8,
              fov_deg: float = DEFAULT_FOV_DEG) -> Shot:
    """Read the camera path at ``path`` and convert every pose to canonical form at ``size``
    (default: the file's own size, else 256x256). Raises ``ValueError`` naming the file,
    line or field of a bad value (see :mod:`latentstage.engine_bridge.paths`)."""
    from latentstage.engine_bridge.paths import read_path
    from latentstage.engine_bridge.play import to_pose

    path = Path(path)
    cam = read_path(path, convention)
    width, height = size or cam.size or (256, 256)
    conv = Convention(cam.convention)
    declared = getattr(cam, "stage", None)  # a path reader that knows the stage's settings
    stage = stage_from_proto(conv, declared if isinstance(declared, cpb.Stage) else cpb.Stage(),
                             "stage")
    edge = Edge(conv, stage, width, height, stride, DEFAULT_BOUNDS,
                intrinsics=Intrinsics.from_fov(fov_deg, width, height))
    frames = []
    for i, sample in enumerate(cam.samples):
        try:
            pose = pose_from_proto(to_pose(sample, 0, 25), edge)
        except InvalidInput as exc:
            raise ValueError(f"{path}: frame {i} (frame_id {sample.frame_id}): {exc}") from None
        frames.append(ShotFrame(i, sample.frame_id, pose.c2w, edge.intrinsics, sample.time_s,
                                sample.timecode))
    return Shot(path, file_sha256(path), cam.convention, (width, height), cam.fps, cam.world,
                frames)


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
