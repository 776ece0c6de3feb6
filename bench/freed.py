"""``latentstage bench freed``: datagram-to-frame latency of a FreeD-tracked camera, and the
share of tracker poses skipped, at several frame budgets, in one run.

A server runs in this process on its own thread and event loop with one tracked camera per
frame budget (each on its own fresh procedural world, seed 0), listening on loopback UDP. For
each budget (``--fps``: the watching session's ``target_fps``, so a frame that would miss
``1 / fps`` degrades down the ladder) a tracker sends D1 packets at ``--tracker-hz`` along an
orbit, and one watching session (REALTIME, pose prediction on, as on a stage) receives every
frame. The frame rate is whatever the model sustains, at most the tracker's rate.

- **latency**: datagram sent (the tracker's ``sendto``) to frame received by the watching
  client, both on this process's monotonic clock; p50 and p99 over the measured frames;
- **server**: datagram received to frame ready (``Frame.timing.total``), p50;
- **skipped**: tracker poses replaced by newer ones before they were rendered (latest pose
  wins), as a share of the packets sent in the measured window.

The first ``--warmup`` seconds of each run are not measured.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from latentstage.bench.serve import orbit
from latentstage.runtime.cli_choices import DEVICE_METAVAR, EncodingName


@dataclass
class FreedRun:
    """One frame budget's measurements."""

    target_fps: float  # the session's frame budget, frames per second
    packets: int = 0  # tracker packets sent in the measured window
    frames: int = 0  # frames received in the measured window
    skipped: int = 0  # poses skipped in the measured window
    dropped: int = 0  # frames dropped for the (slow) client in the measured window
    seconds: float = 0.0  # length of the measured window
    latency_ms: list[float] = field(default_factory=list)  # datagram sent -> frame received
    server_ms: list[float] = field(default_factory=list)  # datagram received -> frame ready
    rungs: collections.Counter = field(default_factory=collections.Counter)  # frames per rung

    def q(self, values: list[float], p: float) -> float:
        return float(np.percentile(values, p)) if values else float("nan")

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def skipped_share(self) -> float:
        return self.skipped / self.packets if self.packets else float("nan")


def tracked_cameras(fps_list: list[float], lens: str = "builtin:default"):
    """One tracked camera per budget (ids 1, 2, ...), each on its own world, one UDP port."""
    from latentstage.runtime import freed_config as fc

    worlds = {f"bench-{i + 1}": {"procedural": {"seed": 0, "kind": "outdoor"}}
              for i in range(len(fps_list))}
    cameras = [{"name": f"fps{fps:g}", "freed_camera_id": i + 1, "listen": "127.0.0.1:0",
                "world": f"bench-{i + 1}", "lens": lens} for i, fps in enumerate(fps_list)]
    return fc.from_dict({"worlds": worlds, "cameras": cameras})


async def measure(target: str, port: int, camera: str, camera_id: int, target_fps: float,
                  tracker_hz: float, seconds: float, warmup_s: float, size: tuple[int, int],
                  encoding: str = "raw") -> FreedRun:
    """Run one tracker stream against one watching session and measure it."""
    from latentstage.engine_bridge import client as C
    from latentstage.runtime import freed
    from latentstage.v1 import service_pb2 as pb

    n = int(round(tracker_hz * (warmup_s + seconds)))
    packets = [freed.encode(freed.pose_to_freed(c2w, camera_id=camera_id))
               for c2w in orbit(n, radius=3.0)]
    sent_ns: dict[int, int] = {}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    run = FreedRun(target_fps)
    async with C.AsyncClient(target) as client:
        info = {c.name: c for c in (await client.server_info()).tracked_cameras}[camera]
        base = info.packets
        msg = C.watch_message(camera, size, encoding, target_fps=target_fps,
                              client_name="latentstage-bench-freed")
        async with client.session(msg) as session:
            t0 = time.monotonic_ns()

            async def send() -> None:
                for i, data in enumerate(packets):
                    due = t0 + int(i * 1e9 / tracker_hz)
                    await asyncio.sleep(max(0.0, (due - time.monotonic_ns()) / 1e9))
                    sent_ns[base + i + 1] = time.monotonic_ns()
                    sock.sendto(data, ("127.0.0.1", port))

            sender = asyncio.create_task(send())
            frames: list[tuple[pb.Frame, int]] = []
            try:
                while not frames or frames[-1][0].frame_id < base + n:
                    frame = await asyncio.wait_for(session.next_frame(), 60)
                    frames.append((frame, time.monotonic_ns()))
            finally:
                await sender
                sock.close()
    start = t0 + int(warmup_s * 1e9)
    window = [(f, t) for f, t in frames if sent_ns[f.frame_id] >= start]
    if len(window) < 2:
        return run
    first, last = window[0][0], window[-1][0]
    run.packets = last.frame_id - first.frame_id
    run.frames = len(window) - 1  # frames after the first one in the window
    run.skipped = last.poses_skipped - first.poses_skipped
    run.dropped = last.frames_dropped - first.frames_dropped
    run.seconds = (window[-1][1] - window[0][1]) / 1e9
    for f, t in window:
        run.latency_ms.append((t - sent_ns[f.frame_id]) / 1e6)
        run.server_ms.append(f.timing.total_ms)
        run.rungs[pb.Rung.Name(f.rung).removeprefix("RUNG_").lower()] += 1
    return run


