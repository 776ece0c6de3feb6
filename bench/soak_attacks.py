"""The hostile inputs of issue 12, replayed by ``latentstage bench soak`` against a running
server. Each attack returns "" when the server answered as promised (docs/reliability.md), else
what went wrong, in words. Loopback only."""

from __future__ import annotations

import json
import struct
import zlib

import grpc
import numpy as np

SERVICE = "/latentstage.v1.LatentStageService/"
OK = ""


def _status(call) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def _expect(call, code: grpc.StatusCode, needle: str = "") -> str:
    got, details = _status(call)
    if got != code or needle not in details or len(details) > 1000:
        return f"expected {code.name} ({needle!r}), got {got.name}: {details[:160]!r}"
    return OK


def _seed_world():
    from latentstage.engine_bridge import client as C

    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 4, y * 5, (x * y) % 255], -1).astype(np.uint8)
    return C.seed_image_world(rgb, np.full((48, 64), 4.0, np.float32))


def _resigned(data: bytes, edit) -> bytes:
    from safetensors.torch import load, save

    from latentstage.runtime.snapshot import checksum

    tensors = load(data)
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8: 8 + n])["__metadata__"]["latentstage"])
    edit(meta)
    meta["checksum"] = {"algorithm": "sha256", "value": checksum(meta, tensors)}
    return save(tensors, metadata={"latentstage": json.dumps(meta)})


def poisoned_snapshots(st) -> str:
    """20 uploads with counters.evictions = -1 (re-signed), then the server must still list
    and create worlds."""
    from latentstage.engine_bridge import client as C

    with C.SyncClient(st.target) as client:
        world = client.create_world(_seed_world()).world_id
        data = client.save_world(world, return_data=True).data
        client.delete_world(world)
        poisoned = _resigned(data, lambda m: m["counters"].update(evictions=-1))
        for _ in range(20):
            problem = _expect(lambda: client.load_world(data=poisoned),
                              grpc.StatusCode.INVALID_ARGUMENT, "counters.evictions")
            if problem:
                return problem
        client.list_worlds()
        client.delete_world(client.create_world(C.empty_world()).world_id)
    return OK


def flipped_snapshots(st) -> str:
    """20 uploads of the snapshot with one byte flipped: none may load."""
    from latentstage.engine_bridge import client as C

    rng = np.random.default_rng(1)
    with C.SyncClient(st.target) as client:
        world = client.create_world(_seed_world()).world_id
        data = client.save_world(world, return_data=True).data
        client.delete_world(world)
        for offset in rng.integers(0, len(data), 20):
            bad = bytearray(data)
            bad[offset] ^= 0xFF
            got, details = _status(lambda bad=bad: client.load_world(data=bytes(bad)))
            if got not in (grpc.StatusCode.INVALID_ARGUMENT,
                           grpc.StatusCode.FAILED_PRECONDITION):
                return f"byte {offset} flipped: {got.name} {details[:120]!r}"
    return OK


def image_bombs(st) -> str:
    """A JPEG header claiming 16000x16000 and a PNG header claiming 12000x12000."""
    import simplejpeg

    from latentstage.engine_bridge import client as C
    from latentstage.v1 import service_pb2 as pb

    jpeg = bytearray(simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8), quality=50))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5: sof + 9] = struct.pack(">HH", 16000, 16000)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 12000, 8, 2, 0,
                                                             0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 100_000)) + chunk(b"IEND", b""))
    with C.SyncClient(st.target) as client:
        for bomb in (bytes(jpeg), png):
            spec = pb.WorldSpec(seed_image=pb.SeedImage(image=bomb))
            problem = _expect(lambda spec=spec: client.create_world(spec),
                              grpc.StatusCode.INVALID_ARGUMENT, "before decoding")
            if problem:
                return problem
    return OK


