"""Offline shots: every camera of a path rendered in order, resumable, with a manifest.

A render folder holds::

    frames/000000.png ...        the frames (shot index, not frame id), written atomically
    frames.csv                   one row per frame: pose, rung, steps, timings, memory
    manifest.json                what reproduces the shot (model, backend, device, seed,
                                 world snapshot hash, path hash, versions, time codes)
    path_topdown.png             the path from above, revisits marked
    snapshots/before_*.safetensors   memory snapshots every N frames (see scrub.py)
    shot.mp4                     with --format mp4

Resuming: a render into a folder whose manifest has the same inputs skips the frames that
are already there (a PNG and a table row) and restores the memory before the first missing
frame from the snapshots, so the result equals an uninterrupted render bit for bit.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentstage.previs.engine import InProcessEngine, software_versions
from latentstage.previs.frames import RenderedFrame
from latentstage.previs.scrub import Scrubber
from latentstage.previs.shot import Shot, ShotFrame

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
#: Manifest entries that must match for a folder to be resumed.
_INPUT_KEYS = ("path_sha256", "world", "size", "seed", "steps", "model_id", "backend",
               "device", "snapshot_every", "memory_capacity")
TABLE_COLUMNS = ("index", "frame_id", "time_s", "timecode", "time_code", "x", "y", "z", "c2w",
                 "fx", "fy", "cx", "cy", "rung", "steps", "readout_ms", "generate_ms", "decode_ms",
                 "write_ms", "total_ms", "points", "coverage")


class RenderConflict(ValueError):
    """The output folder holds a different shot."""


@dataclass
class RenderSettings:
    """What a render writes, besides the engine's own settings."""

    out: Path  # render folder
    frames: range  # shot indices to render
    fmt: str = "png"  # "png" (frames only) or "mp4" (frames and shot.mp4)
    snapshot_every: int = 8  # frames between memory snapshots
    world: dict = field(default_factory=dict)  # how the world was given (for the manifest)
    overwrite: bool = False  # replace a folder that holds a different shot


@dataclass
class RenderReport:
    """What a render did."""

    rendered: list[int] = field(default_factory=list)  # indices rendered in this run
    skipped: int = 0  # indices already in the folder (resumed)
    replayed: int = 0  # frames rendered only to rebuild the memory
    seconds: float = 0.0  # wall time of this run's frames
    manifest: dict = field(default_factory=dict)  # the manifest written

    @property
    def fps(self) -> float:
        return len(self.rendered) / self.seconds if self.seconds > 0 else 0.0


def frame_path(out: Path, index: int) -> Path:
    return out / "frames" / f"{index:06d}.png"


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Write ``rgb`` [H, W, 3] uint8 to ``path`` atomically (temporary name, then rename)."""
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(rgb).save(tmp, format="PNG")
    os.replace(tmp, path)


def load_png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def table_row(frame: ShotFrame, out: RenderedFrame) -> dict:
    t, k = out.timing, frame.intrinsics
    ms = {name: round(getattr(t, name) * 1e3, 3) for name in
          ("readout", "generate", "decode", "write")}
    return {"index": frame.index, "frame_id": frame.frame_id,
            "time_s": "" if frame.time_s is None else frame.time_s,
            "timecode": frame.timecode or "",
            "time_code": "" if frame.time_code is None else frame.time_code,
            "x": frame.c2w[0, 3], "y": frame.c2w[1, 3],
            "z": frame.c2w[2, 3], "c2w": " ".join(f"{v:.9g}" for v in frame.c2w.ravel()),
            "fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy, "rung": out.rung.name,
            "steps": out.steps, **{f"{n}_ms": v for n, v in ms.items()},
            "total_ms": round(sum(ms.values()), 3), "points": out.memory.points,
            "coverage": round(out.memory.coverage, 5)}


def read_table(path: Path) -> dict[int, dict]:
    """Rows of ``frames.csv`` by shot index (a later row for an index wins)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {int(r["index"]): r for r in csv.DictReader(f) if r.get("index", "").isdigit()}


