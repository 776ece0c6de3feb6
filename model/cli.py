"""``latentstage worlds …``: procedural world renders with ground truth, and renderer speed.

(``train``, ``eval``, ``eval-merge`` and ``demo`` are in :mod:`latentstage.model.commands`.)

Heavy modules (torch, the renderer) are imported inside the command bodies so that
``latentstage --help`` stays fast.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path

import typer

worlds_app = typer.Typer(help="Procedural worlds with ground truth.", no_args_is_help=True)


class WorldKind(StrEnum):
    """Scene kinds."""

    indoor = "indoor"
    outdoor = "outdoor"


class PathKind(StrEnum):
    """Trajectory kinds."""

    orbit = "orbit"
    loop = "loop"
    dolly = "dolly"
    walk = "walk"
    keyframes = "keyframes"


class DeviceName(StrEnum):
    """Where to render."""

    cpu = "cpu"
    cuda = "cuda"


def _size(text: str) -> tuple[int, int]:
    from latentstage.runtime.sizes import size_option

    return size_option(text, "--size")


def _device(name: DeviceName):
    from latentstage.runtime.device import device_option

    return device_option(name.value)


#: ``--threads`` of the render commands (one option object, shared).
_THREADS_OPTION = typer.Option(
    1, min=0, help="CPU threads for torch (0: torch's default). One thread is nearly as fast "
    "for these small tensors and does not stall when other processes share the CPU.")


def _threads(count: int) -> None:
    """Use ``count`` CPU threads in torch (0 keeps torch's default)."""
    import torch

    if count > 0:
        torch.set_num_threads(count)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _render_all(scene, traj, intrinsics, writer, movie, batch: int, label: str) -> float:
    """Render ``traj`` in batches with a progress bar, writing every frame (and the video);
    return the seconds spent rendering."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from latentstage.model.worlds import render

    render_s = 0.0
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=len(traj))
        for b0 in range(0, len(traj), batch):
            poses = traj.c2w[b0:b0 + batch]
            start = time.perf_counter()
            result = render(scene, intrinsics, poses)
            _sync(scene.device)
            render_s += time.perf_counter() - start
            for i in range(poses.shape[0]):
                rgb8 = writer.write(b0 + i, result.rgb[i], result.depth[i], result.sky[i],
                                    poses[i], traj.timestamps_ns[b0 + i])
                if movie is not None:
                    movie.write(rgb8)
            bar.advance(task, poses.shape[0])
    return render_s


@worlds_app.command("render")
def render_cmd(
    seed: int = typer.Option(..., min=0, help="World seed (non-negative integer)."),
    kind: WorldKind = typer.Option(..., help="Scene kind."),
    trajectory: PathKind = typer.Option(..., help="Camera path."),
    frames: int = typer.Option(..., min=1, help="Number of frames (> 0)."),
    size: str = typer.Option("256x256", help="Image size WIDTHxHEIGHT in pixels."),
    out: Path = typer.Option(..., help="Output directory."),
    fov: float = typer.Option(70.0, min=1.0, max=179.0, help="Horizontal field of view, degrees."),
    fps: str = typer.Option("30", help="Frame rate, e.g. 30, 25, 29.97 or 30000/1001."),
    video: bool = typer.Option(False, "--video", help="Also write flythrough.mp4."),
    device: DeviceName = typer.Option(DeviceName.cpu, help="Render device."),
    batch: int = typer.Option(8, min=1, help="Frames rendered per batch."),
    low_frequency: bool = typer.Option(False, "--low-frequency", help="Smooth materials only."),
    threads: int = _THREADS_OPTION,
) -> None:
    """Render a fly-through: PNG frames, depth, sky masks, cameras.json (and an mp4)."""
    from latentstage.model.worlds import make_scene, make_trajectory
    from latentstage.model.worlds.io import FrameWriter, VideoWriter
    from latentstage.model.worlds.trajectories import parse_fps
    from latentstage.runtime.camera import Intrinsics
    from latentstage.runtime.errors import InvalidInput

    width, height = _size(size)
    dev = _device(device)
    _threads(threads)
    try:
        rate = parse_fps(fps)
        intrinsics = Intrinsics.from_fov(fov, width, height)
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc)) from exc
    scene = make_scene(seed, kind.value, low_frequency=low_frequency, device=dev)
    traj = make_trajectory(trajectory.value, scene, frames, seed, fps=rate)
    meta = {"scene": {"seed": seed, "kind": kind.value, "low_frequency": low_frequency},
            "trajectory": {"kind": traj.kind, "seed": traj.seed,
                           "revisits": [list(p) for p in traj.revisits]}}
    writer = FrameWriter(out, intrinsics, rate, meta)
    movie = VideoWriter(out / "flythrough.mp4", width, height, rate) if video else None
    render_s = _render_all(scene, traj, intrinsics, writer, movie, batch,
                           f"{kind.value} seed {seed}, {trajectory.value}")
    writer.close()
    if movie is not None:
        movie.close()
    extra = f", video {movie.codec}" if movie is not None else ""
    typer.echo(f"{frames} frames {width}x{height} rendered at {frames / render_s:.1f} fps on "
               f"{dev.type}{extra} -> {out}")


@worlds_app.command("bench")
def bench_cmd(
    size: str = typer.Option("128x128", help="Image size WIDTHxHEIGHT in pixels."),
    frames: int = typer.Option(64, min=1, help="Frames per measurement."),
    device: DeviceName = typer.Option(DeviceName.cpu, help="Render device."),
    batch: list[int] = typer.Option([1, 8], min=1, help="Poses per render call (repeatable)."),
    seed: int = typer.Option(0, min=0, help="World seed."),
    fov: float = typer.Option(70.0, min=1.0, max=179.0, help="Horizontal field of view, degrees."),
    threads: int = _THREADS_OPTION,
    plot: Path = typer.Option(None, help="Save frames per second against batch as a PNG."),
) -> None:
    """Render speed in frames per second for an indoor and an outdoor scene (walk paths)."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from latentstage.runtime.camera import Intrinsics
    from latentstage.runtime.device import device_name

    width, height = _size(size)
    dev = _device(device)
    _threads(threads)
    k = Intrinsics.from_fov(fov, width, height)
    console = Console()
    console.print(f"device: {device_name(dev)}; torch {torch.__version__}")
    table = Table(title=f"worlds render speed, {width}x{height}, {frames} frames per row")
    for col in ("kind", "seed", "solids", "batch", "fps", "ms / frame", "CPU ms / frame"):
        table.add_column(col, justify="right")
    from latentstage.runtime.progress import progress_bar

    fps: dict[str, list[float]] = {}
    with progress_bar(console) as bar:
        task = bar.add_task("rendering", total=len(WorldKind) * len(batch))
        for kind in WorldKind:
            fps[kind.value] = _bench_kind(kind.value, seed, frames, batch, k, dev, table,
                                          lambda b, kind=kind: bar.update(
                                              task, advance=1,
                                              description=f"{kind.value}, batch {b}"))
    console.print(table)
    console.print("CPU ms / frame: processor time of this process (all threads); with one "
                  "thread it is the wall time an idle core would take.")
    if plot is not None:
        from latentstage.runtime.plots import Curve, Figure, save_figure

        save_figure(Figure(f"latentstage worlds bench: render speed, {width}x{height}\n"
                           f"{device_name(dev)}", "poses per render call (batch)",
                           "frames per second",
                           [Curve(kind, batch, values) for kind, values in fps.items()]), plot)
        console.print(f"curves written to {plot}")


def _bench_kind(kind: str, seed: int, frames: int, batch: list[int], k, dev, table,
                done) -> list[float]:
    """Frames per second of one scene kind at each batch, added to ``table`` as rows."""
    from latentstage.model.worlds import make_scene, make_trajectory, render

    scene = make_scene(seed, kind, device=dev)
    traj = make_trajectory("walk", scene, frames, seed)
    out = []
    for b in batch:
        render(scene, k, traj.c2w[:b])  # warm-up
        _sync(dev)
        start, cpu = time.perf_counter(), time.process_time()
        for b0 in range(0, frames, b):
            render(scene, k, traj.c2w[b0:b0 + b])
        _sync(dev)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        table.add_row(kind, str(seed), str(len(scene.solids)), str(b),
                      f"{frames / elapsed:.1f}", f"{1000 * elapsed / frames:.1f}",
                      f"{1000 * cpu / frames:.1f}")
        out.append(frames / elapsed)
        done(b)
    return out
