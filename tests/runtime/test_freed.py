"""Tests for FreeD D1 packets (runtime/freed.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentstage.runtime import freed
from latentstage.runtime.camera import look_at
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.freed import FreeDPacket, decode, encode, freed_to_pose, pose_to_freed

FAST = settings(max_examples=200, deadline=None)
VECTOR = bytes.fromhex("d100df78aa0047ef000000000000000000000000004000001501d1ff12")


def with_checksum(body: bytes) -> bytes:
    """A packet from its first 28 bytes."""
    return body + bytes([(0x40 - sum(body)) % 256])


def test_design_test_vector():
    p = decode(VECTOR)
    assert p.camera_id == 0
    assert p.pan_deg == -2131798 / 32768  # 0xdf78aa as 24-bit signed
    assert round(p.pan_deg, 5) == -65.05731
    assert p.tilt_deg == 18415 / 32768
    assert round(p.tilt_deg, 5) == 0.56198
    assert (p.roll_deg, p.x_mm, p.y_mm, p.z_mm) == (0.0, 0.0, 0.0, 0.0)
    assert (p.zoom, p.focus, p.spare) == (16384, 5377, 0xD1FF)
    assert freed.checksum(VECTOR) == 0x12
    assert encode(p) == VECTOR


def test_field_positions_and_scales():
    # pan -1 deg, tilt +90, roll 0.5, X 1 mm, Y -2.5 mm, Z 1000 mm, zoom max, focus 1, spare 0x0102
    p = FreeDPacket(7, -1.0, 90.0, 0.5, 1.0, -2.5, 1000.0, 2**24 - 1, 1, 0x0102)
    data = encode(p)
    assert len(data) == 29 and data[0] == 0xD1 and data[1] == 7
    assert data[2:5] == (-32768).to_bytes(3, "big", signed=True)
    assert data[5:8] == (90 * 32768).to_bytes(3, "big", signed=True)
    assert data[8:11] == (16384).to_bytes(3, "big", signed=True)
    assert data[11:14] == (64).to_bytes(3, "big", signed=True)
    assert data[14:17] == (-160).to_bytes(3, "big", signed=True)
    assert data[17:20] == (64000).to_bytes(3, "big", signed=True)
    assert data[20:23] == b"\xff\xff\xff" and data[23:26] == b"\x00\x00\x01"
    assert data[26:28] == b"\x01\x02"
    assert (sum(data[:28]) + data[28]) % 256 == 0x40
    assert decode(data) == p


@given(body=st.binary(min_size=27, max_size=27))
@FAST
def test_encode_decode_bytes_round_trip(body):
    data = with_checksum(b"\xd1" + body)
    assert encode(decode(data)) == data


units = st.integers(-(2**23), 2**23 - 1)


@given(
    camera_id=st.integers(0, 255),
    angles=st.tuples(units, units, units),
    position=st.tuples(units, units, units),
    zoom=st.integers(0, 2**24 - 1),
    focus=st.integers(0, 2**24 - 1),
    spare=st.integers(0, 0xFFFF),
)
@FAST
def test_decode_encode_packet_round_trip(camera_id, angles, position, zoom, focus, spare):
    p = FreeDPacket(
        camera_id,
        *(a / 32768 for a in angles),
        *(x / 64 for x in position),
        zoom,
        focus,
        spare,
    )
    assert decode(encode(p)) == p


def test_encode_rounds_to_nearest_count():
    p = decode(encode(FreeDPacket(pan_deg=10.00001, x_mm=3.001)))
    assert p.pan_deg == 327680 / 32768
    assert p.x_mm == 192 / 64


def test_rejects_wrong_length():
    for data in (VECTOR[:-1], VECTOR + b"\x00", b""):
        with pytest.raises(InvalidInput) as e:
            decode(data)
        assert e.value.field == "freed.length" and e.value.value == len(data)


def test_rejects_wrong_type():
    data = with_checksum(b"\xd2" + VECTOR[1:28])
    with pytest.raises(InvalidInput) as e:
        decode(data)
    assert e.value.field == "freed.type" and "0xD1" in str(e.value) and "0xD2" in str(e.value)


def test_rejects_bad_checksum():
    data = VECTOR[:28] + b"\x13"
    with pytest.raises(InvalidInput) as e:
        decode(data)
    assert e.value.field == "freed.checksum"
    assert e.value.value == "0x13" and e.value.expected == "0x12"


def test_rejects_corrupted_payload():
    data = bytearray(VECTOR)
    data[5] ^= 0x01  # flip a tilt bit, checksum unchanged
    with pytest.raises(InvalidInput) as e:
        decode(bytes(data))
    assert e.value.field == "freed.checksum"


def test_rejects_non_bytes():
    with pytest.raises(InvalidInput) as e:
        decode("d100")
    assert e.value.field == "freed.packet"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"pan_deg": 256.0}, "freed.pan_deg"),
        ({"tilt_deg": -256.01}, "freed.tilt_deg"),
        ({"roll_deg": float("nan")}, "freed.roll_deg"),
        ({"x_mm": 131072.0}, "freed.x_mm"),
        ({"z_mm": float("inf")}, "freed.z_mm"),
        ({"zoom": -1}, "freed.zoom"),
        ({"focus": 2**24}, "freed.focus"),
        ({"zoom": 1.5}, "freed.zoom"),
        ({"spare": 0x10000}, "freed.spare"),
        ({"camera_id": 256}, "freed.camera_id"),
        ({"camera_id": True}, "freed.camera_id"),
    ],
)
def test_rejects_out_of_range_values(kwargs, field):
    with pytest.raises(InvalidInput) as e:
        encode(FreeDPacket(**kwargs))
    assert e.value.field == field


def test_extreme_values_encode():
    top = FreeDPacket(pan_deg=(2**23 - 1) / 32768, x_mm=-(2**23) / 64)
    assert decode(encode(top)) == top


def test_default_ports():
    assert freed.PORT_GENERIC == 40000
    assert freed.PORT_MO_SYS == 8001
    assert freed.PORT_STYPE_NCAM == 6301
    assert freed.PORT_PANASONIC == 1111
    assert freed.PORT_SONY == 52380
    assert freed.DEFAULT_PORTS["ncam"] == freed.DEFAULT_PORTS["stype"] == 6301


# ----- pose mapping ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pan", "tilt", "forward"),
    [
        (0.0, 0.0, [0, 1, 0]),  # pan 0 looks along +Y
        (90.0, 0.0, [1, 0, 0]),  # positive pan turns right (clockwise from above)
        (-90.0, 0.0, [-1, 0, 0]),
        (180.0, 0.0, [0, -1, 0]),
        (0.0, 90.0, [0, 0, 1]),  # positive tilt looks up
        (0.0, -30.0, [0, math.cos(math.radians(30)), -0.5]),
        (45.0, 30.0, [0.5 * math.sqrt(1.5), 0.5 * math.sqrt(1.5), 0.5]),
    ],
)
def test_pose_forward_direction(pan, tilt, forward):
    c2w = freed_to_pose(FreeDPacket(pan_deg=pan, tilt_deg=tilt))
    np.testing.assert_allclose(c2w[:3, 2], forward, atol=1e-12)


def test_pose_level_camera_axes_and_position():
    c2w = freed_to_pose(FreeDPacket(x_mm=1000.0, y_mm=-2500.0, z_mm=1500.0))
    np.testing.assert_allclose(c2w[:3, 3], [1.0, -2.5, 1.5])  # mm -> m
    np.testing.assert_allclose(c2w[:3, 0], [1, 0, 0], atol=1e-12)  # right
    np.testing.assert_allclose(c2w[:3, 1], [0, 0, -1], atol=1e-12)  # down


def test_pose_roll_dips_right_side():
    c2w = freed_to_pose(FreeDPacket(roll_deg=30.0))
    np.testing.assert_allclose(c2w[:3, 2], [0, 1, 0], atol=1e-12)  # optical axis unchanged
    np.testing.assert_allclose(c2w[:3, 0], [math.cos(math.radians(30)), 0, -0.5], atol=1e-12)


def test_pose_tilt_then_pan_keeps_horizon_level():
    c2w = freed_to_pose(FreeDPacket(pan_deg=70.0, tilt_deg=-25.0))
    assert abs(c2w[2, 0]) < 1e-12  # the right vector stays horizontal without roll


@given(
    pan=st.floats(-179.0, 179.0),
    tilt=st.floats(-89.0, 89.0),
    roll=st.floats(-179.0, 179.0),
    x=st.floats(-1e5, 1e5),
)
@FAST
def test_pose_round_trip(pan, tilt, roll, x):
    p = FreeDPacket(3, pan, tilt, roll, x, -x / 2, 1200.0, 10, 20)
    back = pose_to_freed(freed_to_pose(p), camera_id=3, zoom=10, focus=20)
    for name in ("pan_deg", "tilt_deg", "roll_deg", "x_mm", "y_mm", "z_mm"):
        assert getattr(back, name) == pytest.approx(getattr(p, name), abs=1e-7)
    assert (back.camera_id, back.zoom, back.focus) == (3, 10, 20)


def test_pose_to_freed_of_look_at():
    # A camera at 2 m height looking at a point along +X, slightly below: pan 90, tilt down.
    c2w = look_at([0.0, 0.0, 2.0], [10.0, 0.0, 1.0])
    p = pose_to_freed(c2w)
    assert p.pan_deg == pytest.approx(90.0)
    assert p.tilt_deg == pytest.approx(-math.degrees(math.atan2(1.0, 10.0)))
    assert p.roll_deg == pytest.approx(0.0, abs=1e-9)
    assert p.z_mm == pytest.approx(2000.0)


# ----- Unreal LiveLinkFreeD compatibility ------------------------------------------------------
def unreal_s24(field: bytes) -> int:
    """LiveLinkFreeD's Decode_Signed_*: the raw 24 bits, minus 0xFFFFFF when the top bit is
    set (two's complement would subtract 0x1000000)."""
    raw = int.from_bytes(field, "big")
    return raw - 0xFFFFFF if field[0] & 0x80 else raw


@pytest.mark.parametrize(("field", "exact", "unreal"), [
    (b"\xff\xff\xff", -1, 0),
    (b"\x80\x00\x00", -(2**23), -(2**23) + 1),
    (b"\xdf\x78\xaa", -2131798, -2131797),
    (b"\x7f\xff\xff", 2**23 - 1, 2**23 - 1),  # positives are the same
    (b"\x00\x47\xef", 18415, 18415),
])
def test_unreal_compat_reads_negative_fields_one_count_closer_to_zero(field, exact, unreal):
    body = b"\xd1\x05" + field * 6 + bytes(8)
    data = with_checksum(body)
    e, u = decode(data), decode(data, unreal_compat=True)
    assert (e.pan_deg, e.z_mm) == (exact / 32768, exact / 64)
    assert (u.pan_deg, u.tilt_deg, u.roll_deg) == (unreal / 32768,) * 3
    assert (u.x_mm, u.y_mm, u.z_mm) == (unreal / 64,) * 3
    assert unreal == unreal_s24(field)
    assert (u.camera_id, u.zoom, u.focus) == (e.camera_id, e.zoom, e.focus)


def test_unreal_compat_on_the_design_vector():
    u = decode(VECTOR, unreal_compat=True)
    assert u.pan_deg == -2131797 / 32768  # one count above the exact -2131798
    assert u.tilt_deg == 18415 / 32768 and u.zoom == 16384 and u.focus == 5377


def test_second_public_vector():
    # Published as d1002198d8ffeb94 + zero bytes + 0028c60013b9d1ffd6: roll, X, Y and Z are the
    # 12 zero bytes (the zoom field's own leading 00 follows); 29 bytes, checksum 0xd6.
    data = bytes.fromhex("d1002198d8ffeb94") + bytes(12) + bytes.fromhex("0028c60013b9d1ffd6")
    p = decode(data)
    assert round(p.pan_deg, 5) == 67.19409 and p.pan_deg == 0x2198D8 / 32768
    assert p.tilt_deg == -5228 / 32768 and round(p.tilt_deg, 7) == -0.1595459
    assert (p.zoom, p.focus, p.spare) == (10438, 5049, 0xD1FF)
    assert freed.checksum(data) == 0xD6 and encode(p) == data
    with pytest.raises(InvalidInput) as e:  # with 13 zero bytes it is 30 bytes long
        decode(bytes.fromhex("d1002198d8ffeb94") + bytes(13) + bytes.fromhex("0028c60013b9d1ffd6"))
    assert e.value.field == "freed.length"
