"""The native client library through ctypes: the C ABI called from a host that is not C++
(as Unity's P/Invoke calls it), against a real server on port 0.

The library comes from ``LATENTSTAGE_NATIVE_LIB`` or ``build/native`` (``make native-build``).
Without it the tests skip, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge import native_client as N
from latentstage.runtime import conventions as cv
from latentstage.runtime.core import ServingCore
from latentstage.runtime.server import ServerConfig, ServerThread
from latentstage.runtime.types import Limits

SIZE = (64, 48)


@pytest.fixture(scope="module")
def lib():
    path = N.default_library_path()
    if not path.is_file():
        message = (f"native library {path} not built: run `make native-build` (or set "
                   "LATENTSTAGE_NATIVE_LIB)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return N.load_library(path)


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("native")
    core = ServingCore.load(str(tiny_checkpoint(tmp / "ckpt")), "torch", "cpu",
                   Limits(max_width=256, max_height=256, memory_capacity=8192), tmp / "snaps")
    with ServerThread(core, ServerConfig(port=0)) as st:
        yield st
    torch.set_num_threads(threads)


def poses(n: int):
    """Unreal locations (cm) and FRotators (degrees) of a short arc."""
    return [((100.0 * i, 20.0 * i, 170.0), (-5.0 + i, 15.0 * i, 0.0)) for i in range(n)]


def test_struct_layouts_and_version_match_the_library(lib):
    # load_library already compared every struct's size with ls_struct_size; check the
    # version and one struct by hand.
    assert lib.ls_version() == b"0.3.0"
    assert lib.ls_struct_size(b"ls_frame") == N.ctypes.sizeof(N.Frame) > 0


def test_one_session_matches_the_python_client(lib, server):
    """Five Unreal poses, LOCKSTEP, raw BGRA8: the frames equal the Python client's byte for
    byte, echo ids and capture times, and render the Python conversion of each pose."""
    lens = C.lens_fov(90, "horizontal")
    expected = []
    with C.SyncClient(server.target) as client, client.session(C.open_message(
            C.procedural_world(3, "outdoor"), SIZE, "unreal", "raw_bgra8", lockstep=True,
            lens=lens)) as session:
        for i, (loc, rot) in enumerate(poses(5)):
            frame = session.render(C.unreal_pose(i, loc, rotator=rot, capture_time_ns=1000 + i))
            expected.append(frame.image.data)
    with N.NativeClient(server.target, library=lib) as client:
        assert client.server_info().protocol_revision == 2
        with client.open_session(*SIZE, lockstep=True, fov_deg=90,
                                 new_world=("outdoor", 3)) as session:
            assert session.state == "open"
            for i, (loc, rot) in enumerate(poses(5)):
                session.submit_unreal(i, loc, rot, capture_time_ns=1000 + i)
                with session.frame_for(i) as frame:
                    f = frame.info
                    assert (f.width, f.height, f.stride, f.encoding) == (*SIZE, SIZE[0] * 4, 4)
                    assert f.capture_time_ns == 1000 + i
                    assert frame.view().tobytes() == expected[i]
                    np.testing.assert_allclose(frame.c2w(), cv.unreal_to_canonical(loc, rot),
                                               atol=1e-9)
                    assert (frame.pixels()[..., 3] == 255).all()
            stats = session.stats()
            assert stats.frames_received == 5 and stats.frames_dropped == 0
            assert stats.poses_sent == 5 and stats.frame_allocations <= 4


def test_jpeg_frames_are_the_servers_bytes(lib, server):
    """JPEG: the library passes the server's file through untouched, so the bytes equal the
    Python client's exactly (tolerance 0: the same encoder on the same pixels)."""
    lens = C.lens_fov(90, "horizontal")
    with C.SyncClient(server.target) as client, client.session(C.open_message(
            C.procedural_world(5, "indoor"), SIZE, "unreal", "jpeg", lockstep=True,
            lens=lens)) as session:
        expected = [session.render(C.unreal_pose(i, loc, rotator=rot)).image.data
                    for i, (loc, rot) in enumerate(poses(3))]
    with N.NativeClient(server.target, library=lib) as client, client.open_session(
            *SIZE, encoding="jpeg", lockstep=True, fov_deg=90,
            new_world=("indoor", 5)) as session:
        for i, (loc, rot) in enumerate(poses(3)):
            session.submit_unreal(i, loc, rot)
            with session.frame_for(i) as frame:
                assert frame.info.encoding == 3 and frame.info.stride == 0
                assert frame.view().tobytes() == expected[i]


