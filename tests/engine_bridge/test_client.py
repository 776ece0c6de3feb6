"""Python client, camera paths and the player, against a real server on port 0."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths import read_path
from latentstage.runtime import conventions as cv
from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.core import ServingCore
from latentstage.runtime.server import ServerConfig, ServerThread
from latentstage.runtime.types import Limits
from latentstage.v1 import service_pb2 as pb

K = Intrinsics.from_fov(70, 64, 48)


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("bridge")
    core = ServingCore.load(str(tiny_checkpoint(tmp / "ckpt")), "torch", "cpu",
                   Limits(max_width=256, max_height=256, memory_capacity=8192), tmp / "snaps")
    with ServerThread(core, ServerConfig(port=0)) as st:
        yield st
    torch.set_num_threads(threads)


def orbit(n: int) -> np.ndarray:
    return np.stack([look_at([0.1 * i, 0, 1.6], [0.1 * i + np.cos(0.2 * i), np.sin(0.2 * i),
                                                  1.6]) for i in range(n)])


def write_cameras_json(out, c2ws, fps=Fraction(30000, 1001), seed=None):
    """A cameras.json as `latentstage worlds render` writes it (with its own writer)."""
    import torch

    from latentstage.model.worlds.io import FrameWriter

    meta = {"scene": {"seed": seed, "kind": "outdoor", "low_frequency": False}} if seed else {}
    writer = FrameWriter(out, K, fps, meta)
    for i, m in enumerate(c2ws):
        writer.write(i, torch.zeros(3, 48, 64), torch.ones(48, 64), torch.zeros(48, 64,
                     dtype=torch.bool), m, round(i * 1e9 / fps))
    return writer.close()


def test_reads_the_cameras_json_of_worlds_render(tmp_path):
    c2ws = orbit(4)
    path = read_path(write_cameras_json(tmp_path, c2ws, seed=7))
    assert path.convention == "opencv" and path.size == (64, 48)
    assert path.fps == pytest.approx(30000 / 1001) and path.world["seed"] == 7
    s = path.samples[3]
    assert s.frame_id == 3 and s.time_s == pytest.approx(3 * 1001 / 30000, abs=1e-9)
    np.testing.assert_allclose(np.reshape(s.rotation.matrix.m, (3, 3)), c2ws[3][:3, :3])
    assert s.lens.pixels.fx == pytest.approx(K.fx) and s.lens.pixels.width == 64
    with pytest.raises(ValueError, match="declares convention"):
        read_path(tmp_path / "cameras.json", "unreal")


def test_reads_csv_paths_in_each_rotation_and_lens_form(tmp_path):
    csv = tmp_path / "cams.csv"
    csv.write_text("frame_id,time_s,x,y,z,pitch,yaw,roll,fov_deg,timecode\n"
                   "10,0.0,0,0,170,0,0,0,90,01:00:00:00\n"
                   "11,0.04,5,0,170,-5,10,0,90,01:00:00:01\n")
    path = read_path(csv, "unreal")
    assert [s.frame_id for s in path.samples] == [10, 11] and path.convention == "unreal"
    assert path.samples[1].rotation.rotator.yaw_deg == 10 and path.samples[1].lens.fov.fov_deg == 90
    assert path.samples[1].timecode == "01:00:00:01"
    unity = tmp_path / "unity.csv"
    unity.write_text("x,y,z,rx,ry,rz,fx,fy,cx,cy,width,height\n0,1.6,0,0,90,0,50,50,31.5,23.5,64,48\n")
    s = read_path(unity, "unity").samples[0]
    assert s.frame_id == 0 and s.rotation.unity_euler.y_deg == 90 and s.lens.pixels.height == 48
    matrix = tmp_path / "m.csv"
    cols = ",".join(f"r{i}{j}" for i in range(3) for j in range(3))
    matrix.write_text(f"x,y,z,{cols},focal_length_mm,sensor_width_mm,sensor_height_mm\n"
                      f"0,0,1.6,{','.join(map(str, np.eye(3).ravel()))},35,36,24\n")
    s = read_path(matrix).samples[0]
    assert len(s.rotation.matrix.m) == 9 and s.lens.physical.focal_length_mm == 35
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,z\n0,0,0\n")
    with pytest.raises(ValueError, match=r"line 1 \(header\): no rotation columns; found x, y, z"):
        read_path(bad)


def test_sync_client_helpers_round_trip_an_unreal_camera(server):
    with C.SyncClient(server.target) as client:
        msg = C.open_message(C.empty_world(), (64, 48), "unreal", "raw", lockstep=True)
        with client.session(msg) as s:
            frame = s.render(C.unreal_pose(3, (100, 50, 170), rotator=(-10, 30, 0),
                                           fov_deg=90, tc=C.timecode("10:00:00:12", 24)))
        assert s.world_id and frame.frame_id == 3
        assert (frame.timecode.hours, frame.timecode.frames, frame.timecode.rate.num) == (
            10, 12, 24)
        np.testing.assert_allclose(C.frame_c2w(frame), cv.to_canonical(
            "unreal", [100, 50, 170], [-10, 30, 0]), atol=1e-9)
        assert frame.intrinsics.width == 64
        assert frame.intrinsics.fx == pytest.approx(32.0)  # 90 degrees across 64 pixels


def test_player_streams_a_path_and_saves_frames(server, tmp_path):
    import asyncio

    from latentstage.engine_bridge.play import play

    c2ws = orbit(12)
    path = read_path(write_cameras_json(tmp_path / "render", c2ws))
    out = tmp_path / "frames"
    msg = C.open_message(C.empty_world(), (64, 48), path.convention, "jpeg", lockstep=True)

    async def run(window):
        async with C.AsyncClient(server.target) as client:
            return await play(client, path, msg, out, window=window)

    report = asyncio.run(run(2))
    assert report.frames == 12 and not report.errors and report.skipped == 0
    assert len(report.latency_ms) == 12 and report.fps > 0
    assert report.rungs == {"full": 12}
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [f"{i:06d}.png" for i in range(12)]
    meta = json.loads((out / "frames.json").read_text())
    np.testing.assert_allclose(np.reshape(meta[5]["rendered_c2w"], (4, 4)), c2ws[5], atol=1e-9)
    summary = report.summary()
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]


def test_player_realtime_counts_every_pose(server):
    import asyncio

    from latentstage.engine_bridge.paths import CameraPath, PathSample
    from latentstage.engine_bridge.play import play

    samples = [PathSample(i, i / 200, np.array([0.0, 0.0, 170.0]),
                          C.rotation(rotator=(0, i, 0)), C.lens_fov(90)) for i in range(40)]
    path = CameraPath("unreal", samples)
    msg = C.open_message(C.empty_world(), (64, 48), "unreal", "raw", target_fps=200)

    async def run():
        async with C.AsyncClient(server.target) as client:
            return await play(client, path, msg, None, fps=200)

    report = asyncio.run(run())
    assert report.frames + report.skipped + report.dropped == 40 and report.frames > 0


def test_client_play_command(server, tmp_path):
    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    camera_file = write_cameras_json(tmp_path / "render", orbit(5))
    result = CliRunner().invoke(app, ["client", "play", "--server", server.target, "--path",
                                      str(camera_file), "--convention", "opencv", "--out",
                                      str(tmp_path / "out"), "--world", "empty"])
    assert result.exit_code == 0, result.output
    assert "pose-to-frame latency p99" in result.output and "5 frames of 5 poses" in result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 5
    bad = CliRunner().invoke(app, ["client", "play", "--server", server.target, "--path",
                                   str(camera_file), "--world", "no-such-world"])
    assert bad.exit_code == 1 and "NOT_FOUND" in bad.output


def test_client_info_command(server):
    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    result = CliRunner().invoke(app, ["client", "info", "--server", server.target])
    assert result.exit_code == 0, result.output
    # a readable table (issue 13): labelled rows, lower-case names, no protobuf text dump
    with C.SyncClient(server.target) as client:
        model_id = client.server_info().model_id
    assert "model id" in result.output and model_id in result.output
    assert "unreal" in result.output and "CONVENTION_UNREAL" not in result.output
    assert "max send / receive" in result.output and "limits {" not in result.output


def test_open_refusal_raises_with_the_status(server):
    import grpc

    with C.SyncClient(server.target) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            client.session(C.open_message("missing-world", (64, 48), "unity")).open()
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert pb.ENCODING_JPEG == C.encoding_value("jpeg")
    with pytest.raises(ValueError, match="convention"):
        C.convention_value("maya")
