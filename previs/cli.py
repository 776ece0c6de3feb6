"""Commands: ``latentstage render``, ``latentstage view`` and ``latentstage bench previs``
(mounted lazily by ``latentstage.runtime.cli``)."""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from pathlib import Path

import typer

from latentstage.runtime.cli_choices import DEVICE_METAVAR, BackendName, Convention, UpAxis

log = logging.getLogger(__name__)


class ShotFormat(StrEnum):
    """What ``latentstage render`` writes."""

    png = "png"  # one PNG per frame
    mp4 = "mp4"  # the PNG frames and shot.mp4


def _load_model(model: str, backend: str, device: str):
    from latentstage.runtime.backends import load_backend
    from latentstage.runtime.core import configure_threads, resolve_device

    dev = resolve_device(device)
    configure_threads(dev)
    return load_backend(backend, model, dev)


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def _world_record(world: str | None, seed_image: Path | None, depth: str | None) -> dict:
    """How the world was given, with the SHA-256 of any file, for the manifest (a resumed
    render must start from the same world)."""
    from latentstage.previs.shot import file_sha256

    if seed_image is not None:
        out = {"seed_image": str(seed_image), "seed_image_sha256": file_sha256(seed_image),
               "depth": depth}
        if depth is not None and Path(depth).is_file():
            out["depth_sha256"] = file_sha256(Path(depth))
        return out
    out = {"world": world}
    if world is not None and Path(world).is_file():
        out["snapshot_sha256"] = file_sha256(Path(world))
    return out


def _render_with_progress(engine, shot, settings):
    """``render_shot`` under a rich progress bar with fps and ETA."""
    from latentstage.previs.render import render_shot
    from latentstage.runtime.progress import progress_bar

    with progress_bar(info=True, eta=True, transient=False) as bar:
        task = bar.add_task("render", total=len(settings.frames), info="- fps")
        t0 = time.perf_counter()
        rendered = [0]

        def tick(_index, frame):
            rendered[0] += frame is not None
            fps = rendered[0] / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=1, info=f"{fps:.1f} fps")

        return render_shot(engine, shot, settings, on_frame=tick)


