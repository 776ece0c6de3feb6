"""The gRPC server: the LatentStage service, health checking, reflection, auth, TLS, metrics.

Message-size limits are set for the largest frame the server allows, so no frame is ever
chunked: the send limit is raw RGBA8 at ``--max-size`` plus 64 KiB of headroom (33.2 MB at
3840x2160), and the receive limit fits a seed image and its float32 depth at that size plus
1 MiB (67.4 MB at 3840x2160). Larger requests fail with RESOURCE_EXHAUSTED.

Shutdown (:meth:`RunningServer.stop`): health goes NOT_SERVING, new sessions get UNAVAILABLE,
every open stream receives an ``EVENT_KIND_SERVER_SHUTTING_DOWN`` and ends, then
``server.stop(grace)`` cancels whatever is still running after ``grace`` seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from latentstage.runtime.auth import BearerTokenInterceptor, read_tokens
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.guards import Guards
from latentstage.runtime.metrics import ServerMetrics
from latentstage.runtime.scheduler import SchedulerConfig
from latentstage.runtime.service import LatentStageServicer, add_to_server
from latentstage.runtime.types import Limits
from latentstage.v1 import service_pb2 as pb

log = logging.getLogger(__name__)

# latentstage.v1.LatentStageService
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["LatentStageService"].full_name


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``latentstage serve`` configures."""

    host: str = "127.0.0.1"  # bind address; localhost unless asked
    port: int = 50051  # 0 = any free port
    model: str = "bundled"  # checkpoint directory, engine bundle or "bundled"
    backend: str = "torch"  # backend name (runtime.backends)
    device: str = "auto"  # auto, cpu or cuda[:N]
    limits: Limits = field(default_factory=Limits)  # sizes, sessions, worlds
    snapshot_dir: Path = Path("snapshots")  # where SaveWorld writes and LoadWorld reads
    metrics_port: int | None = None  # Prometheus /metrics port; None = off
    metrics_host: str = "127.0.0.1"  # /metrics bind address (plain HTTP, no auth)
    tls_cert: Path | None = None  # PEM certificate chain; with tls_key enables TLS
    tls_key: Path | None = None  # PEM private key
    token_file: Path | None = None  # bearer tokens, one per line; None = no auth
    grace_s: float = 5.0  # seconds streams get to finish on shutdown
    threads: int | None = None  # torch CPU threads; None = cores - 1 on a CPU device
    runner: SchedulerConfig = field(default_factory=SchedulerConfig)  # scheduler knobs
    freed: object | None = None  # FreeD tracked cameras (runtime.freed_config.FreeDConfig)
    guards: Guards = field(default_factory=Guards)  # per-client caps and idle timeout
    server_id: str = ""  # this worker's id in frames and leases; "" = host-port-random
    snapshot_store: Path | None = None  # shared snapshot store (scale-out); None = off
    autosnapshot_s: float = 10.0  # with a store: save changed worlds this often (0 = on request)
    lease_s: float = 6.0  # with a store: a world's lease lives this long without renewal


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: ``localhost`` (any case), 127.0.0.0/8 or
    ``::1`` (with or without brackets)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def insecure_bind_warnings(config: ServerConfig) -> list[str]:
    """What is reachable beyond this machine without protection, one line each."""
    out = []
    if not is_loopback(config.host) and (config.tls_cert is None or config.token_file is None):
        out.append(f"event=insecure_bind host={config.host} tls={config.tls_cert is not None} "
                   f"auth={config.token_file is not None}: anyone who can reach this address "
                   "can use the server")
    if config.metrics_port is not None and not is_loopback(config.metrics_host):
        out.append(f"event=insecure_bind metrics_host={config.metrics_host} "
                   f"metrics_port={config.metrics_port}: /metrics is plain HTTP without "
                   "authentication; anyone who can reach this address can read it")
    return out


def channel_options(limits: Limits) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", limits.max_send_bytes),
        ("grpc.max_receive_message_length", limits.max_receive_bytes),
        ("grpc.so_reuseport", 0),  # a second server on the same port fails instead of sharing it
        ("grpc.keepalive_time_ms", 30_000),  # ping idle clients so dead ones free their sessions
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def _credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if (config.tls_cert is None) != (config.tls_key is None):
        raise InvalidInput("tls", (config.tls_cert, config.tls_key),
                           "both --tls-cert and --tls-key, or neither")
    if config.tls_cert is None:
        return None
    try:
        key, cert = Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes()
    except OSError as exc:
        raise InvalidInput("tls", exc.filename, f"readable PEM files ({exc.strerror})") from None
    return grpc.ssl_server_credentials([(key, cert)])


@dataclass
class RunningServer:
    """A started server and its parts."""

    server: grpc.aio.Server
    servicer: LatentStageServicer
    health: health.aio.HealthServicer
    core: object  # latentstage.runtime.core.ServingCore
    metrics: ServerMetrics
    port: int  # the bound port
    metrics_http: object | None = None  # prometheus HTTP server, if any

    async def stop(self, grace: float = 5.0) -> None:
        """Graceful shutdown (see the module docstring); returns within about ``grace`` s."""
        log.info("event=shutdown_begin sessions=%d grace_s=%g", len(self.servicer.runners), grace)
        await self.health.enter_graceful_shutdown()
        self.core.begin_shutdown()
        if getattr(self.core, "tracker", None) is not None:
            self.core.tracker.close()  # no more tracker poses
        await self.servicer.shutdown_sessions()
        await self.server.stop(grace)
        if getattr(self.core, "placement", None) is not None:  # final snapshots, leases released
            await self.core.placement.close()
        await asyncio.get_running_loop().run_in_executor(None, self.core.shutdown)
        if self.metrics_http is not None:
            self.metrics_http[0].shutdown()
            self.metrics_http[0].server_close()
        log.info("event=shutdown_done")