def run_bench(core, fps_list: list[float], tracker_hz: float, seconds: float, warmup_s: float,
              size: tuple[int, int], encoding: str = "raw") -> list[FreedRun]:
    """Start a server on ``core`` with one tracked camera per budget and measure each."""
    from latentstage.runtime.server import ServerConfig, ServerThread

    config = tracked_cameras(fps_list)
    runs = []
    with ServerThread(core, ServerConfig(port=0, freed=config)) as st:
        for i, fps in enumerate(fps_list):
            camera = config.cameras[i].name
            port = core.tracker.cameras[camera].listener.port
            runs.append(asyncio.run(measure(st.target, port, camera, i + 1, fps, tracker_hz,
                                            seconds, warmup_s, size, encoding)))
    return runs


def bench_freed(
    fps: str = typer.Option("25,50,60", help="Comma-separated frame budgets (target fps)."),
    tracker_hz: float = typer.Option(100.0, min=1.0, max=1000.0,
                                     help="Packets per second the tracker sends."),
    seconds: float = typer.Option(10.0, min=1.0, help="Measured seconds per budget."),
    warmup: float = typer.Option(2.0, min=0.0, help="Seconds first, not measured."),
    size: str = typer.Option("128x128", help="Output WIDTHxHEIGHT (the bundled model's native "
                             "size by default)."),
    encoding: EncodingName = typer.Option(EncodingName.raw, help="Frame encoding."),
    model: str = typer.Option("bundled", help="Checkpoint directory or 'bundled'."),
    device: str = typer.Option("auto", metavar=DEVICE_METAVAR, help="Where the model runs."),
    threads: int = typer.Option(None, min=1, help="Torch CPU threads (default: as serve)."),
    plot: Path = typer.Option(None, help="Save latency against the frame budget as a PNG."),
) -> None:
    """FreeD: datagram-to-frame latency p50/p99 and the share of poses skipped, per budget."""
    import torch

    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.device import configure_threads, device_name, resolve_device
    from latentstage.runtime.sizes import size_option
    from latentstage.runtime.types import Limits

    try:
        fps_list = [float(v) for v in fps.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{fps!r}: expected e.g. 25,50,60", param_hint="--fps") from None
    w, h = size_option(size, "--size")
    console = Console(width=max(Console().width, 132))
    logging.getLogger("latentstage").setLevel(logging.WARNING)  # per-session lines off
    dev = resolve_device(device)
    n_threads = configure_threads(dev, threads)
    limits = Limits(max_width=max(w, 64), max_height=max(h, 64), max_sessions=4,
                    max_worlds=len(fps_list) + 1)
    core = ServingCore.load(model, "torch", str(dev), limits,
                            Path(tempfile.mkdtemp()) / "snapshots", threads=n_threads)
    console.print(f"device: {device_name(dev)} (torch threads {n_threads}, of {os.cpu_count()} "
                  f"cores); model: {model} ({core.model.model_id}), sampler steps "
                  f"{core.model.sampler_steps}; torch {torch.__version__}; tracker {tracker_hz:g} "
                  f"Hz; {w}x{h} {encoding}; {seconds:g} s measured after {warmup:g} s")
    with console.status("streaming FreeD packets…"):
        runs = run_bench(core, fps_list, tracker_hz, seconds, warmup, (w, h), encoding)
    table = Table(title="latentstage bench freed: datagram sent to frame received")
    for col in ("target fps", "frames/s", "latency p50 ms", "latency p99 ms", "server p50 ms",
                "poses skipped", "frames dropped", "rungs"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in runs:
        rungs = ", ".join(f"{k} {v}" for k, v in sorted(r.rungs.items()))
        table.add_row(f"{r.target_fps:g}", f"{r.fps:.1f}", f"{r.q(r.latency_ms, 50):.2f}",
                      f"{r.q(r.latency_ms, 99):.2f}", f"{r.q(r.server_ms, 50):.2f}",
                      f"{r.skipped_share * 100:.1f}% ({r.skipped}/{r.packets})", str(r.dropped),
                      rungs)
    console.print(table)
    if plot is not None:
        from latentstage.runtime.plots import Curve, Figure, save_figure

        budgets = [r.target_fps for r in runs]
        save_figure(Figure(
            f"latentstage bench freed: datagram sent to frame received\n{device_name(dev)}; "
            f"{w}x{h} {encoding}, tracker {tracker_hz:g} Hz", "frame budget (target fps)",
            "milliseconds", [
                Curve("latency p50", budgets, [r.q(r.latency_ms, 50) for r in runs]),
                Curve("latency p99", budgets, [r.q(r.latency_ms, 99) for r in runs], "-s"),
                Curve("server p50", budgets, [r.q(r.server_ms, 50) for r in runs], "--^")]),
            plot)
        console.print(f"curves written to {plot}")
