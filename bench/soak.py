"""``latentstage bench soak``: hold load, inject faults, replay attacks; print what was tried
and what failed.

Scenarios (each against a fresh server, over loopback):

- **sessions**: N sessions for M minutes, half REALTIME at ``--fps``, half LOCKSTEP (every
  pose must come back as its frame). Failures: a missing frame, an Error, a broken stream.
- **cycles**: four clients open, send a pose, (read a frame,) cancel, over and over on a
  four-slot server. Failures: a refused Open, a session left behind.
- **kill -9**: a ``latentstage serve`` subprocess is killed with SIGKILL at a random moment of a
  SaveWorld, then restarted. Failures: a restart that does not serve, a temporary file left
  after the restart, a snapshot that does not load or has lost points (data lost).
- **slow readers**: sessions that send poses and never read, next to a normal session.
  Failures: a frame of the normal session missing, the server's queue over its bound.
- **idle**: sessions that open and send nothing. Failures: one not closed by the idle
  timeout with its final event, a slot not freed.
- **attacks**: the hostile inputs of issue 12 (poisoned snapshots, image bombs, a subnormal
  field of view, corrupt and undecodable bytes, a 1 MB world id, overwrite). Failures: a status
  other than the one expected, or a server that stops answering.

The model is a small random checkpoint by default (frames in milliseconds on a CPU; the load is
the transport and the runtime), or ``--model`` (a checkpoint directory or "bundled").
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

log = logging.getLogger(__name__)

SIZE = (64, 48)


@dataclass(frozen=True)
class SoakConfig:
    """What the soak runs (the CLI's options)."""

    minutes: float = 1.0  # length of the sessions scenario
    sessions: int = 2  # concurrent sessions in the sessions scenario
    fps: float = 10.0  # pose rate of each session, poses per second
    cycles: int = 200  # connect/disconnect cycles (over four clients)
    kills: int = 3  # kill -9 during a save, then restart
    slow_readers: int = 2  # sessions that never read
    idle: int = 2  # sessions that send nothing
    model: str = "tiny"  # "tiny" (random small checkpoint), "bundled" or a checkpoint dir
    seed: int = 0  # kill timings


@dataclass
class Outcome:
    """One scenario's result."""

    name: str  # scenario
    tried: int = 0  # attempts, in ``unit``
    unit: str = ""  # what an attempt is
    failed: int = 0  # attempts that failed
    figures: list[str] = field(default_factory=list)  # what was measured, in words
    failures: list[str] = field(default_factory=list)  # the first few failures, in words

    def fail(self, what: str) -> None:
        self.failed += 1
        if len(self.failures) < 5:
            self.failures.append(what)


# ----- servers ---------------------------------------------------------------------------------
def _checkpoint(config: SoakConfig, folder: Path) -> str:
    if config.model != "tiny":
        return config.model
    from latentstage.model.world_model import save_tiny_checkpoint

    path = folder / "tiny-ckpt"
    if not path.exists():
        save_tiny_checkpoint(path)
    return str(path)


def _server(ckpt: str, folder: Path, *, max_sessions: int = 8, guards=None):
    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.guards import Guards
    from latentstage.runtime.server import ServerConfig, ServerThread
    from latentstage.runtime.types import Limits

    limits = Limits(max_width=256, max_height=256, max_sessions=max_sessions, max_worlds=16,
                    memory_capacity=65536)
    core = ServingCore.load(ckpt, "torch", "cpu", limits, folder, threads=1)
    config = ServerConfig(port=0, snapshot_dir=folder,
                          guards=guards or Guards(sessions_per_peer=0, worlds_per_peer=0))
    return ServerThread(core, config).start()


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _open_msg(world=None, lockstep: bool = True, fps: float = 0.0):
    from latentstage.engine_bridge import client as C

    return C.open_message(world if world is not None else C.empty_world(), SIZE, "unreal", "raw",
                          lockstep=lockstep, target_fps=fps, lens=C.lens_fov(80))


def _pose(i: int):
    from latentstage.engine_bridge import client as C

    yaw = 40 * np.sin(i / 25)
    return C.unreal_pose(i, (30 * np.cos(i / 50), 30 * np.sin(i / 50), 170), rotator=(0, yaw, 0))


# ----- scenarios -------------------------------------------------------------------------------
def soak_sessions(config: SoakConfig, ckpt: str, folder: Path) -> Outcome:
    """N sessions for M minutes: LOCKSTEP ones must get every frame, REALTIME ones count theirs."""
    from latentstage.engine_bridge import client as C

    out = Outcome("sessions", unit="poses")
    st = _server(ckpt, folder / "sessions")
    seconds = config.minutes * 60
    latencies: list[float] = []
    rss = {"start": _rss_mib()}  # replaced once warm (after session 0's 50th pose)

    async def one(index: int) -> None:
        lockstep = index % 2 == 0
        async with C.AsyncClient(st.target) as client:
            session = client.session(_open_msg(C.empty_world(), lockstep, config.fps))
            await session.open()
            deadline, i = time.monotonic() + seconds, 0
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    if lockstep:
                        frame = await asyncio.wait_for(session.render(_pose(i)), 60)
                        latencies.append(time.monotonic() - t0)
                        if frame.frame_id != i:
                            out.fail(f"session {index}: frame {frame.frame_id} for pose {i}")
                    else:
                        await session.send(_pose(i))
                except Exception as exc:  # a broken stream is a failure, counted
                    out.fail(f"session {index} pose {i}: {exc!r}"[:200])
                    return
                out.tried += 1
                i += 1
                if index == 0 and i == 50:
                    rss["start"] = _rss_mib()
                await asyncio.sleep(max(0.0, 1 / config.fps - (time.monotonic() - t0)))
            rest = await session.close()
            for m in rest:
                if m.WhichOneof("kind") == "error":
                    out.fail(f"session {index}: Error {m.error.message}"[:200])
            for e in session.errors:
                out.fail(f"session {index}: Error {e.message}"[:200])

    async def run() -> None:
        await asyncio.gather(*[one(i) for i in range(config.sessions)])

    try:
        asyncio.run(run())
        frames = sum(1 for _ in latencies)
        out.figures += [f"{config.sessions} sessions x {config.minutes:g} min at "
                        f"{config.fps:g} poses/s", f"{out.tried} poses, {frames} LOCKSTEP frames"]
        if latencies:
            p50, p99 = (float(np.percentile(latencies, q)) * 1e3 for q in (50, 99))
            out.figures.append(f"LOCKSTEP pose-to-frame p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        out.figures.append(f"process memory {_rss_mib() - rss['start']:+.1f} MiB from warm to "
                           "the end")
        if st.core.session_count:
            out.fail(f"{st.core.session_count} sessions left open after the clients closed")
    finally:
        st.stop()
    return out


def soak_cycles(config: SoakConfig, ckpt: str, folder: Path) -> Outcome:
    """Connect/disconnect cycles from four clients on a four-slot server."""
    from latentstage.engine_bridge import client as C

    out = Outcome("connect/disconnect", unit="cycles")
    st = _server(ckpt, folder / "cycles", max_sessions=4)
    per_client = max(1, config.cycles // 4)

    async def cycles() -> None:
        async with C.AsyncClient(st.target) as aio:
            for i in range(per_client):
                out.tried += 1
                session = aio.session(_open_msg(lockstep=False))
                try:
                    await session.open()
                    await session.send(_pose(i))
                    if i % 2:
                        await asyncio.wait_for(session.next_frame(), 30)
                except Exception as exc:
                    out.fail(f"cycle {i}: {exc!r}"[:200])
                session.cancel()

    try:
        t0 = time.monotonic()
        asyncio.run(_gather(cycles() for _ in range(4)))
        deadline = time.monotonic() + 10
        while st.core.session_count and time.monotonic() < deadline:
            time.sleep(0.05)
        if st.core.session_count:
            out.fail(f"{st.core.session_count} sessions left after the cycles")
        out.figures.append(f"{out.tried} cycles in {time.monotonic() - t0:.1f} s, 4 clients, "
                           "4 slots; half left mid-frame")
    finally:
        st.stop()
    return out


async def _gather(coros) -> list:
    return await asyncio.gather(*coros)


def soak_kill9(config: SoakConfig, ckpt: str, folder: Path) -> Outcome:
    """kill -9 at a random moment of a SaveWorld, then restart: nothing lost, nothing left."""
    from latentstage.engine_bridge import client as C

    out = Outcome("kill -9 during save", unit="kills")
    snaps = folder / "kill9"
    rng = random.Random(config.seed)
    proc, target = _serve(ckpt, snaps)
    try:
        with C.SyncClient(target) as client:
            world = client.create_world(C.empty_world()).world_id
            with client.session(_open_msg(world)) as s:
                for i in range(12):
                    s.render(_pose(i), 60)
            t0 = time.perf_counter()
            base = client.save_world(world, "base")
            save_s = time.perf_counter() - t0
            points = next(w.memory.points for w in client.list_worlds().worlds
                          if w.world_id == world)
        out.figures.append(f"snapshot {base.bytes / 1024:.0f} KiB, {points} points, a save "
                           f"takes {save_s * 1e3:.1f} ms")
        mid_save = 0
        for k in range(config.kills):
            out.tried += 1
            with C.SyncClient(target) as client:
                copy = client.load_world(name="base").world_id
                request = threading.Thread(target=_save_quietly, args=(client, copy, f"k{k}"))
                request.start()
                if k % 2 == 0:  # the moment the temporary file appears (mid-save for sure)
                    _wait_for_temp(snaps, 5.0)
                else:  # a random moment around the save
                    time.sleep(rng.uniform(0, 2 * save_s))
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
                request.join(30)
            mid_save += any(p.name.endswith(".tmp") for p in snaps.iterdir())
            proc, target = _serve(ckpt, snaps)
            leftovers = [p.name for p in snaps.iterdir() if p.name.endswith((".tmp", ".upload"))]
            if leftovers:
                out.fail(f"kill {k}: temporary files left after the restart: {leftovers}")
            with C.SyncClient(target) as client:
                for snap in client.list_worlds().snapshots:
                    try:
                        loaded = client.load_world(name=snap.name)
                    except grpc.RpcError as exc:
                        out.fail(f"kill {k}: snapshot {snap.name} does not load: {exc.details()}")
                        continue
                    if loaded.memory.points != points:
                        out.fail(f"kill {k}: snapshot {snap.name} has {loaded.memory.points} "
                                 f"points, {points} were saved (data lost)")
                    client.delete_world(loaded.world_id)
        out.figures.append(f"{mid_save} of {config.kills} kills landed mid-save (a temporary "
                           "file existed); after each restart: no temporary file, every "
                           "snapshot loaded with all its points")
    finally:
        proc.kill()
        proc.wait()
    return out


def _wait_for_temp(folder: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.name.endswith(".tmp") for p in folder.iterdir()):
            return
        time.sleep(0.0002)


def _save_quietly(client, world: str, name: str) -> None:
    try:
        client.save_world(world, name)
    except Exception:  # the server is killed under it: expected
        pass


def _serve(ckpt: str, snaps: Path) -> tuple[subprocess.Popen, str]:
    """``latentstage serve`` in a subprocess; returns it and its target once it listens."""
    cmd = [sys.executable, "-m", "latentstage.runtime.cli", "serve", "--port", "0", "--model",
           ckpt, "--device", "cpu", "--max-size", "256x256", "--memory-capacity", "65536",
           "--snapshot-dir", str(snaps), "--threads", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        match = re.search(r"event=listening .*port=(\d+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, f"127.0.0.1:{match.group(1)}"
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError(f"latentstage serve did not start (exit {proc.wait()})")


def soak_slow_readers(config: SoakConfig, ckpt: str, folder: Path) -> Outcome:
    """Sessions that never read next to a normal one: bounded queues, the normal one served."""
    from latentstage.engine_bridge import client as C

    out = Outcome("slow readers", unit="frames")
    st = _server(ckpt, folder / "slow")

    async def run() -> None:
        async with C.AsyncClient(st.target) as aio:
            slow = [aio.session(_open_msg(lockstep=False)) for _ in range(config.slow_readers)]
            for s in slow:
                await s.open()
            normal = aio.session(_open_msg())
            await normal.open()
            for i in range(60):
                for s in slow:
                    await s.send(_pose(i))
                out.tried += 1
                frame = await asyncio.wait_for(normal.render(_pose(i)), 60)
                if frame.frame_id != i:
                    out.fail(f"normal session: frame {frame.frame_id} for pose {i}")
            high = max(r.outbound.high_water for r in st.running.servicer.runners)
            bound = st.running.servicer.runner_config.outbound_frames
            if high > bound:
                out.fail(f"a queue held {high} frames, over its bound {bound}")
            out.figures.append(f"{config.slow_readers} sessions never read; the normal session "
                               f"got {out.tried - out.failed} of {out.tried} frames; server queues "
                               f"at most {high} frames (bound {bound})")
            for s in slow:
                s.cancel()
            await normal.close()

    try:
        asyncio.run(run())
    finally:
        st.stop()
    return out


def soak_idle(config: SoakConfig, ckpt: str, folder: Path) -> Outcome:
    """Sessions that open and send nothing are closed by the idle timeout; slots come back."""
    from latentstage.engine_bridge import client as C
    from latentstage.runtime.guards import Guards
    from latentstage.v1 import service_pb2 as pb

    out = Outcome("idle sessions", unit="sessions")
    n = max(1, config.idle)
    st = _server(ckpt, folder / "idle", max_sessions=n,
                 guards=Guards(idle_timeout_s=1.0, sessions_per_peer=0))

    async def run() -> None:
        async with C.AsyncClient(st.target) as aio:
            idle = [aio.session(_open_msg()) for _ in range(n)]
            for s in idle:
                await s.open()
            t0 = time.monotonic()
            for s in idle:
                out.tried += 1
                rest = await asyncio.wait_for(_drain(s), 10)
                last = rest[-1] if rest else None
                if (last is None or last.event.kind != pb.EVENT_KIND_SESSION_CLOSED
                        or "idle" not in last.event.message):
                    out.fail("an idle session ended without the idle timeout's final event")
            closed_after = time.monotonic() - t0
            fresh = aio.session(_open_msg())
            await fresh.open()  # a slot is free again
            await fresh.close()
            out.figures.append(f"{n} idle sessions held every slot; all closed "
                               f"{closed_after:.1f} s later (timeout 1 s), a new client got in")

    try:
        asyncio.run(run())
    finally:
        st.stop()
    return out


async def _drain(session) -> list:
    rest = []
    while (m := await session.recv()) is not None:
        rest.append(m)
    return rest


def soak_attacks(config: SoakConfig, ckpt: str, folder: Path) -> Outcome:
    """The hostile inputs of issue 12, each with the status it must get."""
    from latentstage.bench.soak_attacks import ATTACKS

    out = Outcome("attacks", unit="attacks")
    st = _server(ckpt, folder / "attacks")
    try:
        for name, attack in ATTACKS:
            out.tried += 1
            try:
                problem = attack(st)
            except Exception as exc:
                problem = f"raised {exc!r}"[:200]
            if problem:
                out.fail(f"{name}: {problem}")
        out.figures.append(", ".join(name for name, _ in ATTACKS))
    finally:
        st.stop()
    return out


SCENARIOS = (soak_sessions, soak_cycles, soak_kill9, soak_slow_readers, soak_idle, soak_attacks)


def run_soak(config: SoakConfig, folder: Path | None = None, progress=None) -> list[Outcome]:
    """Every scenario in turn; ``progress(name)`` is called before each."""
    folder = Path(folder or tempfile.mkdtemp(prefix="latentstage-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = _checkpoint(config, folder)
    outcomes = []
    for scenario in SCENARIOS:
        name = scenario.__name__.removeprefix("soak_")
        if progress is not None:
            progress(name)
        try:
            outcomes.append(scenario(config, ckpt, folder))
        except Exception as exc:  # a scenario that cannot run at all is one failure
            log.exception("event=soak_scenario_failed scenario=%s", name)
            broken = Outcome(name, 1, "runs")
            broken.fail(f"could not run: {exc!r}"[:300])
            outcomes.append(broken)
    return outcomes