def test_bearer_token_and_tls(tiny_checkpoint, lib, tmp_path):
    """TLS with the server's certificate as roots, and the token: without it or with a wrong
    one the server's UNAUTHENTICATED message comes back verbatim."""
    import subprocess

    import torch

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tokens = tmp_path / "tokens"
    tokens.write_text("secret\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    core = ServingCore.load(str(tiny_checkpoint(tmp_path / "ckpt")), "torch", "cpu",
                   Limits(max_width=256, max_height=256, memory_capacity=8192), tmp_path / "s")
    config = ServerConfig(port=0, tls_cert=cert, tls_key=key, token_file=tokens)
    try:
        with ServerThread(core, config) as st:
            target, roots = f"localhost:{st.port}", cert.read_bytes()
            for token, words in ((None, "missing"), ("wrong", "invalid")):
                with pytest.raises(N.NativeError, match=words) as err:
                    N.NativeClient(target, token=token, tls_roots_pem=roots, library=lib)
                assert err.value.name == "LS_UNAUTHENTICATED"
            with N.NativeClient(target, token="secret", tls_roots_pem=roots,
                                library=lib) as client:
                assert client.server_info().auth_required == 1
                with client.open_session(*SIZE, lockstep=True, fov_deg=90) as session:
                    session.submit_unreal(1, (0, 0, 170), (0, 0, 0))
                    with session.frame_for(1) as frame:
                        assert frame.info.width == SIZE[0]
    finally:
        torch.set_num_threads(threads)


def test_errors_name_the_field_and_value(lib, server):
    with N.NativeClient(server.target, library=lib) as client:
        with pytest.raises(N.NativeError, match=r"session_options.width: got 0") as err:
            client.open_session(0, 48)
        assert err.value.name == "LS_INVALID_ARGUMENT"
        with pytest.raises(N.NativeError, match=r"LS_NOT_FOUND: .*no-such-world"):
            client.open_session(*SIZE, world_id="no-such-world")
        with client.open_session(*SIZE, lockstep=True, fov_deg=90) as session:
            with pytest.raises(N.NativeError, match=r"pose.rotation_form: got "
                                                    r"LS_ROTATION_MATRIX"):
                session.submit_matrix4(0, np.eye(4))
    with pytest.raises(N.NativeError, match=r"LS_UNAVAILABLE: connect_options.target"):
        N.NativeClient("127.0.0.1:1", timeout_ms=2000, library=lib)


def test_a_tracked_camera_is_watched_through_the_c_abi(tiny_checkpoint, lib, tmp_path):
    """A stage's tracker drives a camera; a C host (here ctypes) watches it and sends no poses.
    The frame is the tracker's pose, exactly as the Python client watches it."""
    import socket

    from latentstage.runtime import freed
    from latentstage.runtime import freed_config as fc

    core = ServingCore.load(str(tiny_checkpoint(tmp_path / "ckpt")), "torch", "cpu",
                   Limits(max_width=256, max_height=256, memory_capacity=8192), tmp_path / "s")
    config = fc.single_camera("127.0.0.1:0", camera_id=9, world="procedural:2:indoor",
                              lens="builtin:default", name="stage-a")
    with ServerThread(core, ServerConfig(port=0, freed=config)) as st:
        port = st.core.tracker.cameras["stage-a"].listener.port
        packet = freed.encode(freed.FreeDPacket(9, pan_deg=-20.0, tilt_deg=3.0, z_mm=1500.0,
                                                zoom=800))
        with N.NativeClient(st.target, library=lib) as client, \
                client.open_session(*SIZE, tracked_camera="stage-a") as session, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tracker:
            with pytest.raises(N.NativeError) as refused:  # a watcher sends no poses
                session.submit_unreal(0, (0.0, 0.0, 170.0), (0.0, 0.0, 0.0))
            assert refused.value.name == "LS_FAILED_PRECONDITION"
            frame = None
            for _ in range(100):  # UDP: resend until a frame comes back
                tracker.sendto(packet, ("127.0.0.1", port))
                frame = session.acquire(timeout_ms=200)
                if frame is not None:
                    break
            assert frame is not None, "no frame for the tracked camera"
            with frame:
                assert (frame.info.width, frame.info.height) == SIZE
                np.testing.assert_allclose(frame.c2w(), freed.freed_to_pose(freed.decode(packet)),
                                           atol=1e-9)
