"""``latentstage bench threads``: the demo's and the server's frame rate under a competing CPU
load, with torch's default thread count against the thread policy (runtime/device.py), back to
back in one run.

The load is ``--load`` busy-loop processes started by this command (each keeps one core busy,
as another job on a shared machine does). Each round runs every workload once per policy,
alternating, and the table gives the median fps of the rounds and the ratio policy / default:

- **demo**: ``latentstage demo``'s loop (``model.demo.run_demo``): its fps counts the frame step
  alone, as the demo reports it;
- **serve in-process** and **serve gRPC w1**: ``latentstage bench serve``'s paired runs (plan,
  step on the model thread and encode; then the same over loopback gRPC, one pose in flight).
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

BUSY_LOOP = "while True: pass"


def _busy(count: int) -> list[subprocess.Popen]:
    """``count`` processes that each keep one core busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]


def _demo_fps(model, device, threads: int, frames: int, out: Path) -> float:
    """The demo's fps with ``threads`` torch threads on this thread."""
    import torch

    from latentstage.model.demo import run_demo

    torch.set_num_threads(threads)
    return float(run_demo(model, out, device, frames=frames)["fps"])


def _serve_fps(source: str, threads: int, size: tuple[int, int], frames: int, warmup: int,
               snapshots: Path) -> tuple[float, float]:
    """(in-process fps, gRPC w1 fps) of ``latentstage bench serve``'s paired run, on a fresh
    core whose model thread uses ``threads`` torch threads."""
    from latentstage.bench.serve import _paired, orbit
    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.server import ServerConfig, ServerThread
    from latentstage.runtime.types import Limits

    limits = Limits(max_width=size[0], max_height=size[1], max_sessions=4, max_worlds=8)
    core = ServingCore.load(source, "torch", "cpu", limits, snapshots, threads=threads)
    with ServerThread(core, ServerConfig(port=0)) as server:
        local, remote = _paired(core, server.target, size, "raw", orbit(frames + warmup), 0)
    for r in (local, remote):
        r.skip(warmup)
    return local.fps, remote.fps


def bench_threads(
    load: int = typer.Option(1, min=0, help="Busy-loop processes competing for the CPU."),
    rounds: int = typer.Option(2, min=1, help="Rounds; each runs both policies, alternating."),
    frames: int = typer.Option(24, min=8, help="Frames per demo and per serve run."),
    warmup: int = typer.Option(3, min=0, help="Serve frames run first and not measured."),
    size: str = typer.Option("256x256", help="Serve frame size WIDTHxHEIGHT (raw)."),
    before: int = typer.Option(0, min=0, help="The 'default' thread count (0: torch's default "
                               "in this process, one per core unless OMP_NUM_THREADS is set)."),
    model: str = typer.Option("bundled", help="Checkpoint directory or 'bundled'."),
) -> None:
    """Demo and serve fps under a competing CPU load: torch's default threads against the
    thread policy, in one run (docs/service.md, "CPU threads")."""
    import torch

    from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir
    from latentstage.runtime.device import choose_threads, usable_cores
    from latentstage.runtime.sizes import size_option

    logging.getLogger("latentstage").setLevel(logging.WARNING)  # per-session lines off
    wh = size_option(size, "--size")
    cores = usable_cores()
    default = before or torch.get_num_threads()
    policy = choose_threads(cores, 1)
    source = str(bundled_checkpoint_dir()) if model == "bundled" else model
    device = torch.device("cpu")
    demo_model = WorldModel.from_pretrained(source, device=device)
    console = Console(width=max(Console().width, 160))
    console.print(f"CPU: {cores} usable cores, 1-minute load average {os.getloadavg()[0]:.1f} "
                  f"before the run; load: {load} busy-loop process(es); torch "
                  f"{torch.__version__}; model {demo_model.model_id}; default {default} "
                  f"threads, policy {policy} threads (one session)")
    if default == policy:
        console.print(f"[yellow]the default and the policy are both {default} threads: set "
                      "--before, or run without OMP_NUM_THREADS[/yellow]")
    runs: dict[tuple[str, int], list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="latentstage-threads-"))
    procs = _busy(load)
    try:
        time.sleep(0.5)  # let the load start
        for r in range(rounds):
            order = (default, policy) if r % 2 == 0 else (policy, default)
            for n in order:
                with console.status(f"round {r + 1}/{rounds}: {n} threads…"):
                    runs.setdefault(("demo", n), []).append(
                        _demo_fps(demo_model, device, n, frames, tmp / "demo"))
                    local, remote = _serve_fps(source, n, wh, frames, warmup,
                                               tmp / f"snaps-{r}-{n}")
                runs.setdefault(("serve in-process", n), []).append(local)
                runs.setdefault(("serve gRPC w1", n), []).append(remote)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    table = Table(title=f"latentstage bench threads: fps under {load} busy-loop process(es), "
                        f"median of {rounds} rounds")
    for col in ("workload", f"default ({default} threads)", f"policy ({policy} threads)",
                "policy / default"):
        table.add_column(col, justify="right")
    for work in ("demo", "serve in-process", "serve gRPC w1"):
        a = statistics.median(runs[(work, default)])
        b = statistics.median(runs[(work, policy)])
        table.add_row(work, f"{a:.1f}", f"{b:.1f}", f"{b / a:.2f}x")
    console.print(table)
    console.print(f"demo: {frames} frames of the demo loop at the model's native size; serve: "
                  f"{wh[0]}x{wh[1]} raw, {frames} frames after {warmup} warm-up, in-process and "
                  "gRPC (one pose in flight) alternating frame by frame.")
