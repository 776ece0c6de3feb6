"""``latentstage serve``: run the gRPC server (see docs/service.md)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import typer

from latentstage.runtime.cli_choices import DEVICE_METAVAR, BackendName
from latentstage.runtime.sizes import size_option

log = logging.getLogger(__name__)


def default_snapshot_dir() -> Path:
    """``$XDG_DATA_HOME/latentstage/snapshots`` (``~/.local/share/...`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "latentstage" / "snapshots"


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind. Use TLS and a token beyond "
                             "localhost."),
    port: int = typer.Option(50051, min=0, max=65535, help="Port (0 = any free port)."),
    model: str = typer.Option("bundled", help="Checkpoint directory, engine bundle or 'bundled'."),
    backend: BackendName = typer.Option(BackendName.torch, help="Inference backend."),
    device: str = typer.Option("auto", metavar=DEVICE_METAVAR, help="Where the model runs."),
    max_sessions: int = typer.Option(8, min=1, help="Concurrent sessions."),
    max_worlds: int = typer.Option(16, min=1, help="Worlds held in memory."),
    max_size: str = typer.Option("3840x2160", help="Largest frame WIDTHxHEIGHT; sets the "
                                 "gRPC message limits."),
    max_fps: float = typer.Option(240.0, min=1.0, help="Highest target fps a client may ask."),
    memory_capacity: int = typer.Option(262_144, min=1024, help="Latent memory points per world."),
    snapshot_dir: Path = typer.Option(None, help="Snapshot folder (default "
                                      "$XDG_DATA_HOME/latentstage/snapshots)."),
    metrics_port: int = typer.Option(None, min=0, max=65535,
                                     help="Serve Prometheus /metrics on this port."),
    metrics_host: str = typer.Option("127.0.0.1", help="Address /metrics binds (plain HTTP, "
                                     "no auth: keep it local or firewalled)."),
    idle_timeout: float = typer.Option(60.0, min=0.0, help="Close a session after this many "
                                       "seconds without Pose or Control (0 = never)."),
    max_sessions_per_peer: int = typer.Option(4, min=0, help="Sessions one client address may "
                                              "hold (0 = no cap)."),
    max_sessions_per_token: int = typer.Option(4, min=0, help="Sessions one bearer token may "
                                               "hold (0 = no cap)."),
    max_worlds_per_peer: int = typer.Option(8, min=0, help="Worlds one client address may "
                                            "create and hold (0 = no cap)."),
    max_worlds_per_token: int = typer.Option(8, min=0, help="Worlds one bearer token may "
                                             "create and hold (0 = no cap)."),
    tls_cert: Path = typer.Option(None, exists=True, dir_okay=False, help="PEM certificate chain."),
    tls_key: Path = typer.Option(None, exists=True, dir_okay=False, help="PEM private key."),
    token_file: Path = typer.Option(None, exists=True, dir_okay=False,
                                    help="Bearer tokens, one per line; clients must send one."),
    grace: float = typer.Option(5.0, min=0.0, help="Seconds streams get to end on shutdown."),
    threads: int = typer.Option(None, min=1, help="Torch CPU threads (default on a CPU device: "
                                "cores - 1, leaving one to gRPC and encoding)."),
    server_id: str = typer.Option("", help="This worker's id in frames and leases (default "
                                  "host-port-random).", rich_help_panel="Scale-out"),
    snapshot_store: Path = typer.Option(None, help="Shared snapshot store (a directory, a "
                                        "network filesystem in production): worlds are saved "
                                        "there and restored by another worker if this one is "
                                        "lost (docs/scale-out.md).", rich_help_panel="Scale-out"),
    autosnapshot_s: float = typer.Option(10.0, min=0.0, help="--snapshot-store: save changed "
                                         "worlds every N seconds (0 = only on request).",
                                         rich_help_panel="Scale-out"),
    lease_s: float = typer.Option(6.0, min=0.5, help="--snapshot-store: a world's lease lives "
                                  "this long without renewal (renewed every third of it).",
                                  rich_help_panel="Scale-out"),
    freed: str = typer.Option(None, help="Track one FreeD camera: UDP ADDR:PORT, PORT or a "
                              "vendor preset (generic 40000, mosys 8001, stype/ncam 6301, "
                              "panasonic 1111, sony 52380); ADDR defaults to 127.0.0.1.",
                              rich_help_panel="FreeD tracking"),
    freed_config: Path = typer.Option(None, exists=True, dir_okay=False, help="Tracked cameras "
                                      "from a JSON or TOML file (see docs/freed.md).",
                                      rich_help_panel="FreeD tracking"),
    freed_camera_id: int = typer.Option(0, min=0, max=255, help="--freed: the FreeD camera id.",
                                        rich_help_panel="FreeD tracking"),
    freed_world: str = typer.Option("procedural:0:outdoor", help="--freed: the world, "
                                    "procedural:SEED[:KIND] or snapshot:NAME.",
                                    rich_help_panel="FreeD tracking"),
    freed_lens: str = typer.Option(None, help="--freed: lens calibration (.json/.csv) or "
                                   "builtin:default / builtin:broadcast-22x. Without one, "
                                   "sessions on the camera are refused.",
                                   rich_help_panel="FreeD tracking"),
    freed_transform: str = typer.Option("freed", help="--freed: stage preset, freed (this "
                                        "project's FreeD world) or unreal (Unreal "
                                        "LiveLinkFreeD's world and decoding).",
                                        rich_help_panel="FreeD tracking"),
) -> None:
    """Serve camera sessions over gRPC until SIGINT/SIGTERM (then shut down gracefully)."""
    from latentstage.runtime.errors import Incompatible, InvalidInput, NotFound
    from latentstage.runtime.guards import Guards
    from latentstage.runtime.server import ServerConfig, build_core, insecure_bind_warnings
    from latentstage.runtime.server import serve as run
    from latentstage.runtime.types import Limits

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither",
                                 param_hint="--tls-cert/--tls-key")
    tracked = _freed_config(freed, freed_config, freed_camera_id, freed_world, freed_lens,
                            freed_transform)
    w, h = size_option(max_size, "--max-size")
    limits = Limits(max_width=w, max_height=h, max_sessions=max_sessions, max_worlds=max_worlds,
                    max_fps=max_fps, memory_capacity=memory_capacity)
    config = ServerConfig(host=host, port=port, model=model, backend=backend, device=device,
                          limits=limits, snapshot_dir=snapshot_dir or default_snapshot_dir(),
                          metrics_port=metrics_port, metrics_host=metrics_host,
                          tls_cert=tls_cert, tls_key=tls_key, token_file=token_file,
                          grace_s=grace, threads=threads, freed=tracked,
                          guards=Guards(idle_timeout, max_sessions_per_peer,
                                        max_sessions_per_token, max_worlds_per_peer,
                                        max_worlds_per_token),
                          server_id=server_id, snapshot_store=snapshot_store,
                          autosnapshot_s=autosnapshot_s, lease_s=lease_s)
    for line in insecure_bind_warnings(config):
        log.warning("%s", line)
    try:
        core = build_core(config)
        asyncio.run(run(config, core))
    except (InvalidInput, NotFound, Incompatible) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _freed_config(listen: str | None, path: Path | None, camera_id: int, world: str,
                  lens: str | None, transform: str):
    """The tracked cameras of ``--freed`` or ``--freed-config`` (None without either); checked
    before the model loads, so a typo fails at once."""
    from latentstage.runtime import freed_config as fc
    from latentstage.runtime.errors import InvalidInput

    if listen is not None and path is not None:
        raise typer.BadParameter("give --freed (one camera) or --freed-config (several), not "
                                 "both", param_hint="--freed/--freed-config")
    try:
        if path is not None:
            return fc.load_config(path)
        if listen is not None:
            return fc.single_camera(listen, camera_id, world, lens, transform)
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc), param_hint="--freed-config" if path else
                                 "--freed") from None
    return None
