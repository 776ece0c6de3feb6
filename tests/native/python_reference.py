"""Reference frames for the native client's tests: the Python client renders a loop of
Unreal-convention poses in LOCKSTEP and writes what it sent and got to a binary file that
tests/native/test_session.cpp replays through the C library and compares.

File layout (little-endian): b"LSREF1\\0\\0", u32 count, u32 width, u32 height, then per frame:
u64 frame_id, i64 capture_time_ns, u32 timecode hours/minutes/seconds/frames (25 fps),
f64 location_cm[3], f64 rotator_pyr_deg[3], f64 fquat_xyzw[4], f64 rendered_c2w[16] (the
Python client's frame), f64 python_c2w[16] (runtime.conventions.unreal_to_canonical of the
same pose), then the frame's BGRA8 pixels, width * height * 4 bytes, top row first.

    python tests/native/python_reference.py --target 127.0.0.1:50051 --out ref.bin
"""

from __future__ import annotations

import argparse
import struct

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.runtime import conventions as cv
from latentstage.runtime.sizes import parse_size

MAGIC = b"LSREF1\0\0"
FOV_DEG = 90.0  # horizontal, Unreal's FieldOfView
CAPTURE_T0_NS = 1_000_000_000  # capture time of frame 0
FRAME_NS = 40_000_000  # 25 fps


def loop_pose(i: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Location (cm) and FRotator (pitch, yaw, roll degrees) of frame ``i`` of an ``n``-frame
    loop: a 1.5 m circle at 1.7 m, looking along the tangent, pitch and roll swaying."""
    a = 2 * np.pi * i / n
    location = np.array([150 * np.cos(a), 150 * np.sin(a), 170.0])
    rotator = np.array([-5 + 3 * np.sin(2 * a), np.degrees(a) + 90, 2 * np.sin(a)])
    return location, rotator


def fquat(rotator: np.ndarray) -> np.ndarray:
    """The FQuat (x, y, z, w) of an FRotator, through the server's own rotation matrix."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(cv.unreal_rotator_to_matrix(rotator)).as_quat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of a latentstage server")
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="64x64", help="WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=7, help="procedural world seed (outdoor)")
    args = parser.parse_args()
    width, height = parse_size(args.size, "--size")
    open_msg = C.open_message(C.procedural_world(args.seed, "outdoor"), (width, height),
                              "unreal", "raw_bgra8", lockstep=True,
                              lens=C.lens_fov(FOV_DEG, "horizontal"),
                              client_name="native-test-python-reference")
    with open(args.out, "wb") as out, C.SyncClient(args.target) as client:
        out.write(MAGIC + struct.pack("<III", args.frames, width, height))
        with client.session(open_msg) as session:
            for i in range(args.frames):
                location, rotator = loop_pose(i, args.frames)
                tc = (1, 0, i // 25 % 60, i % 25)
                t_ns = CAPTURE_T0_NS + i * FRAME_NS
                frame = session.render(C.unreal_pose(
                    i, location, rotator=rotator, capture_time_ns=t_ns,
                    tc=C.timecode(":".join(f"{v:02d}" for v in tc), 25)), timeout=120)
                img = frame.image
                if (img.width, img.height, img.stride) != (width, height, width * 4):
                    raise SystemExit(f"frame {i}: got {img.width}x{img.height} stride "
                                     f"{img.stride}, expected {width}x{height} BGRA8")
                out.write(struct.pack("<Qq4I", frame.frame_id, frame.capture_time_ns, *tc))
                out.write(np.concatenate([location, rotator, fquat(rotator)]).astype("<f8")
                          .tobytes())
                out.write(C.frame_c2w(frame).astype("<f8").tobytes())
                out.write(cv.unreal_to_canonical(location, rotator).astype("<f8").tobytes())
                out.write(img.data)


if __name__ == "__main__":
    main()