async def start_server(core, config: ServerConfig) -> RunningServer:
    """Start serving ``core`` per ``config`` (binds, health SERVING). Call from a running loop.

    The metrics port is bound before gRPC, so a busy one fails (InvalidInput) before the
    server listens."""
    interceptors = []
    if config.token_file is not None:
        interceptors.append(BearerTokenInterceptor(read_tokens(config.token_file)))
    core.auth_required = config.token_file is not None
    core.guards = config.guards
    metrics = ServerMetrics()
    metrics.bind(lambda: core.session_count, lambda: len(core.store), core.memory_bytes)
    http = None
    if config.metrics_port is not None:  # bound first: a busy port fails before gRPC listens
        try:
            http = metrics.serve_http(config.metrics_port, config.metrics_host)
        except OSError as exc:
            raise InvalidInput("metrics_port", f"{config.metrics_host}:{config.metrics_port}",
                               f"a free port this process can bind ({exc.strerror or exc})"
                               ) from None
    try:
        return await _start_grpc(core, config, interceptors, metrics, http)
    except BaseException:
        if http is not None:
            http[0].shutdown()
            http[0].server_close()
        raise


async def _start_grpc(core, config: ServerConfig, interceptors, metrics: ServerMetrics,
                      http) -> RunningServer:
    limits = core.limits
    server = grpc.aio.server(interceptors=interceptors, options=channel_options(limits))
    servicer = LatentStageServicer(core, metrics, config.runner)
    add_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{config.host}:{config.port}"
    creds = _credentials(config)
    try:
        port = (server.add_secure_port(address, creds) if creds is not None
                else server.add_insecure_port(address))
    except RuntimeError as exc:
        raise InvalidInput("port", address, f"an address this process can bind ({exc})") from None
    _start_placement(core, servicer, config, port)
    if config.freed is not None:  # worlds created and UDP bound before anyone can connect
        from latentstage.runtime.tracking import start_tracker

        core.tracker = await start_tracker(core, config.freed, metrics)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    metrics_at = (f"{config.metrics_host}:{http[0].server_port}" if http is not None
                  else "off")
    log.info("event=listening host=%s port=%d tls=%s auth=%s model=%s device=%s "
             "max_size=%dx%d max_sessions=%d metrics=%s", config.host, port,
             creds is not None, config.token_file is not None, core.model.model_id,
             core.model.device, limits.max_width, limits.max_height, limits.max_sessions,
             metrics_at)
    return RunningServer(server, servicer, health_servicer, core, metrics, port, http)


def _start_placement(core, servicer: LatentStageServicer, config: ServerConfig,
                     port: int) -> None:
    """Name this worker and, with ``--snapshot-store``, start keeping its worlds there."""
    import socket
    import uuid

    core.server_id = config.server_id or f"{socket.gethostname()}-{port}-{uuid.uuid4().hex[:6]}"
    if config.snapshot_store is None:
        return
    from latentstage.runtime.placement import Placement
    from latentstage.runtime.snapshot_store import SnapshotStore

    host = config.host  # what other workers dial to probe this one (leases name it)
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = socket.getfqdn()  # a StatefulSet pod: <pod>.<service>.<namespace>.svc...
    store = SnapshotStore(config.snapshot_store, core.server_id, f"{host}:{port}",
                          config.lease_s)
    core.placement = Placement(core, store, config.autosnapshot_s)
    core.placement.on_drop = servicer.drop_world
    core.placement.start()
    log.info("event=snapshot_store path=%s server_id=%s autosnapshot_s=%g lease_s=%g",
             config.snapshot_store, core.server_id, config.autosnapshot_s, config.lease_s)


def build_core(config: ServerConfig):
    """Load the model and build the core (imports torch)."""
    from latentstage.runtime.core import ServingCore

    return ServingCore.load(config.model, config.backend, config.device, config.limits,
                    config.snapshot_dir, threads=config.threads)


async def serve(config: ServerConfig, core=None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    core = core or build_core(config)
    running = await start_server(core, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("event=signal_received")
    await running.stop(config.grace_s)


class ServerThread:
    """A server on its own event loop in a background thread, for benchmarks, tests and
    notebooks: ``with ServerThread(core, config) as st: connect to st.target``."""

    def __init__(self, core, config: ServerConfig | None = None):
        import threading

        self.core = core
        self.config = config or ServerConfig(port=0)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="latentstage-server")
        self.running: RunningServer | None = None

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def target(self) -> str:
        return f"{self.config.host}:{self.port}"

    def call(self, coro, timeout: float | None = 60):
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> ServerThread:
        self._thread.start()
        self.running = self.call(start_server(self.core, self.config))
        return self

    def stop(self, grace: float = 2.0) -> None:
        if self.running is not None:
            self.call(self.running.stop(grace), timeout=grace + 60)
            self.running = None
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