def render(
    path: Path = typer.Option(..., "--path", exists=True, dir_okay=False,
                              help="Camera path: cameras.json, CSV (or USD where supported)."),
    out: Path = typer.Option(..., "--out", help="Render folder (resumed if it holds this shot)."),
    world: str = typer.Option(None, help="procedural:SEED[:KIND], a snapshot file or name; "
                              "default: the world the path names, else procedural:0:outdoor."),
    seed_image: Path = typer.Option(None, exists=True, dir_okay=False,
                                    help="Seed the world from this image instead."),
    depth: str = typer.Option(None, help="--seed-image depth: metres (a number) or a .npy map; "
                              "default: estimated by the model."),
    size: str = typer.Option(None, help="WIDTHxHEIGHT (default: the path's, else 256x256)."),
    frames: str = typer.Option(None, help="A:B shot indices to render (B exclusive)."),
    fmt: ShotFormat = typer.Option(ShotFormat.png, "--format",
                                   help="png (frames) or mp4 (frames and shot.mp4)."),
    convention: Convention = typer.Option(None, help="The path's convention when the file has "
                                          "none."),
    units: str = typer.Option(None, help="Position units when the file declares none: m, cm, "
                              "mm, in, ft or metres per unit (docs/paths.md)."),
    up_axis: UpAxis = typer.Option(None, help="World up axis when the file declares none."),
    camera: str = typer.Option(None, help="USD: the camera's prim path (default: the only "
                               "camera)."),
    model: str = typer.Option("bundled", help="Checkpoint directory, engine bundle or 'bundled'."),
    backend: BackendName = typer.Option(BackendName.torch, help="Inference backend."),
    device: str = typer.Option("cpu", metavar=DEVICE_METAVAR, help="Torch device."),
    seed: int = typer.Option(0, help="Noise seed (with each frame id)."),
    steps: int = typer.Option(None, min=1, max=4, help="Sampler steps (default: the model's)."),
    snapshot_every: int = typer.Option(8, min=1, help="Frames between memory snapshots."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a folder of another shot."),
    server: str = typer.Option(None, help="HOST:PORT of a running service: render there in "
                               "LOCKSTEP pacing (--model/--backend/--device are the server's)."),
    token: str = typer.Option(None, envvar="LATENTSTAGE_TOKEN", help="--server: bearer token."),
) -> None:
    """Render a camera path offline, deterministically: frames or mp4, a per-frame table, a
    manifest and a top-down plot of the path."""
    from latentstage.previs.engine import InProcessEngine, open_world
    from latentstage.previs.render import RenderConflict, RenderSettings
    from latentstage.previs.shot import frame_range, load_shot, parse_size
    from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound

    engine = None
    try:
        if server:
            from latentstage.previs.remote import ServerEngine
            from latentstage.previs.shot import file_sha256

            stride = 8  # the shot's cameras do not depend on it (only padding does)
        else:
            m = _load_model(model, backend, device)
            stride = m.latent_spec().stride
        shot = load_shot(path, parse_size(size) if size else None, convention, stride,
                         units=units, up_axis=up_axis, camera=camera)
        for warning in shot.warnings:
            log.warning("%s", warning)
            typer.secho(f"warning: {warning}", fg="yellow", err=True)
        rng = frame_range(frames, len(shot))
        if world is None and seed_image is None:
            w = shot.world or {"seed": 0, "kind": "outdoor"}
            world = f"procedural:{w['seed']}:{w.get('kind', 'outdoor')}"
        if server:
            engine = ServerEngine(server, world, seed_image, depth, seed=seed, steps=steps,
                                  tag=file_sha256(path)[:12], token=token)
        else:
            built = open_world(m, world, seed_image, depth)
            engine = InProcessEngine(m, built, seed=seed, steps=steps, backend=backend)
        settings = RenderSettings(out, rng, fmt, snapshot_every,
                                  _world_record(world, seed_image, depth), overwrite)
        report = _render_with_progress(engine, shot, settings)
    except (ValueError, InvalidInput, NotFound, Incompatible, CorruptFile, RenderConflict) as exc:
        _fail(exc)
    finally:
        if engine is not None and hasattr(engine, "close"):
            engine.close()
    typer.echo(f"{len(report.rendered)} frames rendered ({report.skipped} already there, "
               f"{report.replayed} replayed) at {report.fps:.2f} fps -> {out}")


def view(
    world: str = typer.Option("procedural:0:outdoor", help="procedural:SEED[:KIND], a "
                              "snapshot file or name."),
    seed_image: Path = typer.Option(None, exists=True, dir_okay=False,
                                    help="Seed the world from this image instead."),
    depth: str = typer.Option(None, help="--seed-image depth: metres or a .npy map."),
    path: Path = typer.Option(None, "--path", exists=True, dir_okay=False,
                              help="A camera path to scrub."),
    size: str = typer.Option("256x256", help="Frame WIDTHxHEIGHT."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (keep it local)."),
    port: int = typer.Option(8765, min=0, max=65535, help="Port (0 = any free port)."),
    model: str = typer.Option("bundled", help="Checkpoint directory, engine bundle or 'bundled'."),
    backend: BackendName = typer.Option(BackendName.torch, help="Inference backend."),
    device: str = typer.Option("auto", metavar=DEVICE_METAVAR, help="Torch device."),
    seed: int = typer.Option(0, help="Noise seed."),
    steps: int = typer.Option(None, min=1, max=4, help="Sampler steps (default: the model's)."),
    snapshot_every: int = typer.Option(8, min=1, help="Scrub: frames between snapshots."),
    snapshot_dir: Path = typer.Option(None, help="Where save/load keep worlds (default: the "
                                      "server's snapshot folder)."),
    server: str = typer.Option(None, help="HOST:PORT of a running service to render on "
                               "(default: in this process)."),
) -> None:
    """A local web page to fly a world (WASD, mouse look) or scrub a camera path."""
    from latentstage.previs.shot import load_shot, parse_size
    from latentstage.previs.view import build_viewer, start_viewer
    from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound
    from latentstage.runtime.serve_cli import default_snapshot_dir

    try:
        m = None if server else _load_model(model, backend, device)
        wh = parse_size(size)
        shot = load_shot(path, wh, None, m.latent_spec().stride if m else 8) if path else None
        viewer = build_viewer(m, None if seed_image else world, seed_image, depth, shot, wh,
                              seed, steps, snapshot_every,
                              snapshot_dir or default_snapshot_dir(), backend=backend,
                              server=server)
        server, thread = start_viewer(viewer, host, port)
    except (ValueError, InvalidInput, NotFound, Incompatible, CorruptFile, OSError) as exc:
        _fail(exc)
    typer.echo(f"viewer at http://{host}:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()


def bench(
    model: str = typer.Option("bundled", help="Checkpoint directory or 'bundled'."),
    backend: BackendName = typer.Option(BackendName.torch, help="Inference backend."),
    device: str = typer.Option("cpu", metavar=DEVICE_METAVAR, help="Torch device."),
    frames: int = typer.Option(16, min=4, help="Frames per render."),
    sizes: str = typer.Option("128x128,256x256", help="Comma-separated WIDTHxHEIGHT."),
    intervals: str = typer.Option("1,4,8,16", help="Snapshot intervals N to time seeks for."),
) -> None:
    """Offline render fps per size, and seek cost against the snapshot interval."""
    import tempfile

    from latentstage.previs.bench import bench_previs

    with tempfile.TemporaryDirectory() as tmp:
        result = bench_previs(_load_model(model, backend, device), Path(tmp), frames,
                              sizes.split(","), [int(n) for n in intervals.split(",")],
                              backend=backend)
    for row in result["render"]:
        typer.echo(f"render {row['size']}: {row['fps']:.2f} fps ({row['frames']} frames, "
                   f"{row['snapshot_ms']:.1f} ms per snapshot)")
    for row in result["seek"]:
        typer.echo(f"seek N={row['every']:>3}: mean {row['mean_ms']:.0f} ms, max "
                   f"{row['max_ms']:.0f} ms, mean replayed {row['mean_replayed']:.1f} frames "
                   f"({row['size']}, {row['seeks']} seeks)")


def bench_viewer(
    model: str = typer.Option("bundled", help="Checkpoint directory or 'bundled'."),
    device: str = typer.Option("cpu", metavar=DEVICE_METAVAR, help="Torch device."),
    world: str = typer.Option("procedural:3:outdoor", help="The world flown."),
    size: str = typer.Option("128x128", help="Frame WIDTHxHEIGHT."),
    keys: int = typer.Option(30, min=3, help="Key presses timed."),
    screenshot: Path = typer.Option(None, help="Save a screenshot here (e.g. "
                                    "docs/images/viewer.png)."),
) -> None:
    """The viewer in headless chromium: key press to new frame on screen, median and p95."""
    from latentstage.previs.bench import orbit_shot
    from latentstage.previs.browser import drive
    from latentstage.previs.shot import parse_size
    from latentstage.previs.view import build_viewer, start_viewer

    m = _load_model(model, "torch", device)
    wh = parse_size(size)
    viewer = build_viewer(m, world, None, None, None, wh)
    shot = orbit_shot(16, wh, viewer.fly.start_c2w)
    viewer = build_viewer(m, world, None, None, shot, wh)
    server, _ = start_viewer(viewer, "127.0.0.1", 0)
    try:
        r = drive(f"http://127.0.0.1:{server.server_address[1]}/", keys, screenshot)
    finally:
        server.shutdown()
    typer.echo(f"viewer round trip, key press to new frame on screen ({size}, {m.model_id}, "
               f"{m.device}): median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms over "
               f"{r['frames']} key presses")
