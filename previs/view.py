"""``latentstage view``: a local web page to fly a world or scrub a shot.

The page is one static HTML file (``static/index.html``, no external assets) served with the
standard library's threaded HTTP server, bound to 127.0.0.1 by default. The browser speaks
plain HTTP and JSON to this process; frames come back as PNG (lossless, so a seek shows the
offline render's pixels exactly). Model work is serialised by one lock.

Endpoints (JSON in, PNG or JSON out; a PNG's headers carry ``X-Rung``, ``X-Frame``,
``X-Latency-Ms``, ``X-Coverage`` and ``X-Points``):

- ``GET /api/info``: size, field of view, the fly camera's start, the shot's frame count.
- ``POST /api/fly`` ``{x, y, z, yaw, pitch, fov}`` (metres, degrees; world Z up, yaw about Z
  from +X, pitch up from the horizon): the fly world's frame, written to its memory.
- ``GET /api/seek?k=N``: frame N of the loaded shot, as the offline render gives it.
- ``POST /api/world`` ``{world}`` or ``POST /api/seed`` (an image's bytes): a new fly world.
- ``POST /api/save`` / ``POST /api/load`` ``{name}``: snapshots in the snapshot folder.
- ``GET /api/points``: up to 4000 of the fly memory's points (x, y, z) and the cameras flown.
"""

from __future__ import annotations

import io
import json
import logging
import math
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from latentstage.previs.engine import InProcessEngine, open_world
from latentstage.previs.frames import RenderedFrame
from latentstage.previs.scrub import Scrubber
from latentstage.previs.shot import Shot
from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound
from latentstage.runtime.types import check_snapshot_name

log = logging.getLogger(__name__)

_MAX_BODY = 32 << 20  # bytes: a dropped seed image


def camera_from_angles(x: float, y: float, z: float, yaw: float, pitch: float) -> np.ndarray:
    """Canonical c2w [4, 4] at (x, y, z) metres looking along yaw (degrees about Z from +X)
    and pitch (degrees up from the horizon)."""
    a, b = math.radians(yaw), math.radians(max(-89.0, min(89.0, pitch)))
    eye = np.array([x, y, z])
    return look_at(eye, eye + [math.cos(a) * math.cos(b), math.sin(a) * math.cos(b), math.sin(b)])


def angles_from_camera(c2w: np.ndarray) -> dict:
    """The inverse of :func:`camera_from_angles` (roll dropped)."""
    f = c2w[:3, 2]
    return {"x": float(c2w[0, 3]), "y": float(c2w[1, 3]), "z": float(c2w[2, 3]),
            "yaw": math.degrees(math.atan2(f[1], f[0])),
            "pitch": math.degrees(math.asin(max(-1.0, min(1.0, float(f[2])))))}


