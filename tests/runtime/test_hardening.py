"""Issue 12, one test per finding: hostile clients can neither poison, starve nor blow up the
server. Each test failed before its fix (see docs/reliability.md for the attack list)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import struct
import subprocess
import sys
import time
import zlib

import grpc
import numpy as np
import pytest
from support import seed_world
from support import start_server as start

from latentstage.engine_bridge import client as C
from latentstage.runtime import snapshot as snap
from latentstage.runtime.core import ServingCore
from latentstage.runtime.encoding import decode_depth, decode_image
from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput
from latentstage.runtime.guards import Guards
from latentstage.runtime.server import (
    ServerConfig,
    insecure_bind_warnings,
    is_loopback,
)
from latentstage.runtime.types import Limits
from latentstage.v1 import service_pb2 as pb

SIZE = (64, 48)
SERVICE = "/latentstage.v1.LatentStageService/"


@pytest.fixture(scope="module")
def server(ckpt, tmp_path_factory):
    st = start(ckpt, tmp_path_factory.mktemp("snaps"))
    yield st
    st.stop()


@pytest.fixture(scope="module")
def client(server):
    with C.SyncClient(server.target) as c:
        yield c


def open_msg(world, **kw) -> pb.Open:
    kw.setdefault("lens", C.lens_fov(80.0))
    return C.open_message(world, SIZE, kw.pop("convention", "unreal"), kw.pop("encoding", "raw"),
                          **kw)


def pose(i: int, **kw) -> pb.Pose:
    return C.unreal_pose(i, (0, 0, 170), rotator=(0, i, 0), **kw)


def code_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details() or ""


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def resign(data: bytes, edit) -> bytes:
    """A snapshot with its metadata changed by ``edit(meta)`` and a valid checksum again (so
    the value checks, not the checksum, are under test)."""
    from safetensors.torch import load, save

    tensors = load(data)
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8: 8 + n])["__metadata__"]["latentstage"])
    edit(meta)
    meta["checksum"] = {"algorithm": "sha256", "value": snap.checksum(meta, tensors)}
    return save(tensors, metadata={"latentstage": json.dumps(meta)})


# ----- 1. a poisoned snapshot --------------------------------------------------------------------
POISONS = [
    ("counters.evictions", lambda m: m["counters"].update(evictions=-1)),
    ("counters.evictions", lambda m: m["counters"].update(evictions=2**64)),
    ("counters.writes", lambda m: m["counters"].update(writes="12")),
    ("counters.writes", lambda m: m["counters"].update(writes=0)),  # points but no writes
    ("last_seen", lambda m: m["counters"].update(writes=1)),  # points stamped after write 1
    ("counters", lambda m: m.update(counters=[1, 2])),
    ("latent_spec", lambda m: m.update(latent_spec=[4, 8])),
    ("memory_config", lambda m: m.update(memory_config="x")),
    ("format_version", lambda m: m.update(format_version="3")),
    ("model_id", lambda m: m.update(model_id=None)),
]


@pytest.fixture(scope="module")
def saved_world(client) -> bytes:
    """A snapshot after three writes (the seed and two frames)."""
    world = client.create_world(seed_world())
    with client.session(open_msg(world.world_id, lockstep=True)) as s:
        for i in range(2):
            s.render(pose(i), 30)
    data = client.save_world(world.world_id, return_data=True).data
    client.delete_world(world.world_id)
    return data


@pytest.mark.parametrize("field, edit", POISONS, ids=[f"{f}-{i}" for i, (f, _) in
                                                      enumerate(POISONS)])
def test_a_poisoned_snapshot_is_refused_before_a_world_exists(client, server, saved_world,
                                                              field, edit):
    before = len(client.list_worlds().worlds)
    poisoned = resign(saved_world, edit)
    for _ in range(20 if field == "counters.evictions" else 1):  # > --max-worlds (8) uploads
        code, details = code_of(lambda: client.load_world(data=poisoned))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert field in details and len(details) < 1000
    listing = client.list_worlds()  # was UNKNOWN for every client after one poisoned upload
    assert len(listing.worlds) == before and server.core.session_count == 0
    fresh = client.create_world(C.empty_world())  # the world limit is not filled
    client.delete_world(fresh.world_id)


def test_a_world_whose_reply_cannot_be_built_is_never_registered(client, server):
    def broken_reply(info):
        raise ValueError("uint64 field out of range")

    core = server.core
    before = len(core.store)
    from latentstage.runtime.types import EmptySource, WorldSpec

    with pytest.raises(ValueError):
        server.call(core.create_world(WorldSpec(EmptySource()), None, broken_reply))
    assert len(core.store) == before


def test_byte_flipped_snapshots_never_load(tmp_path):
    from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig

    memory = _filled_memory()
    path = tmp_path / "w.safetensors"
    memory.save(path)
    data = path.read_bytes()
    rng = np.random.default_rng(12)
    for offset in rng.integers(0, len(data), 20):
        flipped = bytearray(data)
        flipped[offset] ^= 0xFF
        bad = tmp_path / "flipped.safetensors"
        bad.write_bytes(bytes(flipped))
        target = LatentMemory(LatentSpec(4, 8), MemoryConfig(capacity=4096), model_id="t")
        with pytest.raises((CorruptFile, Incompatible)):
            target.load(bad)
        assert len(target) == 0, f"byte {offset} flipped, loaded anyway"


def _filled_memory():
    import torch

    from latentstage.runtime.camera import Intrinsics, look_at
    from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig

    memory = LatentMemory(LatentSpec(4, 8), MemoryConfig(capacity=4096), model_id="t")
    gen = torch.Generator().manual_seed(0)
    k = Intrinsics.from_fov(70, 128, 128)
    for i in range(3):
        memory.write(torch.randn(4, 16, 16, generator=gen), 2 + torch.rand(16, 16, generator=gen),
                     memory.camera(k, look_at([0, 0.5 * i, 0], [3, 0.5 * i, 0.2 * i])))
    return memory


# ----- 2. image bombs ----------------------------------------------------------------------------
def jpeg_bomb() -> bytes:
    """A valid 8x8 JPEG whose header claims 16000x16000 (the 631-byte bomb of the issue)."""
    import simplejpeg

    data = bytearray(simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8), quality=50))
    sof = data.find(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", 16000, 16000)
    return bytes(data)


def png_bomb() -> bytes:
    """A PNG header claiming 12000x12000 with a little zlib data (a 140 KB file decoded to
    1.5 GB in the issue)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    ihdr = struct.pack(">IIBBBBB", 12000, 12000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 100_000)) + chunk(b"IEND", b""))


