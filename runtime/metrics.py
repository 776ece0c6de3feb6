"""Prometheus metrics of a server (prometheus-client), one registry per server.

Exported (``--metrics-port``, path ``/metrics``):

| metric | type | meaning |
|---|---|---|
| ``latentstage_frame_latency_seconds`` | histogram | pose received to frame ready to send |
| ``latentstage_frame_stage_seconds{stage}`` | histogram | per stage: queue ... encode |
| ``latentstage_frames_total{rung}`` | counter | frames rendered, by degradation rung |
| ``latentstage_degraded_frames_total{rung}`` | counter | frames below the full rung |
| ``latentstage_poses_dropped_total`` | counter | poses replaced before rendering (latest wins) |
| ``latentstage_frames_dropped_total`` | counter | frames dropped for slow readers |
| ``latentstage_fps`` | gauge | frames per second over the last 5 s, all sessions |
| ``latentstage_sessions`` | gauge | open sessions |
| ``latentstage_worlds`` | gauge | worlds in memory |
| ``latentstage_memory_bytes`` | gauge | bytes held by all worlds' latent memories |
| ``latentstage_freed_packets_total{camera}`` | counter | valid FreeD packets per camera |
| ``latentstage_freed_dropped_total{listen,reason}`` | counter | FreeD datagrams dropped (1) |

(1) reason: length, type, checksum, unmapped_camera or internal (see runtime/tracking.py).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from latentstage.runtime.scheduler import SessionObserver
from latentstage.runtime.tracking import TrackerObserver
from latentstage.runtime.types import FrameOut, Rung

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0,
                    2.5, 5.0)
_FPS_WINDOW_S = 5.0


class ServerMetrics(SessionObserver, TrackerObserver):
    """The server's metrics; also the scheduler's and the FreeD tracker's observer (one per
    server)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry()
        self.latency = Histogram("latentstage_frame_latency_seconds",
                                 "Pose received to frame ready to send.",
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("latentstage_frame_stage_seconds", "Time per frame stage.",
                               ["stage"], buckets=_LATENCY_BUCKETS, registry=r)
        self.frames = Counter("latentstage_frames", "Frames rendered.", ["rung"], registry=r)
        self.degraded = Counter("latentstage_degraded_frames",
                                "Frames below the full rung.", ["rung"], registry=r)
        self.poses = Counter("latentstage_poses_dropped",
                             "Poses replaced by newer ones before rendering.", registry=r)
        self.dropped = Counter("latentstage_frames_dropped",
                               "Frames dropped because a client read too slowly.", registry=r)
        self.fps = Gauge("latentstage_fps", "Frames per second over the last 5 s.", registry=r)
        self.sessions = Gauge("latentstage_sessions", "Open sessions.", registry=r)
        self.worlds = Gauge("latentstage_worlds", "Worlds in memory.", registry=r)
        self.memory = Gauge("latentstage_memory_bytes", "Bytes held by latent memories.",
                            registry=r)
        self.freed_packets = Counter("latentstage_freed_packets",
                                     "Valid FreeD D1 packets per tracked camera.", ["camera"],
                                     registry=r)
        self.freed_drops = Counter("latentstage_freed_dropped", "FreeD datagrams dropped, by "
                                   "listen address and reason.", ["listen", "reason"], registry=r)
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.fps.set_function(self._fps)

    def bind(self, sessions: Callable[[], float], worlds: Callable[[], float],
             memory_bytes: Callable[[], float]) -> None:
        """Read the gauges from the core at scrape time."""
        self.sessions.set_function(sessions)
        self.worlds.set_function(worlds)
        self.memory.set_function(memory_bytes)

    def _fps(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._times and self._times[0] < now - _FPS_WINDOW_S:
                self._times.popleft()
            return len(self._times) / _FPS_WINDOW_S

    # ----- SessionObserver -----------------------------------------------------------------
    def frame(self, frame: FrameOut) -> None:
        t = frame.timing
        self.latency.observe(t.total)
        for stage in ("queue", "readout", "generate", "decode", "write", "encode"):
            self.stage.labels(stage).observe(getattr(t, stage))
        rung = frame.rung.name.lower()
        self.frames.labels(rung).inc()
        if frame.rung is not Rung.FULL:
            self.degraded.labels(rung).inc()
        with self._lock:
            self._times.append(time.monotonic())

    def poses_skipped(self, count: int) -> None:
        self.poses.inc(count)

    def frames_dropped(self, count: int) -> None:
        self.dropped.inc(count)

    # ----- TrackerObserver -----------------------------------------------------------------
    def freed_packet(self, camera: str) -> None:
        self.freed_packets.labels(camera).inc()

    def freed_dropped(self, listen: str, reason: str) -> None:
        self.freed_drops.labels(listen, reason).inc()

    def serve_http(self, port: int, host: str = "127.0.0.1"):
        """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns (server, thread)."""
        return start_http_server(port, addr=host, registry=self.registry)