@dataclass
class Viewer:
    """What the page's backend holds: a fly world, and optionally a shot to scrub."""

    make_engine: object  # (world: str | None, seed_image: Path | None) -> InProcessEngine
    fly: InProcessEngine  # the world being flown (frames are written to it)
    size: tuple[int, int]  # (W, H) of fly frames, pixels
    snapshot_dir: Path  # where save and load keep worlds
    scrub: Scrubber | None = None  # the loaded shot, if any
    fov: float = 60.0  # default horizontal field of view, degrees
    lock: threading.Lock = field(default_factory=threading.Lock)  # model work, one at a time
    frame_id: int = 0  # fly frames rendered (selects the noise)
    flown: list = field(default_factory=list)  # [x, y, z, yaw, pitch] of recent fly frames

    def info(self) -> dict:
        start = angles_from_camera(self.fly.start_c2w)
        return {"size": list(self.size), "fov": self.fov, "start": start,
                "world": self.fly.describe()["world_source"],
                "shot_frames": len(self.scrub.shot) if self.scrub else 0,
                "snapshot_every": self.scrub.every if self.scrub else 0}

    def fly_frame(self, cam: dict) -> tuple[RenderedFrame, dict]:
        try:
            pos = [float(cam[k]) for k in ("x", "y", "z", "yaw", "pitch")]
            fov = float(cam.get("fov", self.fov))
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("camera", cam, "numbers x, y, z, yaw, pitch (and fov)") from None
        if not all(map(math.isfinite, [*pos, fov])) or not 10 <= fov <= 150:
            raise InvalidInput("camera", cam, "finite numbers and fov in 10..150 degrees")
        k = Intrinsics.from_fov(fov, *self.size)
        from latentstage.previs.shot import ShotFrame

        with self.lock:
            self.frame_id += 1
            frame = ShotFrame(0, self.frame_id, camera_from_angles(*pos), k, None, None)
            out = self.fly.render(frame)
            self.flown = (self.flown + [pos])[-200:]
        return out, {"X-Frame": str(self.frame_id)}

    def seek(self, k: int) -> tuple[RenderedFrame, dict]:
        if self.scrub is None:
            raise InvalidInput("k", k, "a loaded shot (start the viewer with --path)")
        with self.lock:
            out = self.scrub.seek(k)
            last = self.scrub.last
        return out, {"X-Frame": str(k), "X-Replayed": str(last.replayed),
                     "X-Seek-Ms": f"{last.seconds * 1e3:.1f}"}

    def new_world(self, world: str | None = None, seed_image: Path | None = None) -> dict:
        with self.lock:
            old, self.fly = self.fly, self.make_engine(world, seed_image)
            if hasattr(old, "close"):
                old.close()
            self.frame_id, self.flown = 0, []
        return self.info()

    def save(self, name: str) -> dict:
        path = self.snapshot_dir / (check_snapshot_name(name, "name") + ".safetensors")
        with self.lock:
            digest = self.fly.save(path)
        return {"name": name, "path": str(path), "sha256": digest}

    def load(self, name: str) -> dict:
        path = self.snapshot_dir / (check_snapshot_name(name, "name") + ".safetensors")
        if not path.is_file():
            raise NotFound(f"name {name!r}: no snapshot {path}")
        with self.lock:
            self.fly.load(path)
        return self.info()

    def points(self, limit: int = 4000) -> dict:
        with self.lock:
            pos = self.fly.points()
        step = max(1, len(pos) // limit)
        return {"points": np.round(pos[::step], 3).tolist(), "total": len(pos),
                "cameras": self.flown}


def png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    """Routes the page's requests to the :class:`Viewer` (``server.viewer``)."""

    server_version = "latentstage-view"

    def log_message(self, fmt, *args):  # the library logs; it never prints
        log.debug("http %s", fmt % args)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _frame(self, out: RenderedFrame, extra: dict, t0: float) -> None:
        body = png_bytes(out.pixels)
        headers = {"X-Rung": out.rung.name, "X-Coverage": f"{out.memory.coverage:.4f}",
                   "X-Points": str(out.memory.points),
                   "X-Latency-Ms": f"{(time.perf_counter() - t0) * 1e3:.1f}", **extra}
        self._send(200, body, "image/png", headers)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n > _MAX_BODY:
            raise InvalidInput("body", f"<{n} bytes>", f"at most {_MAX_BODY} bytes")
        return self.rfile.read(n)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._route("GET")

    def do_POST(self):  # noqa: N802
        self._route("POST")

    def _route(self, method: str) -> None:
        viewer: Viewer = self.server.viewer
        url = urlparse(self.path)
        t0 = time.perf_counter()
        try:
            if method == "GET" and url.path in ("/", "/index.html"):
                page = files("latentstage.previs.static").joinpath("index.html").read_bytes()
                return self._send(200, page, "text/html; charset=utf-8")
            if method == "GET" and url.path == "/api/info":
                return self._json(viewer.info())
            if method == "GET" and url.path == "/api/points":
                return self._json(viewer.points())
            if method == "GET" and url.path == "/api/seek":
                raw = parse_qs(url.query).get("k", [""])[0]
                if not raw.isdigit():
                    raise InvalidInput("k", raw, "a frame index 0, 1, 2...")
                return self._frame(*viewer.seek(int(raw)), t0)
            if method == "POST" and url.path == "/api/fly":
                return self._frame(*viewer.fly_frame(json.loads(self._body() or b"{}")), t0)
            if method == "POST" and url.path == "/api/seed":
                with tempfile.NamedTemporaryFile(suffix=".img") as tmp:
                    tmp.write(self._body())
                    tmp.flush()
                    return self._json(viewer.new_world(seed_image=Path(tmp.name)))
            if method == "POST" and url.path in ("/api/world", "/api/save", "/api/load"):
                req = json.loads(self._body() or b"{}")
                if url.path == "/api/world":
                    return self._json(viewer.new_world(world=str(req.get("world", ""))))
                action = viewer.save if url.path == "/api/save" else viewer.load
                return self._json(action(str(req.get("name", ""))))
            self._json({"error": f"no {method} {url.path}"}, HTTPStatus.NOT_FOUND)
        except (InvalidInput, ValueError, IndexError) as exc:
            self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
        except NotFound as exc:
            self._json({"error": str(exc)}, HTTPStatus.NOT_FOUND)
        except (Incompatible, CorruptFile) as exc:
            self._json({"error": str(exc)}, HTTPStatus.CONFLICT)


def start_viewer(viewer: Viewer, host: str = "127.0.0.1", port: int = 0
                 ) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve ``viewer`` on ``host:port`` (0: a free port) from a daemon thread."""
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.viewer = viewer
    thread = threading.Thread(target=server.serve_forever, name="latentstage-view",
                              daemon=True)
    thread.start()
    log.info("event=viewer_started url=http://%s:%d/", host, server.server_address[1])
    return server, thread


def build_viewer(model, world: str | None, seed_image: Path | None, depth: str | None,
                 shot: Shot | None, size: tuple[int, int], seed: int = 0,
                 steps: int | None = None, snapshot_every: int = 8,
                 snapshot_dir: Path | None = None, capacity: int = 262_144,
                 backend: str = "torch", scrub_dir: Path | None = None,
                 server: str | None = None) -> Viewer:
    """A viewer whose fly world and shot world are both seeded from ``world``/``seed_image``,
    in this process (``model``) or on the service at ``server`` (HOST:PORT). Scrub snapshots
    go to ``scrub_dir`` (default: a temporary folder)."""
    snapshot_dir = Path(snapshot_dir or tempfile.mkdtemp(prefix="latentstage-view-worlds-"))

    def make_engine(w: str | None, img: Path | None) -> InProcessEngine:
        d = depth if img == seed_image else None
        if server is not None:
            from latentstage.previs.remote import ServerEngine

            return ServerEngine(server, w, img, d, seed=seed, steps=steps, tag="view")
        built = open_world(model, w, img, d, capacity, snapshot_dir)
        return InProcessEngine(model, built, seed=seed, steps=steps, backend=backend)

    scrub = None
    if shot is not None:
        folder = Path(scrub_dir or tempfile.mkdtemp(prefix="latentstage-view-scrub-"))
        folder.mkdir(parents=True, exist_ok=True)
        scrub = Scrubber(make_engine(world, seed_image), shot, folder, snapshot_every)
    return Viewer(make_engine, make_engine(world, seed_image), size, snapshot_dir, scrub)
