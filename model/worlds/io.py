"""Writing rendered worlds to disk: PNG frames, depth, sky masks, cameras.json and a video.

Layout of an output directory::

    frames/000000.png   RGB8
    depth/000000.npy    float32 [H, W] metres along the optical axis, +inf at sky
    sky/000000.png      L8 mask, 255 where the pixel sees the sky
    cameras.json        conventions, intrinsics, fps, and per frame: files, c2w, timestamp
    flythrough.mp4      optional H.264 (or MPEG-4 Part 2) yuv420p video

cameras.json names its conventions: OpenCV camera axes, world Z up right-handed metres,
camera-to-world poses; ``fps`` is a rational ``[numerator, denominator]``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.errors import CorruptFile

CONVENTION = {"convention": "opencv", "world": "z-up right-handed metres",
              "pose": "camera-to-world"}
DEPTH_NOTE = "float32 .npy, metres along the optical axis, inf at sky"


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """RGB [3, H, W] float in [0, 1] as an [H, W, 3] uint8 array (rounded)."""
    return (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@dataclass
class FrameRecord:
    """One written frame, as listed in cameras.json."""

    index: int  # frame number
    image: str  # RGB PNG path relative to the output directory
    depth: str  # depth .npy path relative to the output directory
    sky: str  # sky mask PNG path relative to the output directory
    c2w: list[list[float]]  # 4x4 camera-to-world
    timestamp_ns: int  # capture time, ns

    def to_json(self) -> dict:
        return self.__dict__.copy()


class FrameWriter:
    """Writes frames, depth and sky masks under ``out`` and, at :meth:`close`, cameras.json."""

    def __init__(self, out: Path, intrinsics: Intrinsics, fps: Fraction, meta: dict | None = None):
        self.out = Path(out)
        for sub in ("frames", "depth", "sky"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.intrinsics = intrinsics
        self.fps = fps
        self.meta = meta or {}
        self.records: list[FrameRecord] = []

    def write(self, index: int, rgb: torch.Tensor, depth: torch.Tensor, sky: torch.Tensor,
              c2w: np.ndarray, timestamp_ns: int) -> np.ndarray:
        """Write frame ``index`` (rgb [3, H, W], depth [H, W], sky [H, W]); return its RGB8."""
        name = f"{index:06d}"
        rec = FrameRecord(index, f"frames/{name}.png", f"depth/{name}.npy", f"sky/{name}.png",
                          np.asarray(c2w, np.float64).tolist(), int(timestamp_ns))
        img = to_uint8(rgb)
        Image.fromarray(img).save(self.out / rec.image, compress_level=1)
        np.save(self.out / rec.depth, depth.detach().cpu().numpy().astype(np.float32))
        mask = sky.detach().cpu().numpy().astype(np.uint8) * 255
        Image.fromarray(mask).save(self.out / rec.sky, compress_level=1)
        self.records.append(rec)
        return img

    def close(self) -> Path:
        """Write cameras.json atomically; return its path."""
        k = self.intrinsics
        doc = {
            **CONVENTION,
            "depth": DEPTH_NOTE,
            "intrinsics": {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy, "width": k.width,
                           "height": k.height},
            "fps": [self.fps.numerator, self.fps.denominator],
            **self.meta,
        }
        # One line per top-level field and per frame: readable, and diffs stay small.
        head = ",\n ".join(f"{json.dumps(key)}: {json.dumps(v)}" for key, v in doc.items())
        rows = ",\n  ".join(json.dumps(r.to_json()) for r in self.records)
        text = f'{{\n {head},\n "frames": [\n  {rows}\n ]\n}}\n'
        path = self.out / "cameras.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return path


@dataclass
class CamerasFile:
    """The contents of a cameras.json."""

    intrinsics: Intrinsics  # shared by all frames
    fps: Fraction  # frame rate
    c2w: np.ndarray  # [N, 4, 4] float64
    timestamps_ns: np.ndarray  # [N] int64
    frames: list[dict]  # per-frame records (index, image, depth, sky, c2w, timestamp_ns)
    meta: dict  # everything else (conventions, scene, trajectory)


def read_cameras_json(path: Path) -> CamerasFile:
    """Read a cameras.json written by :class:`FrameWriter`."""
    try:
        doc = json.loads(Path(path).read_text())
        k = doc["intrinsics"]
        intr = Intrinsics(k["fx"], k["fy"], k["cx"], k["cy"], k["width"], k["height"])
        frames = doc["frames"]
        c2w = np.array([f["c2w"] for f in frames], np.float64).reshape(-1, 4, 4)
        ts = np.array([f["timestamp_ns"] for f in frames], np.int64)
        fps = Fraction(*doc["fps"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFile(f"{path}: not a LatentStage cameras.json ({exc})") from exc
    meta = {key: v for key, v in doc.items() if key not in ("intrinsics", "frames", "fps")}
    return CamerasFile(intr, fps, c2w, ts, frames, meta)


class VideoWriter:
    """An mp4 of RGB8 frames with PyAV: H.264 (libx264) if available, else MPEG-4 Part 2.

    yuv420p needs even sizes, so odd widths or heights are padded by repeating the last
    column or row.
    """

    def __init__(self, path: Path, width: int, height: int, fps: Fraction):
        import av

        self.codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self.container = av.open(str(path), mode="w")
        self.stream = self.container.add_stream(self.codec, rate=fps)
        self.stream.width = width + width % 2
        self.stream.height = height + height % 2
        self.stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            self.stream.options = {"crf": "18", "preset": "veryfast"}
        else:
            self.stream.bit_rate = 8_000_000
        self._frame = av.VideoFrame

    def write(self, rgb8: np.ndarray) -> None:
        """Append one [H, W, 3] uint8 frame."""
        h, w = self.stream.height, self.stream.width
        if rgb8.shape[:2] != (h, w):
            rgb8 = np.pad(rgb8, ((0, h - rgb8.shape[0]), (0, w - rgb8.shape[1]), (0, 0)),
                          mode="edge")
        frame = self._frame.from_ndarray(np.ascontiguousarray(rgb8), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file."""
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