def subnormal_fov(st) -> str:
    """fov 5e-324 in Open (INVALID_ARGUMENT) and in a session (an Error, then frames)."""
    from latentstage.engine_bridge import client as C

    tiny = C.lens_fov(5e-324)
    msg = C.open_message(C.empty_world(), (64, 48), "unreal", "raw", lockstep=True, lens=tiny)
    with C.SyncClient(st.target) as client:
        problem = _expect(lambda: client.session(msg).open(), grpc.StatusCode.INVALID_ARGUMENT,
                          "fov_deg")
        if problem:
            return problem
        good = C.open_message(C.empty_world(), (64, 48), "unreal", "raw", lockstep=True,
                              lens=C.lens_fov(80))
        with client.session(good) as s:
            s.send(C.unreal_pose(1, (0, 0, 170), rotator=(0, 0, 0), lens=tiny))
            frame = s.render(C.unreal_pose(2, (0, 0, 170), rotator=(0, 5, 0)), 30)
            if frame.frame_id != 2 or [e.field for e in s.errors] != ["pose.lens.fov.fov_deg"]:
                return f"session: frame {frame.frame_id}, errors {list(s.errors)}"
    return OK


def corrupt_mid_stream(st) -> str:
    """Garbage bytes after Open: an Error, and the next pose still rendered."""
    from latentstage.engine_bridge import client as C
    from latentstage.v1 import service_pb2 as pb

    msg = C.open_message(C.empty_world(), (64, 48), "unreal", "raw", lockstep=True,
                         lens=C.lens_fov(80))
    requests = [pb.SessionRequest(open=msg).SerializeToString(), b"\x0a\xff\xff\xff\xff\x0f",
                pb.SessionRequest(pose=C.unreal_pose(5, (0, 0, 170), rotator=(0, 0, 0)))
                .SerializeToString(), pb.SessionRequest(close=pb.Close()).SerializeToString()]
    with grpc.insecure_channel(st.target) as channel:
        call = channel.stream_stream(SERVICE + "Session")
        kinds = [pb.SessionResponse.FromString(r).WhichOneof("kind")
                 for r in call(iter(requests), timeout=30)]
    if kinds[:3] != ["event", "error", "frame"]:
        return f"replies {kinds}"
    return OK


def undecodable_unary(st) -> str:
    """Bytes that are no request, on every unary method: INVALID_ARGUMENT."""
    with grpc.insecure_channel(st.target) as channel:
        for method in ("GetServerInfo", "CreateWorld", "SaveWorld", "LoadWorld", "DeleteWorld",
                       "ListWorlds"):
            call = channel.unary_unary(SERVICE + method)
            problem = _expect(lambda call=call: call(b"\x0a\xff\xff\xff\xff\x0f", timeout=10),
                              grpc.StatusCode.INVALID_ARGUMENT, "request")
            if problem:
                return f"{method}: {problem}"
    return OK


def huge_world_id(st) -> str:
    """A 1 MB world id on Open, SaveWorld and DeleteWorld: a short INVALID_ARGUMENT."""
    from latentstage.engine_bridge import client as C

    huge = "w" * 1_000_000
    msg = C.open_message(huge, (64, 48), "unreal")
    with C.SyncClient(st.target) as client:
        for call in (lambda: client.session(msg).open(), lambda: client.save_world(huge),
                     lambda: client.delete_world(huge)):
            problem = _expect(call, grpc.StatusCode.INVALID_ARGUMENT, "at most 64 characters")
            if problem:
                return problem
    return OK


def silent_overwrite(st) -> str:
    """SaveWorld twice under one name: the second is refused unless overwrite is set."""
    from latentstage.engine_bridge import client as C

    with C.SyncClient(st.target) as client:
        world = client.create_world(C.empty_world()).world_id
        client.save_world(world, "soak-once")
        problem = _expect(lambda: client.save_world(world, "soak-once"),
                          grpc.StatusCode.FAILED_PRECONDITION, "already exists")
        client.save_world(world, "soak-once", overwrite=True)
        client.delete_world(world)
    return problem


ATTACKS = (("poisoned snapshot x20", poisoned_snapshots),
           ("byte-flipped snapshot x20", flipped_snapshots),
           ("image bombs", image_bombs), ("subnormal fov", subnormal_fov),
           ("corrupt message mid-stream", corrupt_mid_stream),
           ("undecodable requests", undecodable_unary), ("1 MB world id", huge_world_id),
           ("silent overwrite", silent_overwrite))
