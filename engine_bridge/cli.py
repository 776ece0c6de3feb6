"""``latentstage client …``: talk to a LatentStage server (play a camera path, show info)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from latentstage.runtime.cli_choices import Convention, EncodingName, PathFormat, UpAxis

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


_SERVER_HELP = "HOST:PORT of the server."


def run_client(work, server: str, console: Console):
    """``asyncio.run(work())``; a server that cannot be reached or an RPC that fails is a
    one-line message and exit status 1, not a traceback."""
    import grpc

    try:
        return asyncio.run(work())
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            console.print(f"[red]no LatentStage server at {server}[/red]; is `latentstage serve` "
                          f"running? ({(exc.details() or '').splitlines()[0][:120]})",
                          soft_wrap=True)
        else:
            console.print(f"[red]{exc.code().name}[/red]: {exc.details()}", soft_wrap=True)
        raise typer.Exit(1) from None


@client_app.command("play")
def play_command(
    server: str = typer.Option("127.0.0.1:50051", help=_SERVER_HELP),
    path: Path = typer.Option(..., exists=True, dir_okay=False,
                              help="Camera path: .usd/.usda/.usdc/.usdz, .csv, a cameras.json "
                              "(latentstage worlds render) or a nerfstudio transforms.json "
                              "(docs/paths.md)."),
    format: PathFormat = typer.Option(None, "--format", help="Path format (default: from the "
                                      "suffix, and for JSON from its keys)."),
    convention: Convention = typer.Option(None, help="Pose convention of the file (default: "
                                          "the file's, else the format's; docs/paths.md)."),
    units: str = typer.Option(None, help="Units of the positions: m, cm, mm, in, ft or metres "
                              "per unit (default: the file's, else the convention's)."),
    up_axis: UpAxis = typer.Option(None, help="World up axis of the file (default: the file's, "
                                   "else the convention's)."),
    camera: str = typer.Option(None, help="USD: prim path of the camera (default: the only "
                               "camera on the stage)."),
    out: Path = typer.Option(None, help="Folder for the frames (PNG) and frames.json."),
    mp4: Path = typer.Option(None, help="Also write the frames as an mp4 (at the path's rate)."),
    plot: Path = typer.Option(None, help="Write a PNG of the latency per frame."),
    size: str = typer.Option(None, help="Output WIDTHxHEIGHT (default: the path's, else 256x256)."),
    encoding: EncodingName = typer.Option(EncodingName.jpeg, help="Frame encoding."),
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
    from latentstage.engine_bridge.media import Mp4Sink, latency_plot
    from latentstage.engine_bridge.paths import MissingExtra, load_path
    from latentstage.engine_bridge.play import play
    from latentstage.runtime.sizes import size_option

    console = Console()
    try:
        cam = load_path(path, format=format, units=units, camera=camera,
                        up_axis=up_axis.value if up_axis else None,
                        convention=convention.value if convention else None)
    except (ValueError, KeyError, MissingExtra) as exc:
        raise typer.BadParameter(str(exc), param_hint="--path") from None
    for warning in cam.warnings:
        console.print(f"[yellow]warning[/yellow]: {warning}", soft_wrap=True)
    w, h = size_option(size, "--size") if size else (cam.size or (256, 256))
    num, _, den = timecode_rate.partition("/")
    rate = (int(num), int(den)) if den else int(num)
    rate_fps = fps or cam.fps or 30.0
    lens = C.lens_fov(fov) if fov else None
    open_msg = C.open_message(_world(world, cam.world), (w, h), cam.convention, encoding.value,
                              jpeg_quality=quality, target_fps=rate_fps if realtime else 0.0,
                              steps=steps, seed=seed, lens=lens, lockstep=not realtime,
                              stage=cam.stage())
    sink = Mp4Sink(mp4, rate_fps) if mp4 is not None else None

    async def run():
        async with _client(server, token_file, tls_ca, tls) as client:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("streaming", total=len(cam.samples))
                return await play(client, cam, open_msg, out, window=window,
                                  fps=fps if realtime else None, timecode_rate=rate,
                                  tick=lambda n: bar.update(task, completed=n), sink=sink)

    try:
        report = run_client(run, server, console)
    finally:
        if sink is not None:
            sink.close()
    s = report.summary()
    _play_table(console, path, cam, s, (w, h), encoding.value)
    for message in report.errors[:5]:
        console.print(f"[yellow]error[/yellow]: {message}", soft_wrap=True)
    if out is not None:
        console.print(f"frames written to {out}")
    if sink is not None and sink.frames:
        console.print(f"movie written to {mp4} ({sink.frames} frames)")
    if plot is not None:
        latency_plot(report.latency_ms, report.server_ms.get("total", []), plot,
                     f"{path.name}: {s['frames']} frames, {w}x{h} {encoding.value}")
        console.print(f"latency plot written to {plot}")
    if s["poses"] and not s["frames"]:
        console.print(f"[red]no frame rendered[/red]: 0 of {s['poses']} poses", soft_wrap=True)
        raise typer.Exit(1)


def _play_table(console: Console, path: Path, cam, s: dict, size: tuple[int, int],
                encoding: str) -> None:
    table = Table(title=f"{path.name}: {s['frames']} frames of {s['poses']} poses, "
                        f"{cam.convention}, {size[0]}x{size[1]} {encoding}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("positions read in", cam.units or "-")
    table.add_row("frames per second", f"{s['fps']:.2f}")
    for q in ("p50", "p95", "p99"):
        table.add_row(f"pose-to-frame latency {q} (ms)", f"{s['latency_ms'][q]:.2f}")
    for name, value in s["server_median_ms"].items():
        table.add_row(f"server {name} median (ms)", f"{value:.2f}")
    table.add_row("poses skipped / frames dropped", f"{s['skipped']} / {s['dropped']}")
    table.add_row("rungs", ", ".join(f"{k} {v}" for k, v in s["rungs"].items()))
    table.add_row("errors", str(s["errors"]))
    console.print(table)


@client_app.command("watch")
def watch_command(
    server: str = typer.Option("127.0.0.1:50051", help=_SERVER_HELP),
    camera: str = typer.Option(..., help="Tracked camera name (latentstage client info lists "
                               "them under tracked_cameras)."),
    out: Path = typer.Option(None, help="Folder for the frames (PNG) and frames.json."),
    size: str = typer.Option("256x256", help="Output WIDTHxHEIGHT."),
    encoding: EncodingName = typer.Option(EncodingName.jpeg, help="Frame encoding."),
    fps: float = typer.Option(0.0, min=0.0, help="Frame budget, frames per second (0: none)."),
    frames: int = typer.Option(None, min=1, help="Stop after this many frames."),
    seconds: float = typer.Option(None, min=0.0, help="Stop after this many seconds."),
    token_file: Path = typer.Option(None, exists=True, dir_okay=False, help="Bearer token file."),
    tls_ca: Path = typer.Option(None, exists=True, dir_okay=False,
                                help="PEM root certificate of the server (enables TLS)."),
    tls: bool = typer.Option(False, help="TLS with the system's root certificates."),
) -> None:
    """Watch a FreeD-tracked camera: save the frames its tracker drives, print statistics."""
    import numpy as np
    from rich.progress import Progress

    from latentstage.engine_bridge import client as C
    from latentstage.engine_bridge.watch import watch
    from latentstage.runtime.sizes import size_option

    w, h = size_option(size, "--size")
    encoding = encoding.value
    open_msg = C.watch_message(camera, (w, h), encoding, target_fps=fps,
                               client_name="latentstage-client-watch")
    console = Console()

    async def run():
        async with _client(server, token_file, tls_ca, tls) as client:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"watching {camera}", total=frames)
                return await watch(client, open_msg, out, frames=frames, seconds=seconds,
                                   tick=lambda n: bar.update(task, completed=n))

    report, tracker_dropped = run_client(run, server, console)
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
    server: str = typer.Option("127.0.0.1:50051", help=_SERVER_HELP),
    token_file: Path = typer.Option(None, exists=True, dir_okay=False, help="Bearer token file."),
    tls_ca: Path = typer.Option(None, exists=True, dir_okay=False,
                                help="PEM root certificate of the server (enables TLS)."),
    tls: bool = typer.Option(False, help="TLS with the system's root certificates."),
) -> None:
    """Print the server's model, device, versions, limits, worlds and tracked cameras."""
    console = Console()

    async def run():
        async with _client(server, token_file, tls_ca, tls) as client:
            return await client.server_info(), await client.list_worlds()

    info, worlds = run_client(run, server, console)
    for table in info_tables(server, info, worlds):
        console.print(table)


