"""The Unity package's binding layer (C#, Runtime/Native) compiled with Mono's mcs and run
under mono against a real server through the native client library.

The C# program (tests/unity/*.cs) checks its structs against a C compiler's view of
latentstage.h, then opens sessions on the server started here: 100 Unity-convention poses in
LOCKSTEP must give the Python client's frames for the same poses, byte for byte (BGRA rows
bottom-up against RGB rows top-down), with the frame ids, capture times and timecodes echoed,
and no managed allocation per frame; a session watching the server's FreeD-tracked camera gets
frames for the datagrams the C# test sends it and refuses poses. Without mcs, mono or the
library these tests are skipped locally and FAIL in CI (CI=true), with the commands to run.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from latentstage.bench.serve import orbit
from latentstage.engine_bridge import client as C
from latentstage.runtime import conventions as cv
from latentstage.runtime import freed
from latentstage.runtime import freed_config as fc
from latentstage.runtime.core import ServingCore
from latentstage.runtime.server import ServerConfig, ServerThread
from latentstage.runtime.types import Limits
from latentstage.v1 import camera_pb2 as cpb
from latentstage.v1 import service_pb2 as pb

_spec = importlib.util.spec_from_file_location(
    "unity_harness", Path(__file__).resolve().parents[1] / "unity" / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SIZE = (64, 48)  # output width, height in pixels
POSES = 100
WORLD_SEED, NOISE_SEED, FOV_DEG = 5, 3, 60.0


def missing(what: str) -> None:
    """Skip here, fail in CI: the mono tests are part of the test command."""
    message = f"{what} is missing; to run the Unity binding tests:\n{harness.BUILD_HELP}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def mono_exe(tmp_path_factory) -> Path:
    found = harness.tools()
    if not (found["mcs"] and found["mono"]):
        missing("Mono (mcs and mono, Debian mono-mcs and mono-runtime)")
    try:
        return harness.compile_tests(tmp_path_factory.mktemp("unity"), found["mcs"])
    except subprocess.CalledProcessError as e:
        pytest.fail(f"mcs failed on the Unity package's Runtime/Native:\n{e.stdout}{e.stderr}")


TRACKED = "stage-a"  # the server's FreeD-tracked camera (FreeD id 1, loopback UDP)


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    """A server with the tiny checkpoint and one FreeD-tracked camera, TRACKED."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("unity_server")
    core = ServingCore.load(str(tiny_checkpoint(tmp / "ckpt")), "torch", "cpu",
                   Limits(max_width=256, max_height=256, memory_capacity=8192), tmp / "snaps")
    freed = fc.from_dict({
        "worlds": {"tracked": {"procedural": {"seed": 0, "kind": "outdoor"}}},
        "cameras": [{"name": TRACKED, "freed_camera_id": 1, "listen": "127.0.0.1:0",
                     "world": "tracked", "lens": "builtin:default"}]})
    with ServerThread(core, ServerConfig(port=0, freed=freed)) as st:
        yield st
    torch.set_num_threads(threads)


def run_mono(exe: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["mono", "--debug", str(exe), *args], capture_output=True, text=True,
                          env=env, timeout=900)


