"""``latentstage bench native``: the native client library against the Python client and the
bare gRPC C++ transport, in one run, against one server in its own process.

For each size (raw BGRA8) three clients run the same orbit in LOCKSTEP, one pose in flight,
each in its own process with ``liblatentstage_counters.so`` preloaded (malloc and memcpy
counters), on fresh empty worlds, round after round so that load drift hits all three:

- **bare C++**: the generated gRPC C++ stub writing Pose and reading SessionResponse into a
  reused message: the transport itself (``latentstage_bench --client bare``);
- **native**: the C library (``ls_session_submit_matrix4``, ``ls_session_acquire_frame``);
- **Python**: :class:`latentstage.engine_bridge.client.AsyncClient` (``session.render``, then
  ``frame.image.data``).

Per frame: latency = pose handed to the client -> frame available to the consumer; minus the
server's own ``timing.total_ms`` it is the transport and client time ("wire + client"). CPU
time is the client process's (user + system) over the measured frames; allocations are
malloc calls and bytes copied are bytes through memcpy/memmove, process-wide (Python's small
objects come from its own arenas and are not seen). Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from latentstage.runtime.cli_choices import DEVICE_METAVAR

REPO = Path(__file__).resolve().parent.parent
FOV_DEG = 70.0


def _orbit_c2w(i: int) -> np.ndarray:
    """The canonical pose of frame ``i`` (the same orbit as latentstage_bench's)."""
    a = 0.05 * i
    c, s = np.cos(a), np.sin(a)
    return np.array([[s, 0, c, 0.3 * c], [-c, 0, s, 0.3 * s], [0, -1, 0, 1.6], [0, 0, 0, 1]])


def serve_main() -> None:
    """Subprocess entry: serve ``argv[1]`` (``null`` or a model) on a free port, print
    ``port=N`` and serve until stdin closes."""
    from latentstage.bench.serve import NullModel
    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.device import configure_threads, resolve_device
    from latentstage.runtime.server import ServerConfig, ServerThread
    from latentstage.runtime.types import Limits

    logging.basicConfig(level=logging.WARNING)
    model, device, width, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    dev = resolve_device(device)
    configure_threads(dev)
    limits = Limits(max_width=width, max_height=height, max_sessions=4, max_worlds=64)
    snaps = Path(os.environ.get("TMPDIR", "/tmp")) / f"latentstage-bench-native-{os.getpid()}"
    core = (ServingCore(NullModel(dev), limits, snaps) if model == "null"
           else ServingCore.load(model, "torch", str(dev), limits, snaps))
    with ServerThread(core, ServerConfig(port=0)) as st:
        print(f"port={st.port}", flush=True)
        sys.stdin.read()


def python_client_main() -> None:
    """Subprocess entry: the Python client's run; prints one JSON object like
    latentstage_bench's. argv: target width height frames warmup counters-library."""
    import asyncio
    import ctypes

    from latentstage.engine_bridge import client as C
    from latentstage.runtime.camera import Intrinsics

    target, w, h, frames, warmup = sys.argv[1], *(int(v) for v in sys.argv[2:6])
    counters = ctypes.CDLL(sys.argv[6]).lsbench_counters
    counters.argtypes = [ctypes.POINTER(ctypes.c_uint64)]

    def read() -> tuple[np.ndarray, float]:
        out = (ctypes.c_uint64 * 3)()
        counters(out)
        return np.array(out[:], np.float64), time.process_time()

    async def run() -> dict:
        k = Intrinsics.from_fov(FOV_DEG, w, h)
        open_msg = C.open_message(C.empty_world("bench-python"), (w, h), "opencv", "raw_bgra8",
                                  lockstep=True, lens=C.lens_pixels(k), client_name="bench-py")
        lat, server, payload = [], [], 0
        async with C.AsyncClient(target) as client, client.session(open_msg) as session:
            for i in range(warmup + frames):
                if i == warmup:
                    c0, t0 = read()
                pose = C.opencv_pose(i, _orbit_c2w(i))
                start = time.perf_counter()
                frame = await session.render(pose)
                data = frame.image.data  # the pixels, available to the consumer
                end = time.perf_counter()
                if i >= warmup:
                    lat.append((end - start) * 1e3)
                    server.append(frame.timing.total_ms)
                    payload = len(data)
            c1, t1 = read()
        per = (c1 - c0) / frames
        return {"client": "python", "width": w, "height": h, "frames": frames,
                "latency_ms": lat, "server_ms": server,
                "cpu_ms_per_frame": (t1 - t0) * 1e3 / frames, "allocs_per_frame": per[0],
                "alloc_bytes_per_frame": per[1], "copied_bytes_per_frame": per[2],
                "payload_bytes": payload, "counters": True, "frame_allocations": None}

    print(json.dumps(asyncio.run(run())), flush=True)


def _artifacts(build_dir: Path) -> tuple[Path, Path]:
    bench = build_dir / "tests" / "native" / "latentstage_bench"
    counters = build_dir / "tests" / "native" / "liblatentstage_counters.so"
    for path in (bench, counters):
        if not path.is_file():
            raise typer.BadParameter(f"{path} not found: run `make native-bench` first",
                                     param_hint="--build-dir")
    return bench, counters


def _run_client(cmd: list[str], counters: Path) -> dict:
    env = {**os.environ, "LD_PRELOAD": str(counters)}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}...: exit {out.returncode}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _merge(runs: list[dict]) -> dict:
    """Rounds of one client and size merged: frames pooled, per-frame rates averaged."""
    first = dict(runs[0])
    first["latency_ms"] = [v for r in runs for v in r["latency_ms"]]
    first["server_ms"] = [v for r in runs for v in r["server_ms"]]
    for key in ("cpu_ms_per_frame", "allocs_per_frame", "alloc_bytes_per_frame",
                "copied_bytes_per_frame"):
        first[key] = float(np.mean([r[key] for r in runs]))
    return first