def test_image_bombs_are_refused_from_their_headers(monkeypatch):
    import simplejpeg
    from PIL import Image

    def never(*args, **kwargs):
        raise AssertionError("decoded before the size was checked")

    monkeypatch.setattr(simplejpeg, "decode_jpeg", never)
    monkeypatch.setattr(Image.Image, "convert", never)
    monkeypatch.setattr(Image.Image, "load", never)
    for bomb, size in ((jpeg_bomb(), 16000), (png_bomb(), 12000)):
        with pytest.raises(InvalidInput) as err:
            decode_image(bomb, "seed_image.image", (256, 256))
        assert err.value.field == "seed_image.image.width" and err.value.value == size
        assert "at most 256" in str(err.value)
    with pytest.raises(InvalidInput) as err:  # depth: the declared size first, no array made
        decode_depth(b"\0" * 16, 16000, 16000, "seed_image.depth", (64, 48))
    assert err.value.field == "seed_image.depth.width"


def test_an_image_bomb_costs_the_server_no_memory(client):
    code = ("import resource, sys\n"
            "from latentstage.runtime.encoding import decode_image\n"
            "from latentstage.runtime.errors import InvalidInput\n"
            "data = open(sys.argv[1], 'rb').read()\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    decode_image(data, 'image', (256, 256))\nexcept InvalidInput:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    for bomb in (jpeg_bomb(), png_bomb()):
        path = f"/tmp/latentstage-bomb-{os.getpid()}"
        with open(path, "wb") as f:
            f.write(bomb)
        try:
            out = subprocess.run([sys.executable, "-c", code, path], capture_output=True,
                                 text=True, check=True, timeout=60)
        finally:
            os.unlink(path)
        assert int(out.stdout) < 50_000, f"peak memory grew {int(out.stdout) / 1024:.0f} MiB"
    code_, details = code_of(lambda: client.create_world(
        pb.WorldSpec(seed_image=pb.SeedImage(image=jpeg_bomb()))))
    assert code_ == grpc.StatusCode.INVALID_ARGUMENT and "16000" in details


# ----- 3. a subnormal field of view; any failure inside a session --------------------------------
def test_a_subnormal_fov_is_invalid_in_open_create_and_session(client, monkeypatch):
    tiny = C.lens_fov(5e-324)
    code, details = code_of(lambda: client.session(open_msg(C.empty_world(), lens=tiny)).open())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "open.lens.fov.fov_deg" in details
    spec = seed_world()
    spec.seed_image.lens.CopyFrom(tiny)
    code, details = code_of(lambda: client.create_world(spec))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "seed_image.lens" in details
    with client.session(open_msg(seed_world(), lockstep=True)) as s:
        s.send(pose(1, lens=tiny))
        frames = [s.render(pose(i), 30) for i in (2, 3)]  # the poses after it are rendered
        errors = list(s.errors)
    assert [f.frame_id for f in frames] == [2, 3]
    assert len(errors) == 1 and errors[0].frame_id == 1
    assert errors[0].field == "pose.lens.fov.fov_deg"


def test_any_exception_from_a_client_message_becomes_an_error(client, monkeypatch):
    from latentstage.runtime import translate as tr

    real = tr.pose_from_proto

    def flaky(msg, edge, received_ns=0):
        if msg.frame_id == 7:
            raise ZeroDivisionError("float division by zero")
        return real(msg, edge, received_ns)

    monkeypatch.setattr(tr, "pose_from_proto", flaky)
    with client.session(open_msg(seed_world(), lockstep=True)) as s:
        s.send(pose(7))
        assert s.render(pose(8), 30).frame_id == 8
        errors = list(s.errors)
    assert len(errors) == 1 and errors[0].frame_id == 7 and errors[0].field == "pose"
    assert errors[0].code == grpc.StatusCode.INTERNAL.value[0]
    assert "division by zero" in errors[0].message


# ----- 4 and 5. undecodable bytes ----------------------------------------------------------------
def test_a_corrupt_message_mid_stream_gets_an_error_and_the_stream_carries_on(server):
    async def run():
        async with grpc.aio.insecure_channel(server.target) as channel:
            call = channel.stream_stream(SERVICE + "Session")()  # raw bytes both ways
            msg = open_msg(seed_world(), lockstep=True)
            await call.write(pb.SessionRequest(open=msg).SerializeToString())
            replies = [pb.SessionResponse.FromString(await call.read())]
            await call.write(b"\x0a\xff\xff\xff\xff\x0f")  # a field claiming 4 GB
            await call.write(pb.SessionRequest(pose=pose(5)).SerializeToString())
            while len(replies) < 3:
                replies.append(pb.SessionResponse.FromString(await call.read()))
            await call.write(pb.SessionRequest(close=pb.Close()).SerializeToString())
            await call.done_writing()
            while (raw := await call.read()) is not grpc.aio.EOF:
                replies.append(pb.SessionResponse.FromString(raw))
            return replies, await call.code()

    replies, code = asyncio.run(run())
    kinds = [r.WhichOneof("kind") for r in replies]
    assert kinds[:3] == ["event", "error", "frame"] and code == grpc.StatusCode.OK
    assert replies[1].error.field == "request"
    assert replies[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert replies[2].frame.frame_id == 5


def test_undecodable_request_bytes_are_invalid_with_one_log_line(server, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="latentstage")  # CLI tests may have raised it
    with grpc.insecure_channel(server.target) as channel:
        for method in ("GetServerInfo", "CreateWorld", "LoadWorld", "ListWorlds"):
            raw = channel.unary_unary(SERVICE + method)
            code, details = code_of(lambda raw=raw: raw(b"\x0a\xff\xff\xff\xff\x0f", timeout=10))
            assert code == grpc.StatusCode.INVALID_ARGUMENT, details
            assert details.startswith("request:")
    time.sleep(0.2)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    rejected = [r for r in caplog.records if "event=rejected" in r.getMessage()]
    assert len(rejected) == 4 and all("\n" not in r.getMessage() and not r.exc_info
                                      for r in rejected)


# ----- 6. idle sessions, per-client caps, slot release -------------------------------------------
def test_idle_sessions_are_closed_and_free_their_slots(ckpt, tmp_path):
    st = start(ckpt, tmp_path, max_sessions=3, config={"guards": Guards(
        idle_timeout_s=1.0, sessions_per_peer=0, release_wait_s=0.05)})
    try:
        with C.SyncClient(st.target) as client:
            idle = [client.session(open_msg(C.empty_world())) for _ in range(3)]
            for s in idle:
                s.open()
            code, _ = code_of(lambda: client.session(open_msg(C.empty_world())).open())
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            for s in idle:
                closing = s.recv(10)
                assert closing.event.kind == pb.EVENT_KIND_SESSION_CLOSED
                assert "no Pose or Control for 1 s" in closing.event.message
                assert s.recv(10) is None  # and the stream ends
            assert wait_until(lambda: st.core.session_count == 0)
            with client.session(open_msg(seed_world(), lockstep=True)) as s:  # a slot is free
                for i in range(3):  # a session that keeps sending stays open
                    assert s.render(pose(i), 30).frame_id == i
                    time.sleep(0.6)
    finally:
        st.stop()


def test_per_peer_and_per_token_caps(ckpt, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("alpha\nbeta\n")
    guards = Guards(idle_timeout_s=0, sessions_per_peer=3, sessions_per_token=2,
                    worlds_per_peer=0, worlds_per_token=2)
    st = start(ckpt, tmp_path, config={"guards": guards, "token_file": tokens})
    try:
        with C.SyncClient(st.target, token="alpha") as a, \
                C.SyncClient(st.target, token="beta") as b:
            held = [a.session(open_msg(C.empty_world())) for _ in range(2)]
            for s in held:
                s.open()
            code, details = code_of(lambda: a.session(open_msg(C.empty_world())).open())
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "per client token" in details
            other = b.session(open_msg(C.empty_world()))
            other.open()  # another token still gets in ...
            code, details = code_of(lambda: b.session(open_msg(C.empty_world())).open())
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "client address" in details
            for s in [*held, other]:  # ... until the address (all loopback here) has 3
                s.close()
            worlds = [a.create_world(C.empty_world()).world_id for _ in range(2)]
            code, details = code_of(lambda: a.create_world(C.empty_world()))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "worlds per client" in details
            mine = b.create_world(C.empty_world()).world_id  # another token's worlds count apart
            a.delete_world(worlds[0])
            a.create_world(C.empty_world())  # deleting one frees the cap
            b.delete_world(mine)
    finally:
        st.stop()


def test_a_cancelled_session_frees_its_slot_before_the_next_open(ckpt, tmp_path):
    """Four clients cycle open, pose, (frame,) cancel on a four-slot server: every Open gets
    the slot its own client just left (before the fix about 1.5% were refused)."""
    st = start(ckpt, tmp_path, max_sessions=4,
               config={"guards": Guards(idle_timeout_s=0, sessions_per_peer=0)})
    try:
        msg = open_msg(C.empty_world())

        async def cycles(n):
            refused = 0
            async with C.AsyncClient(st.target) as aio:
                for i in range(n):
                    s = aio.session(msg)
                    try:
                        await s.open()
                    except grpc.aio.AioRpcError as exc:
                        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                        refused += 1
                        continue
                    await s.send(pose(i))
                    if i % 2:
                        await s.next_frame()  # half leave after a frame, half mid-frame
                    s.cancel()
            return refused

        async def clients():
            return await asyncio.gather(*[cycles(100) for _ in range(4)])

        assert asyncio.run(clients()) == [0, 0, 0, 0]
        assert wait_until(lambda: st.core.session_count == 0)
    finally:
        st.stop()


# ----- 7. unbounded echo -------------------------------------------------------------------------
def test_identifiers_are_bounded_before_they_are_echoed(client, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="latentstage")  # CLI tests may have raised it
    huge = "w" * 1_000_000
    for call in (lambda: client.session(open_msg(huge)).open(),
                 lambda: client.delete_world(huge), lambda: client.save_world(huge)):
        code, details = code_of(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and len(details) < 300, details[:300]
        assert "world_id" in details and "at most 64 characters" in details
    code, details = code_of(lambda: client.delete_world("bad\nid"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    spec = C.empty_world(name="line one\nevent=forged")
    code, details = code_of(lambda: client.create_world(spec))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "spec.name" in details
    assert code_of(lambda: client.delete_world("no-such-world"))[0] == grpc.StatusCode.NOT_FOUND
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("latentstage")]
    assert lines and max(len(line) for line in lines) < 2000


# ----- 8. snapshot files -------------------------------------------------------------------------
def test_bad_metadata_types_in_a_named_snapshot_are_a_clear_error(client, server):
    world = client.create_world(seed_world())
    saved = client.save_world(world.world_id, "typed", return_data=True)
    client.delete_world(world.world_id)
    path = server.core.store.snapshot_path("typed")
    path.write_bytes(resign(saved.data, lambda m: m.update(latent_spec="channels=4")))
    code, details = code_of(lambda: client.load_world(name="typed"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "latent_spec" in details
    path.unlink()


def test_stale_temp_files_are_removed_at_start(ckpt, tmp_path):
    keep = tmp_path / "real.safetensors"
    keep.write_bytes(b"kept")
    stale = [tmp_path / ".real.safetensors.abc123.tmp", tmp_path / "tmpk2j3_x.upload"]
    for p in stale:
        p.write_bytes(b"\0" * 1000)
    ServingCore.load(str(ckpt), "torch", "cpu", Limits(memory_capacity=8192), tmp_path).shutdown()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.safetensors"]


def test_a_save_fsyncs_the_folder_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    _filled_memory().save(tmp_path / "w.safetensors")
    assert synced == [False, True]  # the file, then its folder


def test_save_world_overwrites_only_when_asked(client, server):
    world = client.create_world(seed_world())
    first = client.save_world(world.world_id, "once")
    before = server.core.store.snapshot_path("once").read_bytes()
    with client.session(open_msg(world.world_id, lockstep=True)) as s:
        s.render(pose(1, lens=C.lens_fov(60)), 30)  # the world changes
    code, details = code_of(lambda: client.save_world(world.world_id, "once"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "already exists" in details
    assert server.core.store.snapshot_path("once").read_bytes() == before
    second = client.save_world(world.world_id, "once", overwrite=True)
    assert second.name == first.name
    assert server.core.store.snapshot_path("once").read_bytes() != before
    client.delete_world(world.world_id)


# ----- 9. metrics --------------------------------------------------------------------------------
def test_metrics_listen_on_their_own_host(ckpt, tmp_path):
    assert ServerConfig().metrics_host == "127.0.0.1"
    st = start(ckpt, tmp_path, config={"host": "127.0.0.2", "metrics_port": 0})
    try:
        assert st.running.metrics_http[0].server_address[0] == "127.0.0.1"
    finally:
        st.stop()


def test_a_busy_metrics_port_is_one_line_before_grpc_listens(tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "latentstage.runtime.cli", "serve", "--port", "0", "--model",
             str(ckpt), "--device", "cpu", "--metrics-port", str(port), "--snapshot-dir",
             str(tmp_path / "snaps")], capture_output=True, text=True, timeout=120,
            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "event=listening" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "metrics_port" in errors[0] and str(port) in errors[0]


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("LOCALHOST", True),
    ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("[::]", False), ("10.1.2.3", False),
    ("stage-server", False)])
def test_the_insecure_bind_warning_knows_loopback(host, loopback):
    assert is_loopback(host) is loopback
    assert bool(insecure_bind_warnings(ServerConfig(host=host))) is not loopback


def test_the_insecure_bind_warning_covers_metrics(tmp_path):
    safe = {"host": "0.0.0.0", "tls_cert": tmp_path / "c", "tls_key": tmp_path / "k",
            "token_file": tmp_path / "t", "metrics_port": 9100}
    assert insecure_bind_warnings(ServerConfig(**safe)) == []
    lines = insecure_bind_warnings(ServerConfig(**safe, metrics_host="0.0.0.0"))
    assert len(lines) == 1 and "metrics_host=0.0.0.0" in lines[0]


# ----- 10. token file ----------------------------------------------------------------------------
def test_indented_comments_in_the_token_file_are_not_tokens(tmp_path):
    from latentstage.runtime.auth import read_tokens

    path = tmp_path / "tokens"
    path.write_text("# clients\n   # old: hunter2\n\tsecret-one  \n\n  secret-two\n")
    assert read_tokens(path) == ["secret-one", "secret-two"]
    path.write_bytes(b"\xff\xfe\x00secret\n")
    with pytest.raises(InvalidInput, match="UTF-8"):
        read_tokens(path)
    path.write_text("two words\n")
    with pytest.raises(InvalidInput, match="line 1") as err:
        read_tokens(path)
    assert "two words" not in str(err.value)  # a token is never echoed
