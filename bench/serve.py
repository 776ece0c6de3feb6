"""``latentstage bench serve``: end-to-end fps and pose-to-frame latency over gRPC, against the
same loop called in-process, in one run.

For each configuration (size, encoding) the same orbit of poses runs three ways on fresh,
empty worlds with the same seed:

- **in-process**: plan, ``WorldCamera.step`` on the model thread, encode; one frame at a
  time. This is the frame time without transport.
- **gRPC lockstep, window 1**: the client sends a pose and waits for its frame. The latency
  is pose sent to frame received; the transport overhead is its median over the in-process
  median, minus 1.
- **gRPC lockstep, window 2**: two poses in flight, so transport overlaps generation
  (end-to-end fps).

The server runs in this process on its own thread and event loop, over loopback TCP.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from latentstage.runtime.cli_choices import DEVICE_METAVAR

DEFAULT_CONFIGS = (((256, 256), "raw"), ((256, 256), "jpeg"), ((1280, 720), "raw"))
FOV_DEG = 70.0


def orbit(frames: int, radius: float = 3.0, height: float = 1.6) -> np.ndarray:
    """Canonical poses [N, 4, 4] on a circle around the origin, looking outwards."""
    from latentstage.runtime.camera import look_at

    out = []
    for i in range(frames):
        a = 2 * np.pi * i / max(frames, 1)
        eye = np.array([0.3 * np.cos(a), 0.3 * np.sin(a), height])
        out.append(look_at(eye, eye + radius * np.array([np.cos(a), np.sin(a), -0.05])))
    return np.stack(out)


class NullModel:
    """A backend that does no work (zeros out, grey frames): with it the benchmark measures
    the serving path alone (readout of an empty memory, encode, gRPC)."""

    name = "null"
    native_size = (64, 64)
    sampler_steps = 2
    model_id = "null"

    def __init__(self, device):
        import torch

        from latentstage.runtime.memory import LatentSpec

        self.device = torch.device(device)
        self._spec = LatentSpec(channels=4, stride=8)

    def latent_spec(self):
        return self._spec

    def encode(self, rgb):  # [B, 3, H, W] -> [B, C, H/8, W/8]
        return rgb.new_zeros(rgb.shape[0], 4, rgb.shape[2] // 8, rgb.shape[3] // 8)

    def decode(self, latent):  # [B, C, h, w] -> [B, 3, 8h, 8w]
        b, _, h, w = latent.shape
        return latent.new_full((b, 3, h * 8, w * 8), 0.5)

    def denoise(self, x_t, t, cond):  # v = 0 and depth 4 m: x stays at the noise
        return x_t.new_zeros(x_t.shape), x_t.new_full((x_t.shape[0], 1, *x_t.shape[2:]), 4.0)


@dataclass
class Result:
    """Per-frame seconds of one way of running a configuration."""

    name: str
    seconds: list[float]  # per frame: frame time, or pose-to-frame latency over gRPC
    done: list[float]  # perf_counter when each frame was complete
    free_running: bool = False  # frames overlap: fps from completions, not from frame times

    def skip(self, warmup: int) -> None:
        self.seconds, self.done = self.seconds[warmup:], self.done[warmup:]

    @property
    def fps(self) -> float:
        """Frames per second: completions over time when free running, else 1 / mean time."""
        if not self.free_running:
            return len(self.seconds) / sum(self.seconds)
        span = self.done[-1] - self.done[0]
        return (len(self.done) - 1) / span if span > 0 else float("nan")

    def q(self, p: float) -> float:
        return float(np.percentile(self.seconds, p))


async def _local_session(core, size, encoding, seed):
    """An in-process session on a fresh empty world, and a function rendering one pose."""
    from latentstage.runtime.camera import Intrinsics
    from latentstage.runtime.encoding import encode_frame
    from latentstage.runtime.types import (
        EmptySource,
        Encoding,
        FramePlan,
        OpenRequest,
        PoseIn,
        Rung,
        StreamSettings,
        WorldSpec,
    )

    enc = Encoding.JPEG if encoding == "jpeg" else Encoding.RAW_RGB8
    k = Intrinsics.from_fov(FOV_DEG, *size)
    steps = int(core.model.sampler_steps)
    settings = StreamSettings(size[0], size[1], enc, 90, 0.0, steps, seed)
    handle = await core.open_session(OpenRequest(settings, new_world=WorldSpec(
        EmptySource(), "bench-in-process", keep=False)))

    async def render(i: int, c2w: np.ndarray) -> None:
        """Plan, step on the model thread, encode: the loop the server runs, minus gRPC."""
        now = time.monotonic_ns()
        plan = FramePlan(PoseIn(i, now, None, c2w, k, None, now), c2w, Rung.FULL, steps, True,
                         0.0, now)
        result = await core.worker.run_model(handle.step, plan)
        await core.worker.run_io(encode_frame, result.pixels, enc, 90)

    return handle, render


def _open_msg(size, encoding, seed):
    from latentstage.engine_bridge import client as C
    from latentstage.runtime.camera import Intrinsics

    k = Intrinsics.from_fov(FOV_DEG, *size)
    return C.open_message(C.empty_world("bench-grpc"), size, "opencv", encoding, seed=seed,
                          lockstep=True, lens=C.lens_pixels(k))


def _paired(core, target, size, encoding, poses, seed) -> tuple[Result, Result]:
    """In-process and gRPC (one pose in flight) frame by frame, alternating, so that load
    from other processes hits both alike."""
    from latentstage.engine_bridge import client as C

    async def run():
        handle, render = await _local_session(core, size, encoding, seed)
        local, remote = Result("in-process", [], []), Result("gRPC w1", [], [])
        try:
            async with C.AsyncClient(target) as client:
                async with client.session(_open_msg(size, encoding, seed)) as session:
                    for i, c2w in enumerate(poses):
                        t0 = time.perf_counter()
                        await render(i, c2w)
                        t1 = time.perf_counter()
                        frame = await session.render(C.opencv_pose(i, c2w))
                        t2 = time.perf_counter()
                        assert frame.frame_id == i
                        local.seconds.append(t1 - t0)
                        local.done.append(t1)
                        remote.seconds.append(t2 - t1)
                        remote.done.append(t2)
        finally:
            core.close_session(handle)
        return local, remote

    return asyncio.run(run())


def _pipelined(target, size, encoding, poses, seed, window: int = 2) -> Result:
    """gRPC with ``window`` poses in flight: transport overlaps generation (throughput)."""
    from latentstage.engine_bridge import client as C

    async def run() -> Result:
        async with C.AsyncClient(target) as client:
            async with client.session(_open_msg(size, encoding, seed)) as session:
                sent: dict[int, float] = {}
                out = Result(f"gRPC w{window}", [], [], free_running=True)
                nxt = 0
                while len(out.done) < len(poses):
                    while nxt < len(poses) and nxt - len(out.done) < window:
                        sent[nxt] = time.perf_counter()
                        await session.send(C.opencv_pose(nxt, poses[nxt]))
                        nxt += 1
                    frame = await session.next_frame()
                    out.done.append(time.perf_counter())
                    out.seconds.append(out.done[-1] - sent.pop(frame.frame_id))
                return out

    return asyncio.run(run())


def bench_serve(
    size: str = typer.Option(None, help="Only this WIDTHxHEIGHT (raw and JPEG); default: "
                             "256x256 raw and JPEG, and 1280x720 raw."),
    frames: int = typer.Option(100, min=5, help="Frames per run (after warm-up)."),
    warmup: int = typer.Option(5, min=0, help="Frames run first and not measured."),
    model: str = typer.Option("bundled", help="Checkpoint dir, 'bundled' (falls back to an "
                              "untrained model of the reference size when absent), or 'null' "
                              "(no model work: the serving path and transport alone)."),
    device: str = typer.Option("auto", metavar=DEVICE_METAVAR, help="Where the model runs."),
    seed: int = typer.Option(0, help="Noise seed."),
    plot: Path = typer.Option(None, help="Save each run's per-frame latency as a PNG."),
) -> None:
    """gRPC against in-process: fps, p50/p95/p99 pose-to-frame latency, transport overhead."""
    import torch

    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.device import configure_threads, device_name, resolve_device
    from latentstage.runtime.errors import NotFound
    from latentstage.runtime.server import ServerConfig, ServerThread
    from latentstage.runtime.sizes import size_option
    from latentstage.runtime.types import Limits

    console = Console(width=max(Console().width, 132))
    logging.getLogger("latentstage").setLevel(logging.WARNING)  # per-session lines off
    configs = DEFAULT_CONFIGS
    if size:
        s = size_option(size, "--size")
        configs = ((s, "raw"), (s, "jpeg"))
    dev = resolve_device(device)
    tmp = Path(tempfile.mkdtemp(prefix="latentstage-bench-"))
    limits = Limits(max_width=max(c[0][0] for c in configs),
                    max_height=max(c[0][1] for c in configs), max_sessions=4, max_worlds=8)
    threads = configure_threads(dev)
    try:
        if model == "null":
            core = ServingCore(NullModel(dev), limits, tmp / "snapshots")
        else:
            core = ServingCore.load(model, "torch", str(dev), limits, tmp / "snapshots")
        source = model
    except NotFound:
        from latentstage.model.world_model import WorldModel

        WorldModel.create().save_pretrained(tmp / "model")
        core = ServingCore.load(str(tmp / "model"), "torch", str(dev), limits, tmp / "snapshots")
        source = "untrained reference-size model (bundled checkpoint absent)"
    console.print(f"device: {device_name(dev)} (torch threads {threads}, of "
                  f"{os.cpu_count()} cores); model: {source} ({core.model.model_id}); "
                  f"torch {torch.__version__}; sampler steps {core.model.sampler_steps}")
    table = Table(title=f"latentstage bench serve: {frames} frames per run")
    for col in ("config", "run", "fps", "p50 ms", "p95 ms", "p99 ms", "overhead", "Δ ms",
                "p99/frame"):
        table.add_column(col, justify="right", no_wrap=True)
    from latentstage.runtime.progress import progress_bar

    curves = []
    with ServerThread(core, ServerConfig(port=0)) as st, progress_bar(console) as bar:
        task = bar.add_task("bench serve", total=2 * len(configs))
        for (w, h), enc in configs:
            poses = orbit(frames + warmup)
            label = f"{w}x{h} {enc}"
            bar.update(task, description=f"{label}: in-process and gRPC, frame by frame")
            local, lat = _paired(core, st.target, (w, h), enc, poses, seed)
            bar.update(task, advance=1, description=f"{label}: gRPC, two poses in flight")
            pipe = _pipelined(st.target, (w, h), enc, poses, seed)
            bar.advance(task)
            for r in (local, lat, pipe):
                r.skip(warmup)
            curves += [(f"{label} {r.name}", np.asarray(r.seconds) * 1e3) for r in (local, lat)]
            base = float(np.median(local.seconds))
            paired = float(np.median(np.subtract(lat.seconds, local.seconds)))
            interval = 1 / pipe.fps - base
            overheads = {local.name: ("-", "-"),
                         lat.name: (f"{paired / base * 100:+.1f}%", f"{paired * 1e3:+.2f}"),
                         pipe.name: (f"{interval / base * 100:+.1f}%", f"{interval * 1e3:+.2f}")}
            for r in (local, lat, pipe):
                table.add_row(label, r.name, f"{r.fps:.1f}", f"{r.q(50) * 1e3:.2f}",
                              f"{r.q(95) * 1e3:.2f}", f"{r.q(99) * 1e3:.2f}", *overheads[r.name],
                              "-" if r is pipe else f"{r.q(99) / base:.2f}x")
    console.print(table)
    console.print("in-process and gRPC w1 alternate frame by frame (the same poses on two "
                  "fresh worlds). gRPC w1: one pose in flight, so its times are pose-to-frame "
                  "latencies; overhead = median of the paired differences (gRPC - in-process) "
                  "over the median in-process frame time (Δ ms: that median difference). gRPC w2: "
                  "two poses in flight (throughput); overhead = its frame interval (1/fps) over "
                  "the in-process median, minus 1. p99/frame: p99 latency over the median "
                  "in-process frame time.")
    if plot is not None:
        from latentstage.runtime.plots import Curve, Figure, save_figure

        save_figure(Figure(
            f"latentstage bench serve: time per frame, {frames} frames per run\n"
            f"{device_name(dev)}; model {source}", "frame", "milliseconds",
            [Curve(label, range(len(ms)), ms, "-") for label, ms in curves],
            note="in-process: the frame step alone; gRPC w1: pose sent to frame received"),
            plot)
        console.print(f"curves written to {plot}")
