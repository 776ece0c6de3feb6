"""FreeD D1 camera-tracking packets: decode, encode, and the canonical camera pose.

A D1 packet is 29 bytes, big-endian (DESIGN.md, "Conventions"):

| bytes | field | encoding |
|---|---|---|
| 0 | type | 0xD1 |
| 1 | camera id | unsigned 8 bit |
| 2-10 | pan, tilt, roll | 24-bit signed, 1/32768 degree |
| 11-19 | X, Y, Z | 24-bit signed, 1/64 mm |
| 20-25 | zoom, focus | 24-bit unsigned, raw encoder counts |
| 26-27 | spare | 16 bit |
| 28 | checksum | (0x40 - sum of bytes 0..27) mod 256 |

FreeD world convention used by :func:`freed_to_pose` (each tracking vendor lets the stage
configure its axes to match): X and Y horizontal, Z up, right-handed, millimetres. Pan turns
about the vertical axis, pan 0 looks along +Y and positive pan turns right (clockwise seen
from above, so pan 90 looks along +X). Positive tilt looks up. Roll turns about the optical
axis, positive clockwise as seen from behind the camera (its right side dips). Canonical world
(x, y, z) is FreeD (X, Y, Z) / 1000; the camera rotation is
``Rz(-pan) @ Rx(tilt) @ Ry(roll) @ R0``, where ``R0`` is the camera looking along +Y, level.

Unreal's LiveLinkFreeD reads the same packet differently in two ways (see docs/freed.md):

- **Sign extension, off by one.** For a 24-bit field whose top bit is set it subtracts
  ``0xFFFFFF`` instead of ``0x1000000``, so every negative angle and position comes out one
  count (1/32768 degree, 1/64 mm) closer to zero than the exact two's complement: ``0xFFFFFF``
  reads 0 instead of -1, ``0x800000`` reads -8388607 instead of -8388608. Positive values are
  unaffected. ``decode(..., unreal_compat=True)`` reproduces this for rigs calibrated through
  Unreal. (Unreal also divides in float32; that rounding, far below one count, is not copied.)
- **World axes.** It puts FreeD Y on Unreal X and FreeD X on Unreal Y (centimetres), with
  FRotator(pitch=tilt, yaw=pan, roll=roll). In the canonical world that is this module's pose
  turned -90 degrees about Z (the stage preset ``"unreal"`` in
  :mod:`latentstage.runtime.freed_config`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from latentstage.runtime.camera import make_pose, validate_pose
from latentstage.runtime.conventions import euler_angles
from latentstage.runtime.errors import InvalidInput, require_finite

PACKET_SIZE = 29  # bytes in a D1 packet
PACKET_TYPE = 0xD1  # byte 0 of a D1 packet
ANGLE_UNITS_PER_DEG = 32768  # 1/32768 degree per count
POSITION_UNITS_PER_MM = 64  # 1/64 mm per count

#: Vendors' default UDP ports for FreeD.
PORT_GENERIC = 40000
PORT_MO_SYS = 8001
PORT_STYPE_NCAM = 6301
PORT_PANASONIC = 1111
PORT_SONY = 52380
DEFAULT_PORTS = {
    "generic": PORT_GENERIC,
    "mo-sys": PORT_MO_SYS,
    "mosys": PORT_MO_SYS,
    "stype": PORT_STYPE_NCAM,
    "ncam": PORT_STYPE_NCAM,
    "panasonic": PORT_PANASONIC,
    "sony": PORT_SONY,
}

_S24 = (-(1 << 23), (1 << 23) - 1)  # range of a 24-bit signed integer
_U24 = (0, (1 << 24) - 1)  # range of a 24-bit unsigned integer
# Camera looking along FreeD +Y, level: OpenCV x right = +X, y down = -Z, z forward = +Y.
_R0 = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # [3, 3]


def _integer(field: str, value, lo: int, hi: int) -> int:
    """An integer in [lo, hi] (no bools), or :class:`InvalidInput`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidInput(field, value, f"an integer in {lo}..{hi}")
    if not lo <= value <= hi:
        raise InvalidInput(field, value, f"an integer in {lo}..{hi}")
    return int(value)


def _fixed(field: str, value, units: int, unit_name: str) -> float:
    """A finite number that fits a 24-bit signed field of ``1/units`` per count."""
    arr = require_finite(field, value)
    if arr.ndim != 0:
        raise InvalidInput(field, value, "a number")
    number = float(arr)
    if not _S24[0] <= round(number * units) <= _S24[1]:
        lo, hi = _S24[0] / units, _S24[1] / units
        raise InvalidInput(field, value, f"{lo:.5f}..{hi:.5f} {unit_name}")
    return number


