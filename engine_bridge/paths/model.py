"""The in-memory camera path every format reads into, and what the file or the command line
declared about it (units, up axis, convention)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from latentstage.runtime import translate
from latentstage.runtime.conventions import Convention
from latentstage.runtime.errors import InvalidInput
from latentstage.v1 import camera_pb2 as cpb


@dataclass
class PathSample:
    """One camera of a path, ready to become a Pose."""

    frame_id: int  # frame number
    time_s: float | None  # seconds from the path's start, or None
    position: np.ndarray  # [3] in the convention's units (times the stage's metres per unit)
    rotation: cpb.Rotation  # in the convention
    lens: cpb.Lens | None  # None: the session's lens
    timecode: str | None = None  # "HH:MM:SS:FF" or None
    time_code: float | None = None  # USD time code this sample was read at (or written to)


@dataclass
class Declared:
    """What a file or the command line says about a path's coordinates; None: not said."""

    units: str | None = None  # unit name ("m", "cm", "mm", "in", ...) or metres per unit as text
    up_axis: str | None = None  # "y" or "z"
    convention: str | None = None  # one of fields.CONVENTIONS

    def merge(self, other: Declared, source: str, other_source: str) -> Declared:
        """``self`` completed by ``other``; a setting the two give differently is an error."""
        out = Declared()
        for name in ("units", "up_axis", "convention"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None and theirs is not None and str(mine).lower() != str(theirs).lower():
                raise ValueError(f"{source} declares {name} {mine!r} but {other_source} gives "
                                 f"{theirs!r}")
            setattr(out, name, mine if mine is not None else theirs)
        return out


@dataclass
class CameraPath:
    """A camera path in one wire convention (and that convention's Stage settings)."""

    convention: str  # "opencv", "unreal", "unity", ... ("" until known)
    samples: list[PathSample]  # in order
    size: tuple[int, int] | None = None  # (W, H) of the file's intrinsics, if any
    fps: float | None = None  # declared frame rate, if any
    world: dict | None = None  # {"seed": int, "kind": str} when the file names its world
    meters_per_unit: float = 0.0  # Open.stage.meters_per_unit (0: the convention's default)
    up_axis: str = ""  # Open.stage.up_axis: "y", "z" or "" (the convention's default)
    units: str = ""  # how positions were read: "cm (declared)", "cm (unreal default)", ...
    clipping_range: tuple[float, float] | None = None  # near, far in metres (USD), if any
    time_codes_per_second: float | None = None  # USD timeCodesPerSecond of the source, if any
    source_format: str = ""  # "json", "csv", "nerfstudio" or "usd"
    warnings: list[str] = field(default_factory=list)  # plausibility and assumption notes

    def stage(self) -> cpb.Stage | None:
        """The Open.stage for this path, or None when the convention's defaults apply."""
        if not self.meters_per_unit and not self.up_axis:
            return None
        up = {"": cpb.UP_AXIS_UNSPECIFIED, "y": cpb.UP_AXIS_Y, "z": cpb.UP_AXIS_Z}[self.up_axis]
        return cpb.Stage(meters_per_unit=self.meters_per_unit, up_axis=up)

    def canonical_c2w(self) -> np.ndarray:
        """Camera-to-world [N, 4, 4] in the canonical frame (Z-up right-handed metres, OpenCV
        camera axes), converted exactly as the server converts the poses this path sends."""
        conv = Convention(self.convention or "opencv")
        try:
            stage = translate.stage_from_proto(conv, self.stage() or cpb.Stage(), "stage")
            out = [translate.camera_to_canonical(
                conv, stage, cpb.Vec3(x=s.position[0], y=s.position[1], z=s.position[2]),
                s.rotation, f"frames[{i}]") for i, s in enumerate(self.samples)]
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        return np.stack(out) if out else np.zeros((0, 4, 4))
