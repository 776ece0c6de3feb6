"""``latentstage bench …``: benchmarks that print ratios measured in one run.

The benchmarks live in this package (``bench/``), off the serving floor: the runtime never
imports them; ``latentstage.runtime.cli`` loads this app only when ``latentstage bench`` runs.
Figures are never asserted by tests; record them in ``docs/benchmarks.md`` with the command
and the machine they ran on.
"""

from __future__ import annotations

import contextlib
import platform
import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from latentstage.bench.docs import DOCS_PAGE, Tee, write_section
from latentstage.runtime.cli_choices import DEVICE_METAVAR
from latentstage.runtime.progress import progress_bar


class _BenchGroup(TyperGroup):
    """Keeps the subcommand's own arguments (ctx.meta), for the command --write-docs prints."""

    def invoke(self, ctx):
        ctx.meta["bench.args"] = [*ctx._protected_args, *ctx.args]
        return super().invoke(ctx)


_RUN: dict = {}  # this run's --write-docs state: the Tee and the page (set by _options)


def _written(_result, write_docs: bool, docs_page: Path) -> None:
    """After a benchmark succeeded: write its section of the page (``--write-docs``)."""
    if not write_docs:
        return
    args = _RUN["args"]
    command = "latentstage bench " + " ".join(shlex.quote(a) for a in args)
    page = write_section(args[0], command, _RUN["tee"].text(), docs_page)
    print(f"wrote the {args[0]!r} section of {page}", file=sys.stderr)


bench_app = typer.Typer(help="Benchmarks (ratios measured in one run).", no_args_is_help=True,
                        cls=_BenchGroup, result_callback=_written)


@bench_app.callback()
def _options(
    ctx: typer.Context,
    write_docs: bool = typer.Option(
        False, "--write-docs", help="Also write this benchmark's section of docs/benchmarks.md "
        "(between <!-- bench:NAME --> markers): the command and all it printed."),
    docs_page: Path = typer.Option(DOCS_PAGE, "--docs-page", help="The page --write-docs "
                                   "writes."),
) -> None:
    """Benchmarks that print figures measured in one run; --write-docs NAME ... records one."""
    _RUN.clear()
    if write_docs:
        _RUN.update(args=ctx.meta["bench.args"], tee=Tee(sys.stdout))
        ctx.with_resource(contextlib.redirect_stdout(_RUN["tee"]))


def _reference_encoder(device):
    """The bundled model's encoder, or an untrained one of the same size (same cost)."""
    from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir
    from latentstage.runtime.errors import NotFound

    try:
        model = WorldModel.from_pretrained(bundled_checkpoint_dir(), device=device)
        return model.autoencoder.encode, model.latent_spec().channels, "bundled checkpoint"
    except NotFound:
        from latentstage.model.autoencoder import Autoencoder

        ae = Autoencoder().to(device).eval()
        return ae.encode, ae.latent_channels, "untrained reference-size encoder"


@bench_app.command("memory")
def memory_bench(
    device: str = typer.Option("cpu", metavar=DEVICE_METAVAR, help="Where to measure."),
    frames: int = typer.Option(40, min=4, help="Orbit frames written to each memory."),
    sizes: str = typer.Option("256,512", help="Comma-separated square image sizes, pixels."),
    capacity: int = typer.Option(262_144, min=4096, help="Latent memory capacity, points."),
    plot: Path = typer.Option(None, help="Save the cost-against-points curves as a PNG."),
) -> None:
    """Latent memory against the RGB point cloud: conditioning time and bytes, and scaling."""
    import torch

    from latentstage.bench.memory import conditioning, scaling
    from latentstage.runtime.device import device_name, device_option

    dev = device_option(device)
    console = Console(width=max(Console().width, 150))
    try:
        size_list = [int(s) for s in sizes.split(",")]
    except ValueError as exc:
        raise typer.BadParameter(f"{sizes!r}: expected e.g. 256,512", param_hint="--sizes") from exc
    encode, channels, source = _reference_encoder(dev)
    console.print(f"device: {device_name(dev)}; encoder: {source}; torch {torch.__version__}")

    table = Table(title=f"Conditioning per frame after a {frames}-frame orbit (medians)")
    for col in ("size", "latent readout ms", "RGB raster+encode ms", "time ratio",
                "latent points", "RGB points", "latent MiB", "RGB MiB", "bytes ratio",
                "latent write ms", "RGB write ms"):
        table.add_column(col, justify="right")
    with progress_bar(console) as bar:
        task = bar.add_task("conditioning", total=len(size_list))
        results = []
        for s in size_list:
            bar.update(task, description=f"conditioning at {s}x{s}")
            results.append(conditioning(s, frames, encode, channels, dev))
            bar.advance(task)
    for r in results:
        table.add_row(
            f"{r.size}x{r.size}", f"{r.latent_cond_s * 1e3:.2f}", f"{r.rgb_cond_s * 1e3:.2f}",
            f"{r.time_ratio:.1f}x", f"{r.latent_points:,}", f"{r.rgb_points:,}",
            f"{r.latent_bytes / 2**20:.2f}", f"{r.rgb_bytes / 2**20:.1f}",
            f"{r.bytes_ratio:.1f}x", f"{r.latent_write_s * 1e3:.2f}",
            f"{r.rgb_write_s * 1e3:.2f}",
        )
    console.print(table)

    scale = Table(title=f"Latent memory cost against stored points (capacity {capacity:,})")
    for col in ("points", "write ms (32x32 tokens)", "readout ms (32x32, culled)",
                "readout ms (unculled)"):
        scale.add_column(col, justify="right")
    with console.status("filling the memory to capacity…"):
        rows = scaling(capacity, channels, dev)
    for row in rows:
        scale.add_row(f"{row.points:,}", f"{row.write_s * 1e3:.2f}", f"{row.readout_s * 1e3:.2f}",
                      f"{row.readout_unculled_s * 1e3:.2f}")
    console.print(scale)
    if plot is not None:
        from latentstage.runtime.plots import Curve, Figure, save_figure

        points = [r.points for r in rows]
        save_figure(Figure(
            f"latentstage bench memory: cost against stored points\n{device_name(dev)}",
            "stored points", "milliseconds", [
                Curve("write (32x32 tokens)", points, [r.write_s * 1e3 for r in rows]),
                Curve("readout (32x32)", points, [r.readout_s * 1e3 for r in rows], "-s")],
            logx=True, note=f"latentstage bench memory --capacity {capacity}"), plot)
        console.print(f"curves written to {plot}")


