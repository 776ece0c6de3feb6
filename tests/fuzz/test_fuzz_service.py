"""The gRPC service through a real in-process server: batches of random and structured
messages (and raw bytes) on every RPC. After each batch the server must answer health, run a
normal session, list its worlds, and hold no session that nobody uses.

Never allowed: UNKNOWN or INTERNAL statuses, INTERNAL Error messages inside a session, a
stream that hangs, or a status message over 1000 characters.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from fuzz_strategies import fuzz_settings, messages
from hypothesis import example, given
from hypothesis import strategies as st

from latentstage.engine_bridge import client as C
from latentstage.runtime.core import ServingCore
from latentstage.runtime.guards import Guards
from latentstage.runtime.server import ServerConfig, ServerThread
from latentstage.runtime.types import Limits
from latentstage.v1 import service_pb2 as pb

SERVICE = "/latentstage.v1.LatentStageService/"
UNARY = {"CreateWorld": pb.CreateWorldRequest, "SaveWorld": pb.SaveWorldRequest,
         "LoadWorld": pb.LoadWorldRequest, "DeleteWorld": pb.DeleteWorldRequest,
         "ListWorlds": pb.ListWorldsRequest, "GetServerInfo": pb.GetServerInfoRequest}
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION}


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("fuzz-service")
    limits = Limits(max_width=64, max_height=64, max_sessions=4, max_worlds=6,
                    memory_capacity=4096)
    core = ServingCore.load(str(tiny_checkpoint(tmp / "ckpt")), "torch", "cpu", limits,
                            tmp / "snaps")
    config = ServerConfig(port=0, snapshot_dir=tmp / "snaps",
                          guards=Guards(idle_timeout_s=5, sessions_per_peer=0))
    with ServerThread(core, config) as st_:
        yield st_
    torch.set_num_threads(threads)


def _good_open(lockstep: bool = True) -> pb.Open:
    return C.open_message(C.empty_world(), (32, 24), "unreal", "raw", lockstep=lockstep,
                          lens=C.lens_fov(80))


def _near_valid_session_requests():
    """Structured sequences: a valid Open (sometimes altered), then poses and controls, some of
    them hostile, some raw bytes."""
    pose = st.builds(lambda i, yaw, fov: C.unreal_pose(i, (0, 0, 170), rotator=(0, yaw, 0),
                                                       fov_deg=fov),
                     st.integers(0, 2**64 - 1), st.floats(allow_nan=True),
                     st.one_of(st.none(), st.sampled_from([5e-324, 0.0, 90.0, 180.0,
                                                           float("nan")])))
    item = st.one_of(pose.map(lambda p: pb.SessionRequest(pose=p)),
                     messages(pb.Control).map(lambda c: pb.SessionRequest(control=c)),
                     messages(pb.SessionRequest), st.binary(max_size=40))
    first = st.one_of(st.just(pb.SessionRequest(open=_good_open())),
                      messages(pb.Open).map(lambda o: pb.SessionRequest(open=o)))
    return st.tuples(first, st.lists(item, max_size=6)).map(lambda t: [t[0], *t[1]])


actions = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), st.data()),
    st.tuples(st.just("raw"), st.sampled_from(sorted(UNARY) + ["Session"]),
              st.binary(max_size=80)),
    st.tuples(st.just("session"), _near_valid_session_requests(), st.booleans()),
)


def _wire(request) -> bytes:
    return request if isinstance(request, bytes) else request.SerializeToString()


def _run_action(channel, action) -> None:
    kind, what, arg = action
    if kind == "unary":
        request = arg.draw(messages(UNARY[what]))
        _unary(channel, what, request.SerializeToString())
    elif kind == "raw":
        if what == "Session":
            _session(channel, [arg], True)
        else:
            _unary(channel, what, arg)
    else:
        _session(channel, what, arg)


def _unary(channel, method: str, data: bytes) -> None:
    call = channel.unary_unary(SERVICE + method)
    try:
        call(data, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() in ALLOWED, (method, exc.code(), exc.details())
        assert len(exc.details() or "") <= 1000


def _session(channel, requests, half_close: bool) -> None:
    call = channel.stream_stream(SERVICE + "Session")
    stream = iter([_wire(r) for r in requests] if half_close else
                  [_wire(r) for r in requests] + [_wire(pb.SessionRequest(close=pb.Close()))])
    try:
        for raw in call(stream, timeout=30):
            msg = pb.SessionResponse.FromString(raw)
            if msg.WhichOneof("kind") == "error":
                assert msg.error.code != grpc.StatusCode.INTERNAL.value[0], msg.error
                assert len(msg.error.message) <= 1000
    except grpc.RpcError as exc:
        assert exc.code() in ALLOWED, (exc.code(), exc.details())
        assert len(exc.details() or "") <= 1000


def _healthy(server) -> None:
    """Health, a normal session, the world list, and no session left behind."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(server.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with C.SyncClient(server.target) as client:
        for w in client.list_worlds().worlds:  # the batch's worlds go; the list answers
            client.delete_world(w.world_id, force=True)
        with client.session(_good_open()) as s:
            frame = s.render(C.unreal_pose(1, (0, 0, 170), rotator=(0, 10, 0)), 30)
            assert frame.frame_id == 1 and len(C.frame_pixels(frame)) == 24
        deadline = time.monotonic() + 10
        while server.core.session_count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.core.session_count == 0 and client.server_info().sessions == 0


@fuzz_settings(0.3)
@given(batch=st.lists(actions, min_size=1, max_size=4))
@example(batch=[("raw", "GetServerInfo", b"\x0a\xff\xff\xff\xff\x0f"),  # issue 12 L1
                ("raw", "Session", b"\x0a\xff\xff\xff\xff\x0f"),
                ("session", [pb.SessionRequest(open=_good_open()),  # issue 12 M1 and L2
                             pb.SessionRequest(pose=C.unreal_pose(
                                 1, (0, 0, 0), rotator=(0, 0, 0), fov_deg=5e-324)),
                             b"\xff\xff\xff"], True)])
@example(batch=[("session", [pb.SessionRequest(open=C.open_message(
    "w" * 5000, (32, 24), "unreal"))], True)])  # issue 12 M6: unbounded echo
def test_random_batches_leave_the_server_healthy(server, batch):
    with grpc.insecure_channel(server.target, options=[
            ("grpc.max_receive_message_length", 64 * 2**20)]) as channel:
        for action in batch:
            _run_action(channel, action)
    _healthy(server)


def test_the_health_check_itself_passes_on_a_fresh_server(server):
    _healthy(server)
    assert np.isfinite(server.core.memory_bytes())