def write_table(path: Path, rows: dict[int, dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, TABLE_COLUMNS)
        w.writeheader()
        for i in sorted(rows):
            w.writerow(rows[i])
    os.replace(tmp, path)


def _inputs(engine: InProcessEngine, shot: Shot, settings: RenderSettings) -> dict:
    d = engine.describe()
    return {"path_sha256": shot.sha256, "world": settings.world,
            "size": list(shot.size), "seed": d["seed"], "steps": d["steps"],
            "model_id": d["model_id"], "backend": d["backend"], "device": d["device"],
            "snapshot_every": settings.snapshot_every, "memory_capacity": d["memory_capacity"]}


def _prepare(out: Path, inputs: dict, overwrite: bool) -> None:
    """Make ``out`` a render folder for ``inputs``: new, resumable, or (``overwrite``)
    cleared of a different shot's files."""
    manifest = out / "manifest.json"
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        diff = [k for k in _INPUT_KEYS if old.get(k) != inputs.get(k)]
        if diff and not overwrite:
            raise RenderConflict(
                f"--out {out}: holds a render of different inputs ({', '.join(diff)} differ: "
                f"{', '.join(f'{k}={old.get(k)!r}' for k in diff)}); pass --overwrite or "
                "choose another folder")
        if diff:
            for name in ("frames", "snapshots"):
                shutil.rmtree(out / name, ignore_errors=True)
            for name in ("frames.csv", "manifest.json", "shot.mp4", "path_topdown.png"):
                (out / name).unlink(missing_ok=True)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    (out / "snapshots").mkdir(exist_ok=True)


def _manifest(inputs: dict, engine: InProcessEngine, shot: Shot, settings: RenderSettings,
              world_hash: str, done: list[int]) -> dict:
    used = [shot.frames[i] for i in done]
    return {"format": MANIFEST_FORMAT, **inputs,
            "world_snapshot_sha256": world_hash,
            "world_source": engine.describe()["world_source"],
            "path": {"file": str(shot.source), "convention": shot.convention, "fps": shot.fps,
                     "frames": len(shot)},
            "frames": {"start": settings.frames.start, "stop": settings.frames.stop,
                       "done": len(done)},
            "time_codes": [{"index": f.index, "frame_id": f.frame_id, "time_s": f.time_s,
                            "timecode": f.timecode, "time_code": f.time_code} for f in used],
            "runs": engine.describe()["runs"],
            "software": software_versions(),
            "command": " ".join(sys.argv)}


def render_shot(engine: InProcessEngine, shot: Shot, settings: RenderSettings,
                on_frame: Callable[[int, RenderedFrame | None], None] | None = None
                ) -> RenderReport:
    """Render ``settings.frames`` of ``shot`` into ``settings.out`` (resuming a folder of the
    same inputs). ``on_frame(index, frame)`` is called after each frame (frame None for
    frames already there); an exception from it stops the render, which a later call
    resumes."""
    out = settings.out
    inputs = _inputs(engine, shot, settings)
    _prepare(out, inputs, settings.overwrite)
    scrub = Scrubber(engine, shot, out / "snapshots", settings.snapshot_every)
    rows = read_table(out / "frames.csv")
    done = [i for i in settings.frames if i in rows and frame_path(out, i).is_file()]
    todo = [i for i in settings.frames if i not in set(done)]
    report = RenderReport(skipped=len(done))
    (out / "manifest.json").write_text(json.dumps(
        _manifest(inputs, engine, shot, settings, scrub.world_hash, done), indent=1))
    for i in done:
        if on_frame:
            on_frame(i, None)
    t0 = time.perf_counter()
    try:
        for i in todo:
            scrub.restore(i)
            report.replayed += scrub.last.replayed
            frame = scrub.step()
            save_png(frame_path(out, i), frame.pixels)
            rows[i] = table_row(shot.frames[i], frame)
            write_table(out / "frames.csv", rows)
            report.rendered.append(i)
            done.append(i)
            if on_frame:
                on_frame(i, frame)
    finally:
        report.seconds = time.perf_counter() - t0
        done.sort()
        report.manifest = _manifest(inputs, engine, shot, settings, scrub.world_hash, done)
        (out / "manifest.json").write_text(json.dumps(report.manifest, indent=1))
    from latentstage.previs.plots import plot_topdown

    plot_topdown(shot, out / "path_topdown.png", rendered=settings.frames)
    if settings.fmt == "mp4":
        write_mp4(out, settings.frames, shot.fps or 24.0)
    return report


def write_mp4(out: Path, frames: range, fps: float) -> Path:
    """``shot.mp4`` from the PNG frames of ``frames`` (H.264, or MPEG-4 without libx264)."""
    from latentstage.model.worlds.io import VideoWriter

    first = load_png(frame_path(out, frames.start))
    path = out / "shot.mp4"
    with VideoWriter(path, first.shape[1], first.shape[0],
                     Fraction(fps).limit_denominator(1001)) as video:
        for i in frames:
            video.write(load_png(frame_path(out, i)))
    return path