@bench_app.command("soak")
def soak_bench(
    minutes: float = typer.Option(1.0, min=0.0, help="Length of the sessions scenario."),
    sessions: int = typer.Option(2, min=1, help="Concurrent sessions held for --minutes."),
    fps: float = typer.Option(10.0, min=0.1, help="Poses per second of each session."),
    cycles: int = typer.Option(200, min=4, help="Connect/disconnect cycles (four clients)."),
    kills: int = typer.Option(3, min=0, help="kill -9 during a save, then restart."),
    slow_readers: int = typer.Option(2, min=0, help="Sessions that never read."),
    idle: int = typer.Option(2, min=1, help="Sessions that send nothing."),
    model: str = typer.Option("tiny", help="tiny (small random checkpoint), bundled or a "
                              "checkpoint directory."),
    seed: int = typer.Option(0, help="Seed of the kill timings."),
) -> None:
    """Soak and faults: sessions for M minutes, connect/disconnect cycles, kill -9 during save
    then restart, slow readers, idle sessions, the attacks of issue 12. Prints what was tried
    and what failed; exits 1 on any failure (docs/reliability.md)."""
    import logging
    import time

    from latentstage.bench.soak import SoakConfig, run_soak

    logging.getLogger("latentstage").setLevel(logging.WARNING)  # per-session lines off
    # grpc.aio's poller reports "Event loop is closed" when a scenario's loop ends before its
    # last callback; the soak counts real failures itself.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    console = Console(width=max(Console().width, 150))
    config = SoakConfig(minutes, sessions, fps, cycles, kills, slow_readers, idle, model, seed)
    t0 = time.monotonic()
    with console.status("soak…") as status:
        outcomes = run_soak(config, progress=lambda name: status.update(f"soak: {name}…"))
    table = Table(title=f"latentstage bench soak ({time.monotonic() - t0:.0f} s, "
                        f"{platform.processor() or platform.machine()})")
    for col, justify in (("scenario", "left"), ("tried", "right"), ("failed", "right"),
                         ("figures", "left")):
        table.add_column(col, justify=justify)
    for o in outcomes:
        table.add_row(o.name, f"{o.tried} {o.unit}", str(o.failed), "; ".join(o.figures))
    console.print(table)
    for o in outcomes:
        for failure in o.failures:
            console.print(f"[red]{o.name}[/red]: {failure}")
    if any(o.failed for o in outcomes):
        raise typer.Exit(1)
# Imported last: these import only numpy, typer and rich at module level (export.cli: typer
# and rich; its heavy imports stay in the command bodies).
from latentstage.bench.frames_cli import bench_frames  # noqa: E402
from latentstage.bench.freed import bench_freed  # noqa: E402
from latentstage.bench.native import bench_native  # noqa: E402
from latentstage.bench.scaleout import bench_scaleout  # noqa: E402
from latentstage.bench.serve import bench_serve  # noqa: E402
from latentstage.bench.threads import bench_threads  # noqa: E402
from latentstage.export.cli import backends as bench_backends  # noqa: E402
from latentstage.previs.cli import bench as bench_previs  # noqa: E402
from latentstage.previs.cli import bench_viewer  # noqa: E402

bench_app.command("freed")(bench_freed)
bench_app.command("frames")(bench_frames)
bench_app.command("serve")(bench_serve)
bench_app.command("native")(bench_native)
bench_app.command("scaleout")(bench_scaleout)
bench_app.command("threads")(bench_threads)
bench_app.command("backends", help="Every backend against torch eager, per network and per "
                  "frame.")(bench_backends)
bench_app.command("previs", help="Offline render fps and seek cost against the snapshot "
                  "interval.")(bench_previs)
bench_app.command("viewer", help="The viewer in headless chromium: key press to frame on "
                  "screen.")(bench_viewer)
