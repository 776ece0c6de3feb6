"""``latentstage bench scaleout``: worlds on 1, 2, 3 workers behind nginx, and recovery from
kill -9 (docs/scale-out.md).

Everything runs on this machine over loopback with :class:`~.local_cluster.LocalCluster`
(unprivileged nginx, ``latentstage serve`` workers on the CPU sharing one snapshot store).
Figures are printed, never asserted.

- **Throughput**: for N = 1, 2, 3 workers, 2 worlds per worker each streamed by one LOCKSTEP
  session (small frames) for ``--seconds``: worlds served, total fps.
- **Proxy overhead**: one worker, two LOCKSTEP sessions on one world, one direct and one
  through nginx, rendering the same poses in pairs: the median of the paired differences.
- **Recovery**: 3 workers, 3 streaming sessions with writes; ``--kills`` times, kill -9 the
  worker of the first session, measure per affected session the time from the kill to its
  first frame from the new worker, the frames lost (poses sent again) and the writes lost
  (the client's last write count minus the restored snapshot's), then restart the worker.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import typer

from latentstage.bench.cluster import LocalCluster

SIZE = (64, 64)


def _pose(fid: int):
    from latentstage.engine_bridge import client as C

    return C.unreal_pose(fid, (15.0 * (fid % 11), 5.0 * (fid % 5), 170), rotator=(0, 6 * fid, 0),
                         fov_deg=90)


def _open(world_id: str, size: tuple[int, int] = SIZE):
    from latentstage.engine_bridge import client as C

    return C.open_message(world_id, size, "unreal", "raw", lockstep=True, prediction=False)


@dataclass
class _Stream:
    """One LOCKSTEP session rendering poses until stopped."""

    target: str  # where to connect (nginx or a worker)
    world_id: str  # the world it renders
    frames: list = field(default_factory=list)  # (time.monotonic(), Frame)
    failures: list = field(default_factory=list)  # exceptions
    stop: threading.Event = field(default_factory=threading.Event)
    session: object = None  # the SyncSession

    def run(self) -> None:
        from latentstage.engine_bridge import client as C

        try:
            with C.SyncClient(self.target) as client, \
                    client.session(_open(self.world_id)) as self.session:
                fid = 0
                while not self.stop.is_set():
                    frame = self.session.render(_pose(fid), timeout=120)
                    self.frames.append((time.monotonic(), frame))
                    fid += 1
        except Exception as exc:  # reported in the figures
            self.failures.append(exc)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread


def _create_worlds(target: str, names: list[str]) -> None:
    from latentstage.engine_bridge import client as C

    with C.SyncClient(target) as client:
        for i, name in enumerate(names):
            client.create_world(C.procedural_world(i, "outdoor", world_id=name))


def throughput(root: Path, model: str, workers: int, seconds: float) -> dict:
    """Worlds served and total fps with ``workers`` workers, 2 streamed worlds each."""
    with LocalCluster(root, model, workers, autosnapshot_s=10.0, lease_s=6.0) as cluster:
        names = [f"tp{workers}-{i}" for i in range(2 * workers)]
        _create_worlds(cluster.target, names)
        streams = [_Stream(cluster.target, n) for n in names]
        threads = [s.start() for s in streams]
        time.sleep(min(5.0, seconds / 2))  # warm-up
        t0, counts0 = time.monotonic(), [len(s.frames) for s in streams]
        time.sleep(seconds)
        t1, counts1 = time.monotonic(), [len(s.frames) for s in streams]
        for s in streams:
            s.stop.set()
        for t in threads:
            t.join(60)
        servers = {f.server_id for s in streams for _, f in s.frames}
        return {"workers": workers, "worlds": len(names), "servers_seen": len(servers),
                "fps": (sum(counts1) - sum(counts0)) / (t1 - t0),
                "failures": sum(len(s.failures) for s in streams)}


def proxy_overhead(root: Path, model: str, frames: int, size: tuple[int, int] = SIZE) -> dict:
    """Round trip per frame direct and through nginx (one worker, one world), measured in
    pairs (a direct frame, then a proxied one, each from its own session) so that load from
    elsewhere on the machine hits both alike; the overhead is the median of the differences."""
    from latentstage.engine_bridge import client as C

    with LocalCluster(root, model, 1, autosnapshot_s=0.0, lease_s=6.0) as cluster:
        _create_worlds(cluster.target, ["ovh"])
        with C.SyncClient(cluster.workers[0].address) as c1, \
                C.SyncClient(cluster.target) as c2, \
                c1.session(_open("ovh", size)) as direct, \
                c2.session(_open("ovh", size)) as proxied:
            for fid in range(5):  # warm-up
                direct.render(_pose(fid), timeout=60)
                proxied.render(_pose(fid), timeout=60)
            pairs = []
            for fid in range(frames):
                one = {}
                for s in ((direct, proxied) if fid % 2 else (proxied, direct)):  # both orders
                    t = time.perf_counter()
                    s.render(_pose(fid), timeout=60)
                    one[id(s)] = (time.perf_counter() - t) * 1000
                pairs.append((one[id(direct)], one[id(proxied)]))
        return {"direct_ms": statistics.median(p[0] for p in pairs),
                "nginx_ms": statistics.median(p[1] for p in pairs),
                "overhead_ms": statistics.median(p[1] - p[0] for p in pairs), "frames": frames}


def recovery(root: Path, model: str, kills: int, autosnapshot_s: float, lease_s: float) -> list:
    """``kills`` rounds of kill -9 and restart; one record per affected session."""
    records = []
    with LocalCluster(root, model, 3, autosnapshot_s=autosnapshot_s, lease_s=lease_s,
                      fail_timeout_s=2.0) as cluster:
        names = [f"rc-{i}" for i in range(3)]
        _create_worlds(cluster.target, names)
        streams = [_Stream(cluster.target, n) for n in names]
        threads = [s.start() for s in streams]
        _wait(lambda: all(len(s.frames) >= 5 for s in streams), 120)
        for k in range(kills):
            time.sleep(autosnapshot_s * 1.5)  # stream, with autosnapshots, before the kill
            victim_id = streams[0].frames[-1][1].server_id
            victim = int(victim_id[1:].split("-")[0])
            hit = [s for s in streams if s.frames[-1][1].server_id == victim_id]
            before = {id(s): len(s.session.recoveries) for s in hit}
            resent = {id(s): s.session.aio.resent for s in hit}
            killed = time.monotonic()
            cluster.workers[victim].kill()
            _wait(lambda hit=hit, before=before: all(
                len(s.session.recoveries) > before[id(s)]
                and s.session.recoveries[-1].first_frame_at for s in hit), 120)
            for s in hit:
                rec = s.session.recoveries[-1]
                records.append({"kill": k + 1, "world": s.world_id,
                                "recovery_ms": (rec.first_frame_at - killed) * 1000,
                                "frames_lost": s.session.aio.resent - resent[id(s)],
                                "writes_lost": rec.writes_lost,
                                "moved_to": rec.server_after})
            cluster.restart(victim, run=k + 2).wait_ready()
        for s in streams:
            s.stop.set()
        for t in threads:
            t.join(60)
        failures = [f for s in streams for f in s.failures]
        if failures:
            records.append({"failures": [repr(f)[:200] for f in failures]})
    return records


def _wait(cond, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench scaleout: nothing after {timeout_s} s")
        time.sleep(0.02)


def bench_scaleout(
    model: str = typer.Option("tiny", help="Checkpoint dir, or 'tiny' (a small random one made "
                              "for the run: CPU, small frames)."),
    seconds: float = typer.Option(10.0, min=2.0, help="Measured seconds per throughput run."),
    frames: int = typer.Option(100, min=10, help="Frames per proxy-overhead run."),
    kills: int = typer.Option(10, min=0, help="kill -9 rounds for recovery."),
    autosnapshot_s: float = typer.Option(1.0, min=0.1, help="Workers' --autosnapshot-s in the "
                                         "recovery runs."),
    lease_s: float = typer.Option(1.5, min=0.5, help="Workers' --lease-s in the recovery runs."),
    workers: str = typer.Option("1,2,3", help="Worker counts for throughput ('' = none)."),
) -> None:
    """Throughput with 1, 2, 3 workers behind nginx, proxy overhead, recovery from kill -9."""
    import json
    import os

    from latentstage.model.world_model import save_tiny_checkpoint

    with tempfile.TemporaryDirectory(prefix="ls-scaleout-") as tmp:
        root = Path(tmp)
        if model == "tiny":
            model = str(save_tiny_checkpoint(root / "ckpt"))
        typer.echo(f"machine: {os.cpu_count()} CPU cores; model {model}; frames "
                   f"{SIZE[0]}x{SIZE[1]} raw, LOCKSTEP")
        for n in (int(v) for v in workers.split(",") if v):
            r = throughput(root / f"tp{n}", model, n, seconds)
            typer.echo(f"throughput: {r['workers']} worker(s), {r['worlds']} worlds streamed, "
                  f"{r['servers_seen']} workers seen in frames, {r['fps']:.1f} fps total, "
                  f"{r['failures']} failures")
        for size in (SIZE, (1280, 720)):
            o = proxy_overhead(root / f"ovh{size[0]}", model, frames, size)
            typer.echo(f"proxy overhead at {size[0]}x{size[1]} raw RGB8: median round trip "
                       f"{o['direct_ms']:.2f} ms direct, {o['nginx_ms']:.2f} ms through nginx: "
                       f"{o['overhead_ms']:+.2f} ms per frame (median of {o['frames']} paired "
                       "differences, alternating order)")
        if kills:
            records = recovery(root / "rc", model, kills, autosnapshot_s, lease_s)
            rows = [r for r in records if "recovery_ms" in r]
            for r in records:
                typer.echo("kill: " + json.dumps(r))
            if rows:
                rec = sorted(r["recovery_ms"] for r in rows)
                typer.echo(f"recovery over {kills} kills ({len(rows)} sessions hit): kill to first "
                      f"frame on the new worker median {statistics.median(rec):.0f} ms, max "
                      f"{rec[-1]:.0f} ms; frames lost total {sum(r['frames_lost'] for r in rows)}"
                      f" (max {max(r['frames_lost'] for r in rows)} per session); writes lost "
                      f"median {statistics.median(r['writes_lost'] or 0 for r in rows):.0f}, max "
                      f"{max(r['writes_lost'] or 0 for r in rows)} (--autosnapshot-s "
                      f"{autosnapshot_s:g})")
