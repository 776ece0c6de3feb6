"""The camera-path player: stream a path to a server, save the frames, measure latency.

LOCKSTEP (default): every pose is rendered in order; up to ``window`` poses are in flight, so
``window = 1`` measures pure pose-to-frame latency and a larger window overlaps transport
with generation. REALTIME: poses are sent at the path's timestamps (or ``fps``) and the server
applies latest-wins and its degradation ladder; skipped poses are counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths import CameraPath, PathSample
from latentstage.v1 import service_pb2 as pb

log = logging.getLogger(__name__)


@dataclass
class PlayReport:
    """What a play run measured."""

    frames: int = 0  # frames received
    poses: int = 0  # poses sent
    skipped: int = 0  # poses the server skipped (REALTIME)
    dropped: int = 0  # frames the server dropped for this (slow) client
    errors: list[str] = field(default_factory=list)  # Error messages received
    latency_ms: list[float] = field(default_factory=list)  # pose sent -> frame received
    server_ms: dict[str, list[float]] = field(default_factory=dict)  # timing breakdown
    rungs: dict[str, int] = field(default_factory=dict)  # frames per degradation rung
    seconds: float = 0.0  # wall time from first pose to last frame

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latency_ms, q)) if self.latency_ms else float("nan")

    def summary(self) -> dict:
        med = {k: float(np.median(v)) for k, v in self.server_ms.items() if v}
        return {"frames": self.frames, "poses": self.poses, "skipped": self.skipped,
                "dropped": self.dropped, "errors": len(self.errors), "fps": self.fps,
                "latency_ms": {"p50": self.percentile(50), "p95": self.percentile(95),
                               "p99": self.percentile(99)},
                "server_median_ms": med, "rungs": self.rungs}


def to_pose(sample: PathSample, start_ns: int, timecode_rate) -> pb.Pose:
    capture = start_ns + int((sample.time_s or 0.0) * 1e9)
    tc = C.timecode(sample.timecode, timecode_rate) if sample.timecode else None
    return C.pose(sample.frame_id, sample.position, sample.rotation, sample.lens,
                  capture_time_ns=capture, tc=tc)


class _Recorder:
    """Collects frames: latency, server timing, rungs; writes PNGs on a thread pool."""

    def __init__(self, out: Path | None, report: PlayReport,
                 sink: Callable[[pb.Frame], None] | None = None):
        self.out, self.report, self.sink = out, report, sink
        self.sent: dict[int, float] = {}
        self.time_codes: dict[int, float] = {}  # frame id -> the path's (USD) time code
        self.meta: list[dict] = []
        self._pool = ThreadPoolExecutor(2) if out is not None else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)

    def frame(self, frame: pb.Frame) -> None:
        r = self.report
        now = time.perf_counter()
        r.frames += 1
        if frame.frame_id in self.sent:
            r.latency_ms.append((now - self.sent.pop(frame.frame_id)) * 1e3)
        for name in ("queue", "readout", "generate", "decode", "write", "encode", "total"):
            r.server_ms.setdefault(name, []).append(getattr(frame.timing, f"{name}_ms"))
        rung = pb.Rung.Name(frame.rung).removeprefix("RUNG_").lower()
        r.rungs[rung] = r.rungs.get(rung, 0) + 1
        r.skipped, r.dropped = frame.poses_skipped, frame.frames_dropped
        self.meta.append({"frame_id": frame.frame_id, "rung": rung,
                          "rendered_c2w": list(frame.rendered_c2w.m),
                          "total_ms": frame.timing.total_ms})
        if frame.frame_id in self.time_codes:
            self.meta[-1]["time_code"] = self.time_codes[frame.frame_id]
        if self.sink is not None:
            self.sink(frame)
        if self._pool is not None:
            self._pool.submit(_save_png, self.out / f"{frame.frame_id:06d}.png",
                              C.frame_pixels(frame))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            (self.out / "frames.json").write_text(json.dumps(self.meta, indent=1))


def _save_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path)


async def play(client: C.AsyncClient, path: CameraPath, open_msg: pb.Open,
               out: Path | None = None, *, window: int = 1, fps: float | None = None,
               timecode_rate=25, tick: Callable[[int], None] | None = None,
               sink: Callable[[pb.Frame], None] | None = None) -> PlayReport:
    """Stream ``path`` on a new session opened with ``open_msg``; frames go to ``out`` as PNG
    and to ``sink`` (e.g. an mp4 writer) as they arrive."""
    report = PlayReport()
    rec = _Recorder(out, report, sink)
    rec.time_codes = {s.frame_id: s.time_code for s in path.samples if s.time_code is not None}
    realtime = open_msg.pacing != pb.PACING_LOCKSTEP
    start_ns = time.monotonic_ns()
    try:
        async with client.session(open_msg) as session:
            t0 = time.perf_counter()
            if realtime:
                await _play_realtime(session, path, rec, start_ns, fps, timecode_rate, tick)
            else:
                await _play_lockstep(session, path, rec, start_ns, window, timecode_rate, tick)
            report.seconds = time.perf_counter() - t0
            report.errors = [e.message for e in session.errors]
    finally:
        rec.close()
    report.poses = len(path.samples)
    return report


async def _play_lockstep(session: C.AsyncSession, path: CameraPath, rec: _Recorder,
                         start_ns: int, window: int, rate, tick) -> None:
    samples = path.samples
    sent = done = 0
    while done < len(samples):
        while sent < len(samples) and sent - done < window:
            rec.sent[samples[sent].frame_id] = time.perf_counter()
            await session.send(to_pose(samples[sent], start_ns, rate))
            sent += 1
        result = await session.next_result()
        done += 1
        if isinstance(result, pb.Frame):
            rec.frame(result)
        if tick is not None:
            tick(done)


async def _play_realtime(session: C.AsyncSession, path: CameraPath, rec: _Recorder,
                         start_ns: int, fps: float | None, rate, tick) -> None:
    samples = path.samples
    period = 1.0 / fps if fps else None

    async def sender() -> None:
        t0 = time.perf_counter()
        for i, s in enumerate(samples):
            due = i * period if period else (s.time_s if s.time_s is not None else i / 30.0)
            await asyncio.sleep(max(0.0, t0 + due - time.perf_counter()))
            rec.sent[s.frame_id] = time.perf_counter()
            await session.send(to_pose(s, start_ns, rate))
        await session.call.write(pb.SessionRequest(close=pb.Close()))
        await session.call.done_writing()

    task = asyncio.create_task(sender())
    try:
        while True:
            try:
                frame = await session.next_frame()
            except C.SessionClosed:
                break
            rec.frame(frame)
            if tick is not None:
                tick(rec.report.frames)
    finally:
        await task
