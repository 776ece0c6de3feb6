"""``latentstage bench …``: benchmarks that print ratios measured in one run.

Figures are never asserted by tests; record them in ``docs/benchmarks.md`` with the command
and the machine they ran on.
"""

from __future__ import annotations

import platform

import typer
from rich.console import Console
from rich.table import Table

bench_app = typer.Typer(help="Benchmarks (ratios measured in one run).", no_args_is_help=True)


def resolve_device(device: str):
    """``auto``/``cpu``/``cuda[:N]`` to a torch device; a bad value is a CLI error on --device."""
    from latentstage.runtime.core import resolve_device as resolve
    from latentstage.runtime.errors import InvalidInput

    try:
        return resolve(device)
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc), param_hint="--device") from exc


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


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
    device: str = typer.Option("cpu", help="auto, cpu or cuda."),
    frames: int = typer.Option(40, min=4, help="Orbit frames written to each memory."),
    sizes: str = typer.Option("256,512", help="Comma-separated square image sizes, pixels."),
    capacity: int = typer.Option(262_144, min=4096, help="Latent memory capacity, points."),
) -> None:
    """Latent memory against the RGB point cloud: conditioning time and bytes, and scaling."""
    import torch

    from latentstage.runtime.bench_memory import conditioning, scaling

    dev = resolve_device(device)
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
    with console.status("measuring conditioning…"):
        results = [conditioning(s, frames, encode, channels, dev) for s in size_list]
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
    for col in ("points", "write ms (32x32 tokens)", "readout ms (32x32)"):
        scale.add_column(col, justify="right")
    with console.status("filling the memory to capacity…"):
        rows = scaling(capacity, channels, dev)
    for row in rows:
        scale.add_row(f"{row.points:,}", f"{row.write_s * 1e3:.2f}", f"{row.readout_s * 1e3:.2f}")
    console.print(scale)


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

    from latentstage.runtime.bench_soak import SoakConfig, run_soak

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
# Imported last: bench_freed imports only numpy, typer and rich at module level.
from latentstage.runtime.bench_freed import bench_freed  # noqa: E402

bench_app.command("freed")(bench_freed)
