"""``latentstage client …``: talk to a LatentStage server (play a camera path, show info)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

client_app = typer.Typer(help="Client for a LatentStage server.", no_args_is_help=True)


def _client(server: str, token_file: Path | None, tls_ca: Path | None, tls: bool):
    from latentstage.engine_bridge.client import AsyncClient

    token = None
    if token_file is not None:
        lines = [x.strip() for x in token_file.read_text().splitlines()]
        token = next((x for x in lines if x and not x.startswith("#")), None)
    roots = tls_ca.read_bytes() if tls_ca is not None else None
    return AsyncClient(server, token=token, root_certificates=roots, tls=tls)


def _world(world: str, path_world: dict | None):
    """A WorldSpec or a world id from ``--world``."""
    from latentstage.engine_bridge import client as C

    if world == "auto":
        if path_world and "seed" in path_world:
            return C.procedural_world(int(path_world["seed"]), path_world.get("kind", "outdoor"))
        return C.empty_world()
    if world == "empty":
        return C.empty_world()
    if world.startswith("procedural:"):
        seed, _, kind = world.removeprefix("procedural:").partition(":")
        return C.procedural_world(int(seed), kind or "outdoor")
    if world.startswith("snapshot:"):
        return C.snapshot_world(name=world.removeprefix("snapshot:"))
    if world.startswith("image:"):
        return C.seed_image_world(Path(world.removeprefix("image:")))
    return world  # an existing world id


@client_app.command("play")
def play_command(
    server: str = typer.Option("127.0.0.1:50051", help="HOST:PORT of the server."),
    path: Path = typer.Option(..., exists=True, dir_okay=False,
                              help="cameras.json (latentstage worlds render) or a .csv path."),
    convention: str = typer.Option(None, help="unreal, unity, opencv, opengl, usd, blender "
                                   "(default: the file's, else opencv)."),
    out: Path = typer.Option(None, help="Folder for the frames (PNG) and frames.json."),
    size: str = typer.Option(None, help="Output WIDTHxHEIGHT (default: the path's, else 256x256)."),
    encoding: str = typer.Option("jpeg", help="jpeg, raw or raw_rgba8."),
    quality: int = typer.Option(90, min=1, max=100, help="JPEG quality."),
    world: str = typer.Option("auto", help="auto (the path's world, else empty), empty, "
                              "procedural:SEED[:KIND], snapshot:NAME, image:FILE or a world id."),
    steps: int = typer.Option(0, min=0, max=4, help="Sampler steps (0 = model default)."),
    seed: int = typer.Option(0, min=0, help="Noise seed."),
    fov: float = typer.Option(None, help="Lens field of view (degrees) for poses without one."),
    realtime: bool = typer.Option(False, help="Send at the path's timestamps; latest pose wins."),
    fps: float = typer.Option(None, help="REALTIME: send rate and frame budget (default: path)."),
    window: int = typer.Option(1, min=1, max=16, help="LOCKSTEP: poses in flight."),
    timecode_rate: str = typer.Option("25", help="Rate of CSV timecodes, e.g. 25 or 30000/1001."),
    token_file: Path = typer.Option(None, exists=True, dir_okay=False, help="Bearer token file."),
    tls_ca: Path = typer.Option(None, exists=True, dir_okay=False,
                                help="PEM root certificate of the server (enables TLS)."),
    tls: bool = typer.Option(False, help="TLS with the system's root certificates."),
) -> None:
    """Stream a camera path, save the frames, print latency statistics."""
    from rich.progress import Progress

    from latentstage.engine_bridge import client as C
    from latentstage.engine_bridge.paths import read_path
    from latentstage.engine_bridge.play import play
    from latentstage.runtime.sizes import size_option

    try:
        cam = read_path(path, convention)
    except (ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--path") from None
    w, h = size_option(size, "--size") if size else (cam.size or (256, 256))
    num, _, den = timecode_rate.partition("/")
    rate = (int(num), int(den)) if den else int(num)
    rate_fps = fps or cam.fps or 30.0
    lens = C.lens_fov(fov) if fov else None
    open_msg = C.open_message(_world(world, cam.world), (w, h), cam.convention, encoding,
                              jpeg_quality=quality, target_fps=rate_fps if realtime else 0.0,
                              steps=steps, seed=seed, lens=lens, lockstep=not realtime)
    console = Console()

    async def run():
        async with _client(server, token_file, tls_ca, tls) as client:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("streaming", total=len(cam.samples))
                return await play(client, cam, open_msg, out, window=window,
                                  fps=fps if realtime else None, timecode_rate=rate,
                                  tick=lambda n: bar.update(task, completed=n))

    import grpc

    try:
        report = asyncio.run(run())
    except grpc.aio.AioRpcError as exc:
        console.print(f"[red]{exc.code().name}[/red]: {exc.details()}")
        raise typer.Exit(1) from None
    s = report.summary()
    table = Table(title=f"{path.name}: {s['frames']} frames of {s['poses']} poses, "
                        f"{cam.convention}, {w}x{h} {encoding}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("frames per second", f"{s['fps']:.2f}")
    for q in ("p50", "p95", "p99"):
        table.add_row(f"pose-to-frame latency {q} (ms)", f"{s['latency_ms'][q]:.2f}")
    for name, value in s["server_median_ms"].items():
        table.add_row(f"server {name} median (ms)", f"{value:.2f}")
    table.add_row("poses skipped / frames dropped", f"{s['skipped']} / {s['dropped']}")
    table.add_row("rungs", ", ".join(f"{k} {v}" for k, v in s["rungs"].items()))
    table.add_row("errors", str(s["errors"]))
    console.print(table)
    for message in report.errors[:5]:
        console.print(f"[yellow]error[/yellow]: {message}")
    if out is not None:
        console.print(f"frames written to {out}")


@client_app.command("watch")
def watch_command(
    server: str = typer.Option("127.0.0.1:50051", help="HOST:PORT of the server."),
    camera: str = typer.Option(..., help="Tracked camera name (latentstage client info lists "
                               "them under tracked_cameras)."),
    out: Path = typer.Option(None, help="Folder for the frames (PNG) and frames.json."),
    size: str = typer.Option("256x256", help="Output WIDTHxHEIGHT."),
    encoding: str = typer.Option("jpeg", help="jpeg, raw or raw_rgba8."),
    fps: float = typer.Option(0.0, min=0.0, help="Frame budget, frames per second (0: none)."),
    frames: int = typer.Option(None, min=1, help="Stop after this many frames."),
    seconds: float = typer.Option(None, min=0.0, help="Stop after this many seconds."),
    token_file: Path = typer.Option(None, exists=True, dir_okay=False, help="Bearer token file."),
    tls_ca: Path = typer.Option(None, exists=True, dir_okay=False,
                                help="PEM root certificate of the server (enables TLS)."),
    tls: bool = typer.Option(False, help="TLS with the system's root certificates."),
) -> None:
    """Watch a FreeD-tracked camera: save the frames its tracker drives, print statistics."""
    import grpc
    import numpy as np
    from rich.progress import Progress

    from latentstage.engine_bridge import client as C
    from latentstage.engine_bridge.watch import watch
    from latentstage.runtime.sizes import size_option

    w, h = size_option(size, "--size")
    open_msg = C.watch_message(camera, (w, h), encoding, target_fps=fps,
                               client_name="latentstage-client-watch")
    console = Console()

    async def run():
        async with _client(server, token_file, tls_ca, tls) as client:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"watching {camera}", total=frames)
                return await watch(client, open_msg, out, frames=frames, seconds=seconds,
                                   tick=lambda n: bar.update(task, completed=n))

    try:
        report, tracker_dropped = asyncio.run(run())
    except grpc.aio.AioRpcError as exc:
        console.print(f"[red]{exc.code().name}[/red]: {exc.details()}")
        raise typer.Exit(1) from None
    s = report.summary()
    table = Table(title=f"tracked camera {camera}: {s['frames']} frames, {w}x{h} {encoding}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("frames per second", f"{s['fps']:.2f}")
    total = report.server_ms.get("total", [])
    for q in (50, 99):
        value = f"{float(np.percentile(total, q)):.2f}" if total else "-"
        table.add_row(f"server datagram-to-frame p{q} (ms)", value)
    table.add_row("tracker poses / skipped / frames dropped",
                  f"{s['poses']} / {s['skipped']} / {s['dropped']}")
    table.add_row("datagrams dropped by the listener", str(tracker_dropped))
    table.add_row("rungs", ", ".join(f"{k} {v}" for k, v in s["rungs"].items()))
    console.print(table)
    if out is not None:
        console.print(f"frames written to {out}")


@client_app.command("info")
def info_command(
    server: str = typer.Option("127.0.0.1:50051", help="HOST:PORT of the server."),
    token_file: Path = typer.Option(None, exists=True, dir_okay=False),
    tls_ca: Path = typer.Option(None, exists=True, dir_okay=False),
    tls: bool = typer.Option(False),
) -> None:
    """Print the server's model, device, versions, limits and worlds."""
    from google.protobuf import text_format

    async def run():
        async with _client(server, token_file, tls_ca, tls) as client:
            return await client.server_info(), await client.list_worlds()

    info, worlds = asyncio.run(run())
    console = Console()
    console.print(text_format.MessageToString(info))
    for w in worlds.worlds:
        console.print(f"world {w.world_id} {w.name!r} {w.source} sessions={w.sessions} "
                      f"points={w.memory.points}")
    for snap in worlds.snapshots:
        console.print(f"snapshot {snap.name} {snap.bytes} bytes")
