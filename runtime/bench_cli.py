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
    from latentstage.runtime.errors import InvalidInput
    from latentstage.runtime.hub import resolve_device as resolve

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


# Imported last: bench_freed imports only numpy, typer and rich at module level.
from latentstage.runtime.bench_freed import bench_freed  # noqa: E402

bench_app.command("freed")(bench_freed)