def info_tables(server: str, info, worlds) -> list[Table]:
    """Readable tables of a ServerInfo and a ListWorldsResponse."""
    from latentstage.v1 import camera_pb2 as cpb
    from latentstage.v1 import service_pb2 as pb

    lim = info.limits
    main = Table(title=f"LatentStage server at {server}", show_header=False)
    main.add_column("field", style="bold")
    main.add_column("value")
    rows = [
        ("model id", info.model_id), ("backend", info.backend), ("device", info.device),
        ("native size", f"{info.native_size.width}x{info.native_size.height} "
                        f"(sizes multiples of {info.latent_stride})"),
        ("sampler steps", f"default {info.default_sampler_steps}, "
                          f"{lim.min_sampler_steps}..{lim.max_sampler_steps}"),
        ("largest frame", f"{lim.max_width}x{lim.max_height}"),
        ("max send / receive", f"{lim.max_send_bytes / 2**20:.1f} MiB / "
                               f"{lim.max_receive_bytes / 2**20:.1f} MiB (a client's receive "
                               "limit must be at least max send)"),
        ("sessions", f"{info.sessions} open of {lim.max_sessions}"),
        ("worlds", f"{info.worlds} of {lim.max_worlds}, {lim.memory_capacity:,} memory points "
                   "each"),
        ("max fps", f"{lim.max_fps:g}"),
        ("conventions", ", ".join(cpb.Convention.Name(c).removeprefix("CONVENTION_").lower()
                                  for c in info.conventions)),
        ("encodings", ", ".join(pb.Encoding.Name(e).removeprefix("ENCODING_").lower()
                                for e in info.encodings)),
        ("auth", "bearer token required" if info.auth_required else "none"),
        ("protocol revision", str(info.protocol_revision)),
        ("versions", ", ".join(f"{k} {v}" for k, v in sorted(info.versions.items()))),
    ]
    for name, value in rows:
        main.add_row(name, value)
    tables = [main]
    if worlds.worlds or worlds.snapshots:
        wt = Table(title="worlds and snapshots")
        for col in ("world id / snapshot", "name", "source", "sessions", "memory points"):
            wt.add_column(col)
        for w in worlds.worlds:
            wt.add_row(w.world_id, w.name, w.source, str(w.sessions), f"{w.memory.points:,}")
        for snap in worlds.snapshots:
            wt.add_row(snap.name, "", f"snapshot, {snap.bytes:,} bytes", "", "")
        tables.append(wt)
    if info.tracked_cameras:
        tc = Table(title="tracked cameras")
        for col in ("name", "world", "FreeD id", "listen", "packets", "dropped", "watchers"):
            tc.add_column(col)
        for c in info.tracked_cameras:
            tc.add_row(c.name, c.world_id, str(c.freed_camera_id), c.listen, f"{c.packets:,}",
                       f"{c.dropped:,}", str(c.watchers))
        tables.append(tc)
    return tables