# ----- struct layouts ----------------------------------------------------------------------------
def test_struct_layouts_and_enums_match_the_header(mono_exe, tmp_path):
    cc = harness.tools()["cc"]
    if not cc:
        missing("A C compiler (cc)")
    proc = run_mono(mono_exe, "layout")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    managed: dict[str, list[str]] = {}
    for kind, struct_name, *rest in (line.split() for line in lines):
        if kind == "field":
            managed.setdefault(struct_name, []).append(rest[0])
    header = harness.header_structs()
    assert len(managed) == len(header) == 9
    for name, fields in managed.items():
        assert fields == header[harness.c_name(name)], f"{name}: fields differ from the header"

    source = tmp_path / "layout.c"
    source.write_text(harness.c_layout_program(managed))
    subprocess.run([cc, "-std=c11", f"-I{harness.HEADER_DIR}", str(source), "-o",
                    str(tmp_path / "layout")], check=True, capture_output=True, text=True)
    c_lines = subprocess.run([str(tmp_path / "layout")], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    cs_lines = [line for line in lines if line.split()[0] in ("struct", "field")]
    assert cs_lines == c_lines  # every offset and size, as the C compiler lays them out

    enums = harness.header_enums()
    cs_enums: dict[str, dict[str, int]] = {}
    for _, enum_name, member, value in (line.split() for line in lines if line[:5] == "enum "):
        cs_enums.setdefault(harness.c_name(enum_name), {})[member.upper()] = int(value)
    assert set(cs_enums) == set(enums)
    for name, members in enums.items():
        prefix = os.path.commonprefix(list(members))
        prefix = prefix[:prefix.rfind("_") + 1]
        assert {k[len(prefix):].replace("_", ""): v for k, v in members.items()} == cs_enums[name]


# ----- reference frames from the Python client ---------------------------------------------------
def _hex(value: float) -> str:
    """A double's IEEE bits, 16 hex digits (read back exactly by References.cs)."""
    return struct.pack(">d", value).hex()


@dataclass
class RefPose:
    """One Unity pose as both clients send it (see tests/unity/References.cs for the format)."""

    frame_id: int  # echoed
    capture_time_ns: int  # echoed
    form: str  # "unity" (ls_session_submit_unity), "pose_quat" or "pose_euler" (ls_pose)
    position: tuple[float, ...]  # Unity metres [3]
    rotation: tuple[float, ...]  # quaternion x, y, z, w [4], or Quaternion.Euler degrees [3] + 0
    lens: tuple  # ("none",), ("fov", degrees, axis) or ("physical", f, sw, sh, sx, sy, gate_fit)
    timecode: tuple[int, int] | None  # (seconds, frames) at 25 fps after 10:00:00:00

    def message(self) -> pb.Pose:
        lens = None
        if self.lens[0] == "fov":
            lens = cpb.Lens(fov=cpb.FieldOfView(fov_deg=self.lens[1], axis=self.lens[2]))
        elif self.lens[0] == "physical":
            f, sw, sh, sx, sy, fit = self.lens[1:]
            lens = cpb.Lens(physical=cpb.PhysicalLens(
                focal_length_mm=f, sensor_width_mm=sw, sensor_height_mm=sh, offset_x=sx,
                offset_y=sy, gate_fit=fit))
        tc = (C.timecode(f"10:00:{self.timecode[0]:02d}:{self.timecode[1]:02d}", 25)
              if self.timecode else None)
        rot = ({"euler": self.rotation[:3]} if self.form == "pose_euler"
               else {"quat": self.rotation})
        return C.unity_pose(self.frame_id, self.position, lens=lens, tc=tc,
                            capture_time_ns=self.capture_time_ns, **rot)

    def line(self) -> str:
        """Doubles as IEEE bits in hex: Mono's double.Parse is not correctly rounded."""
        lens = [float(v) for v in self.lens[1:]] + [0.0] * (7 - len(self.lens))
        tc = [1, 10, 0, *self.timecode, 25, 1] if self.timecode else [0] * 7
        return " ".join(map(str, [self.frame_id, self.capture_time_ns, self.form,
                                  *map(_hex, (*self.position, *self.rotation)), self.lens[0],
                                  *map(_hex, lens), *tc]))


def unity_walk(i: int, n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Pose i of n walking around a circle in Unity's frame (Y up, metres), yawing with it and
    tilting a little: position [3] and Quaternion.Euler angles [3] in degrees."""
    a = 2 * math.pi * i / n
    position = (1.5 * math.sin(a), 1.6 + 0.1 * math.sin(3 * a), 1.5 * math.cos(a) - 1.5)
    euler = (5 * math.sin(2 * a), math.degrees(a), 2 * math.sin(a))
    return position, euler


def unity_quaternion(position, euler) -> tuple[float, ...]:
    """The Unity Quaternion (x, y, z, w) of Quaternion.Euler(euler)."""
    _, quat = cv.canonical_to_unity(cv.unity_to_canonical(position, euler), "quat")
    return tuple(float(q) for q in quat)


def unity_poses(n: int) -> list[RefPose]:
    """The walk, every fourth pose in each form, some with their own lens or a timecode."""
    poses = []
    for i in range(n):
        position, euler = unity_walk(i, n)
        form = ("unity", "pose_quat", "pose_euler", "pose_quat")[i % 4]
        lens = {0: ("none",), 1: ("none",), 2: ("fov", 50.0, 2),
                3: ("physical", 20 + 0.25 * i, 36.0, 24.0, 0.02, -0.01, 1 + i // 4 % 3)}[i % 4]
        poses.append(RefPose(
            frame_id=1000 + i, capture_time_ns=1_000_000_000 + 40_000_000 * i, form=form,
            position=position,
            rotation=(*euler, 0.0) if form == "pose_euler" else unity_quaternion(position, euler),
            lens=lens, timecode=divmod(i, 25) if i % 4 == 1 else None))
    return poses


def write_tracker(out: Path, port: int, packets: int = 40) -> None:
    """tracked.txt: the tracked camera's name and UDP port, then FreeD D1 datagrams (hex) of a
    slow orbit for it, which the C# test sends while it watches."""
    lines = [f"{TRACKED} {port}"] + [freed.encode(freed.pose_to_freed(c2w, camera_id=1)).hex()
                                     for c2w in orbit(packets, radius=0.5)]
    (out / "tracked.txt").write_text("\n".join(lines) + "\n")


def write_references(target: str, out: Path) -> Path:
    """Renders the poses with the Python client (RAW_RGB8, top-down) into ``out``."""
    out.mkdir(parents=True)
    poses = unity_poses(POSES)
    (out / "meta.txt").write_text(f"{SIZE[0]} {SIZE[1]} {WORLD_SEED} {NOISE_SEED} {FOV_DEG}\n")
    (out / "poses.txt").write_text("".join(p.line() + "\n" for p in poses))
    expected = []
    with C.SyncClient(target) as client:
        msg = C.open_message(C.procedural_world(WORLD_SEED, "outdoor"), SIZE, "unity", "raw",
                             lockstep=True, lens=C.lens_fov(FOV_DEG), seed=NOISE_SEED,
                             prediction=False, bottom_up=False)
        with client.session(msg) as session:
            for i, p in enumerate(poses):
                frame = session.render(p.message(), timeout=120)
                rgb = C.frame_pixels(frame)  # [H, W, 3] uint8, top row first
                assert rgb.shape == (SIZE[1], SIZE[0], 3) and frame.image.bottom_up is False
                (out / f"frame_{i:03d}.rgb").write_bytes(np.ascontiguousarray(rgb).tobytes())
                tc = frame.timecode
                tc_fields = ([1, tc.hours, tc.minutes, tc.seconds, tc.frames, tc.rate.num,
                              tc.rate.den] if frame.HasField("timecode") else [0] * 7)
                k = frame.intrinsics
                expected.append(" ".join(map(str, [
                    frame.frame_id, frame.capture_time_ns, *tc_fields, frame.image.width,
                    frame.image.height, *map(_hex, C.frame_c2w(frame).ravel()),
                    *map(_hex, (k.fx, k.fy, k.cx, k.cy))])))
    (out / "expected.txt").write_text("\n".join(expected) + "\n")
    return out


def test_unity_poses_cover_every_form_and_lens():
    poses = unity_poses(POSES)
    assert [p.form for p in poses[:4]] == ["unity", "pose_quat", "pose_euler", "pose_quat"]
    assert {p.lens[0] for p in poses} == {"none", "fov", "physical"}
    assert {p.lens[6] for p in poses if p.lens[0] == "physical"} == {1, 2, 3}  # gate fits
    assert sum(p.timecode is not None for p in poses) == POSES // 4
    for i, p in enumerate(poses):
        if p.form != "pose_euler":  # the quaternion is the Euler pose's rotation
            assert abs(np.linalg.norm(p.rotation) - 1) < 1e-8
            np.testing.assert_allclose(cv.unity_to_canonical(p.position, p.rotation),
                                       cv.unity_to_canonical(*unity_walk(i, POSES)), atol=1e-8)


# ----- the binding layer against the server ------------------------------------------------------
@pytest.fixture(scope="module")
def native_library() -> Path:
    library = harness.native_library()
    if library is None:
        missing("The native client library (liblatentstage_client, built by CMake)")
    return library


def test_bindings_against_a_server(mono_exe, native_library, server, tmp_path):
    library = native_library
    refs = write_references(server.target, tmp_path / "refs")
    write_tracker(refs, server.core.tracker.cameras[TRACKED].listener.port)
    proc = run_mono(mono_exe, "test", server.target, str(refs), env=harness.run_env(library))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    closing = re.fullmatch(r"(\d+) passed, 0 failed", proc.stdout.strip().splitlines()[-1])
    assert closing and int(closing[1]) == 17, output
    assert "ok   session_matches_python_frames" in proc.stdout