@dataclass(frozen=True)
class FreeDPacket:
    """One FreeD D1 sample in physical units. The checksum is derived, not stored."""

    camera_id: int = 0  # camera id, 0..255
    pan_deg: float = 0.0  # pan in degrees, positive turns right (clockwise from above)
    tilt_deg: float = 0.0  # tilt in degrees, positive looks up
    roll_deg: float = 0.0  # roll in degrees about the optical axis
    x_mm: float = 0.0  # X position in millimetres (horizontal)
    y_mm: float = 0.0  # Y position in millimetres (horizontal)
    z_mm: float = 0.0  # Z position in millimetres (up)
    zoom: int = 0  # raw zoom encoder value, 0..2^24-1
    focus: int = 0  # raw focus encoder value, 0..2^24-1
    spare: int = 0  # the 16-bit spare field (vendor-specific; often iris or user data)

    def __post_init__(self) -> None:
        object.__setattr__(self, "camera_id", _integer("freed.camera_id", self.camera_id, 0, 255))
        for name in ("pan_deg", "tilt_deg", "roll_deg"):
            value = _fixed(f"freed.{name}", getattr(self, name), ANGLE_UNITS_PER_DEG, "degrees")
            object.__setattr__(self, name, value)
        for name in ("x_mm", "y_mm", "z_mm"):
            value = _fixed(f"freed.{name}", getattr(self, name), POSITION_UNITS_PER_MM, "mm")
            object.__setattr__(self, name, value)
        for name, hi in (("zoom", _U24[1]), ("focus", _U24[1]), ("spare", 0xFFFF)):
            object.__setattr__(self, name, _integer(f"freed.{name}", getattr(self, name), 0, hi))


def checksum(body: bytes) -> int:
    """The D1 checksum of the first 28 bytes: (0x40 - sum) mod 256."""
    return (0x40 - sum(body[:28])) % 256


def check(data: bytes) -> bytes:
    """``data`` as bytes if it is a well-formed D1 packet: its length, type byte and checksum
    (in that order), else :class:`InvalidInput` naming ``freed.length``, ``freed.type`` or
    ``freed.checksum``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput("freed.packet", data, "bytes")
    data = bytes(data)
    if len(data) != PACKET_SIZE:
        raise InvalidInput("freed.length", len(data), f"{PACKET_SIZE} bytes")
    if data[0] != PACKET_TYPE:
        raise InvalidInput("freed.type", f"0x{data[0]:02X}", f"0x{PACKET_TYPE:02X} (D1)")
    expected = checksum(data)
    if data[28] != expected:
        raise InvalidInput("freed.checksum", f"0x{data[28]:02X}", f"0x{expected:02X}")
    return data


def decode(data: bytes, unreal_compat: bool = False) -> FreeDPacket:
    """Decode a 29-byte D1 packet, checking it first (:func:`check`).

    Signed fields are exact 24-bit two's complement; ``unreal_compat`` reads negative ones one
    count closer to zero, as Unreal's LiveLinkFreeD does (see the module docstring).
    """
    data = check(data)
    sign = 0xFFFFFF if unreal_compat else 0x1000000  # subtracted when the top bit is set

    def s24(i: int) -> int:
        raw = int.from_bytes(data[i : i + 3], "big")
        return raw - sign if raw & 0x800000 else raw

    def u24(i: int) -> int:
        return int.from_bytes(data[i : i + 3], "big", signed=False)

    return FreeDPacket(
        camera_id=data[1],
        pan_deg=s24(2) / ANGLE_UNITS_PER_DEG,
        tilt_deg=s24(5) / ANGLE_UNITS_PER_DEG,
        roll_deg=s24(8) / ANGLE_UNITS_PER_DEG,
        x_mm=s24(11) / POSITION_UNITS_PER_MM,
        y_mm=s24(14) / POSITION_UNITS_PER_MM,
        z_mm=s24(17) / POSITION_UNITS_PER_MM,
        zoom=u24(20),
        focus=u24(23),
        spare=int.from_bytes(data[26:28], "big"),
    )


def encode(packet: FreeDPacket) -> bytes:
    """Encode ``packet`` as 29 bytes, rounding angles and positions to the nearest count."""
    if not isinstance(packet, FreeDPacket):
        raise InvalidInput("freed.packet", packet, "a FreeDPacket")
    p = packet
    body = bytes([PACKET_TYPE, p.camera_id])
    for value in (p.pan_deg, p.tilt_deg, p.roll_deg):
        body += round(value * ANGLE_UNITS_PER_DEG).to_bytes(3, "big", signed=True)
    for value in (p.x_mm, p.y_mm, p.z_mm):
        body += round(value * POSITION_UNITS_PER_MM).to_bytes(3, "big", signed=True)
    body += p.zoom.to_bytes(3, "big") + p.focus.to_bytes(3, "big") + p.spare.to_bytes(2, "big")
    return body + bytes([checksum(body)])


def freed_to_pose(packet: FreeDPacket) -> np.ndarray:
    """Canonical camera-to-world [4, 4] (metres, OpenCV camera axes) of a FreeD sample."""
    turn = Rotation.from_euler(
        "ZXY", [-packet.pan_deg, packet.tilt_deg, packet.roll_deg], degrees=True
    )
    position = np.array([packet.x_mm, packet.y_mm, packet.z_mm]) / 1000.0
    return make_pose(turn.as_matrix() @ _R0, position)


def pose_to_freed(c2w, camera_id: int = 0, zoom: int = 0, focus: int = 0) -> FreeDPacket:
    """A FreeD sample for a canonical camera-to-world [4, 4]; the inverse of
    :func:`freed_to_pose` (tilt in [-90, 90], pan and roll in [-180, 180])."""
    pose = validate_pose(c2w, "c2w")
    neg_pan, tilt, roll = euler_angles(pose[:3, :3] @ _R0.T, "ZXY")
    x, y, z = pose[:3, 3] * 1000.0
    return FreeDPacket(camera_id, -neg_pan + 0.0, tilt, roll, x, y, z, zoom, focus)