def bench_native(
    sizes: str = typer.Option("256x256,1280x720", help="Comma-separated WIDTHxHEIGHT sizes."),
    frames: int = typer.Option(100, min=5, help="Measured frames per client, size and round."),
    warmup: int = typer.Option(10, min=1, help="Frames run first and not measured."),
    rounds: int = typer.Option(2, min=1, help="Rounds of the three clients (interleaved)."),
    model: str = typer.Option("null", help="'null' (no model work: transport and serving "
                              "path alone), 'bundled' or a checkpoint directory."),
    device: str = typer.Option("cpu", metavar=DEVICE_METAVAR, help="Server device."),
    build_dir: Path = typer.Option(REPO / "build" / "native", help="CMake build directory "
                                   "holding tests/native/latentstage_bench (make native-bench)."),
) -> None:
    """Native C library against the Python client and bare gRPC C++: latency, CPU, copies."""
    from latentstage.runtime.sizes import size_option

    size_list = [size_option(s, "--sizes") for s in sizes.split(",")]
    bench, counters = _artifacts(build_dir)
    console = Console(width=max(Console().width, 150))
    max_w, max_h = max(s[0] for s in size_list), max(s[1] for s in size_list)
    server = subprocess.Popen(
        [sys.executable, "-c", "from latentstage.bench.native import serve_main; "
         "serve_main()", model, device, str(max_w), str(max_h)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("port="):
            raise RuntimeError(f"the bench server did not start: {line!r}")
        target = f"127.0.0.1:{int(line.split('=')[1])}"
        console.print(f"server: {model} on {device}, {target}; {os.cpu_count()} cores; "
                      f"{frames} frames x {rounds} rounds per client and size")
        results: dict[tuple, list[dict]] = {}
        for r in range(rounds):
            for w, h in size_list:
                for name in ("bare", "native", "python"):
                    with console.status(f"round {r + 1}/{rounds}: {w}x{h} {name}…"):
                        if name == "python":
                            cmd = [sys.executable, "-c", "from latentstage.bench.native"
                                   " import python_client_main; python_client_main()", target,
                                   str(w), str(h), str(frames), str(warmup), str(counters)]
                        else:
                            cmd = [str(bench), "--target", target, "--client", name, "--size",
                                   f"{w}x{h}", "--frames", str(frames), "--warmup", str(warmup)]
                        results.setdefault((w, h, name), []).append(_run_client(cmd, counters))
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    _report(console, size_list, {k: _merge(v) for k, v in results.items()}, frames * rounds)


def _report(console: Console, size_list, merged: dict, n: int) -> None:
    table = Table(title=f"latentstage bench native: raw BGRA8, LOCKSTEP, one pose in flight, "
                        f"{n} frames per client and size")
    for col in ("size", "client", "p50 ms", "p95 ms", "wire+client p50 ms", "vs bare ms",
                "CPU ms/frame", "mallocs/frame", "copied/frame", "ring allocs"):
        table.add_column(col, justify="right", no_wrap=True)
    for w, h in size_list:
        base = None
        for name in ("bare", "native", "python"):
            r = merged[(w, h, name)]
            lat = np.asarray(r["latency_ms"])
            wire = lat - np.asarray(r["server_ms"])
            med = float(np.median(wire))
            base = med if name == "bare" else base
            payload = max(r["payload_bytes"], 1)
            table.add_row(
                f"{w}x{h}", {"bare": "bare C++", "native": "native", "python": "Python"}[name],
                f"{np.median(lat):.2f}", f"{np.percentile(lat, 95):.2f}", f"{med:.2f}",
                "-" if name == "bare" else f"{med - base:+.2f}",
                f"{r['cpu_ms_per_frame']:.2f}", f"{r['allocs_per_frame']:.1f}",
                f"{r['copied_bytes_per_frame'] / payload:.2f}x",
                "-" if r["frame_allocations"] is None else str(r["frame_allocations"]))
    console.print(table)
    console.print("p50/p95: pose handed to the client -> frame available to the consumer. "
                  "wire+client: that minus the server's timing.total_ms (pose received -> "
                  "frame ready to send). vs bare: median wire+client over bare C++'s. CPU: the "
                  "client process, user + system. mallocs and copied (bytes through memcpy/"
                  "memmove, as a multiple of the frame's payload): process-wide per frame, "
                  "from the preloaded counters. ring allocs: the native library's "
                  "stats.frame_allocations for the whole run, warm-up included.")
