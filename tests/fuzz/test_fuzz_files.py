"""Fuzzing the file and byte inputs: snapshots (structure, types, ranges, byte flips), seed
images and depth maps, camera paths (JSON and CSV), the token file, FreeD packets."""

from __future__ import annotations

import functools
import io
import json
import math
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch
from fuzz_strategies import check_error, fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

from latentstage.runtime import snapshot as snap
from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput
from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig

TMP = Path(tempfile.mkdtemp(prefix="latentstage-fuzz-"))
SPEC = LatentSpec(4, 8)


def _memory() -> LatentMemory:
    return LatentMemory(SPEC, MemoryConfig(capacity=2048, env_height=8, env_width=16),
                        model_id="fuzz")


@functools.cache
def snapshot_bytes() -> bytes:
    from latentstage.runtime.camera import Intrinsics, look_at

    memory = _memory()
    gen = torch.Generator().manual_seed(3)
    k = Intrinsics.from_fov(70, 64, 64)
    for i in range(3):
        sky = torch.zeros(8, 8, dtype=torch.bool)
        sky[0] = True
        camera = memory.camera(k, look_at([0, 0.3 * i, 0], [3, 0.3 * i, 0.1 * i]))
        memory.write(torch.randn(4, 8, 8, generator=gen), 2 + torch.rand(8, 8, generator=gen),
                     camera, sky_mask=sky)
    path = TMP / "base.safetensors"
    memory.save(path)
    return path.read_bytes()


def _split(data: bytes) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors.torch import load

    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8: 8 + n])["__metadata__"]["latentstage"])
    return meta, dict(load(data))


def _join(meta: dict, tensors: dict, sign: bool) -> bytes:
    from safetensors.torch import save

    if sign:
        meta["checksum"] = {"algorithm": "sha256", "value": snap.checksum(meta, tensors)}
    return save({k: v.contiguous() for k, v in tensors.items()},
                metadata={"latentstage": json.dumps(meta)})


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)
META_PATHS = [("format_version",), ("model_id",), ("convention",), ("latent_spec",),
              ("latent_spec", "channels"), ("memory_config",), ("memory_config", "env_height"),
              ("memory_config", "voxel_base"), ("counters",), ("counters", "evictions"),
              ("counters", "writes"), ("checksum",), ("checksum", "value")]
TENSORS = ["slot", "offset", "feat", "weight", "trust", "extent", "slant", "key", "last_seen",
           "env_feat", "env_weight"]


@st.composite
def mutations(draw):
    """(kind, details): one structural, type, range or byte mutation of a snapshot."""
    kind = draw(st.sampled_from(["meta", "counters", "drop", "extra", "dtype", "value",
                                 "truncate", "flip", "append"]))
    if kind == "meta":
        return kind, (draw(st.sampled_from(META_PATHS)), draw(json_values), draw(st.booleans()))
    if kind == "counters":
        value = draw(st.one_of(st.integers(-2**65, 2**65), st.sampled_from(
            [-1, 0, 1, 2, 3, 2**63 - 1, 2**63, 2**64])))
        return kind, (draw(st.sampled_from(["evictions", "writes"])), value, draw(st.booleans()))
    if kind in ("drop", "dtype"):
        return kind, (draw(st.sampled_from(TENSORS)), draw(st.booleans()))
    if kind == "extra":
        return kind, (draw(st.text(min_size=1, max_size=8)), draw(st.booleans()))
    if kind == "value":
        return kind, (draw(st.sampled_from(TENSORS)), draw(st.integers(0, 10**6)),
                      draw(st.sampled_from([-1.0, 0.0, 1e30, -1e30, float("nan"), 2**62, -5,
                                            5000, 2**63 - 1])), draw(st.booleans()))
    return kind, (draw(st.integers(0, 10**9)), draw(st.integers(1, 255)))


def _mutate(data: bytes, kind: str, details) -> bytes:
    if kind in ("truncate", "flip", "append"):
        where, byte = details
        if kind == "truncate":
            return data[: where % len(data)]
        if kind == "append":
            return data + bytes([byte]) * (where % 64 + 1)
        out = bytearray(data)
        out[where % len(data)] ^= byte
        return bytes(out)
    meta, t = _split(data)
    if kind == "meta":
        path, value, sign = details
        node = meta
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[path[-1]] = value
    elif kind == "counters":
        name, value, sign = details
        meta["counters"][name] = value
    elif kind == "drop":
        name, sign = details
        t.pop(name)
    elif kind == "extra":
        name, sign = details
        t[name] = torch.zeros(2)
    elif kind == "dtype":
        name, sign = details
        t[name] = t[name].double() if t[name].is_floating_point() else t[name].int()
    else:
        name, index, value, sign = details
        flat = t[name].reshape(-1).clone()
        if not flat.is_floating_point():
            value = int(value) if math.isfinite(value) and abs(value) < 2**63 else -1
            info = torch.iinfo(flat.dtype)  # narrow record fields: clamp into the dtype
            value = min(max(value, info.min), info.max)
        if flat.numel():
            flat[index % flat.numel()] = value
        t[name] = flat.reshape(t[name].shape)
    return _join(meta, t, sign)


@fuzz_settings(2)
@given(mutation=mutations())
@example(mutation=("counters", ("evictions", -1, True)))  # issue 12 H1: INTERNAL, orphaned world
@example(mutation=("counters", ("evictions", 2**64, True)))
@example(mutation=("meta", (("latent_spec",), [4, 8], True)))  # issue 12 M3: INTERNAL
@example(mutation=("value", ("slot", 0, 5000, True)))
def test_snapshot_loader(mutation):
    data = _mutate(snapshot_bytes(), *mutation)
    path = TMP / "mutated.safetensors"
    path.write_bytes(data)
    memory = _memory()
    try:
        memory.load(path)
    except (CorruptFile, Incompatible) as exc:
        assert len(memory) == 0 and memory.stats().writes == 0  # untouched
        assert len(str(exc)) < 2000
        return
    from latentstage.runtime import translate as tr
    from latentstage.runtime.world import memory_info

    s = memory.stats()  # a memory that loaded is one the server can report and read
    assert 0 <= s.evictions < 2**63 and 0 <= s.writes < 2**63 and s.points <= 2048
    tr.memory_to_proto(memory_info(memory))
    from latentstage.runtime.camera import Intrinsics, look_at

    camera = memory.camera(Intrinsics.from_fov(70, 64, 64), look_at([0, 0, 0], [3, 0, 0]))
    out = memory.readout(camera)
    assert torch.isfinite(out.features).all()


# ----- seed images and depth ---------------------------------------------------------------------
def _png(w: int, h: int, mode: str = "RGB") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(w: int, h: int) -> bytes:
    import simplejpeg

    return simplejpeg.encode_jpeg(np.zeros((h, w, 3), np.uint8), quality=70)


@st.composite
def images(draw):
    base = draw(st.sampled_from(["png", "jpeg", "png-l", "png-rgba", "png-p", "raw"]))
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    if base == "raw":
        return draw(st.binary(max_size=300))
    data = bytearray(_jpeg(w, h) if base == "jpeg" else _png(
        w, h, {"png": "RGB", "png-l": "L", "png-rgba": "RGBA", "png-p": "P"}[base]))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "cut", "size"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            data = data[: max(at, 1)]
        else:  # claim another size in the header (the bombs of issue 12)
            big = struct.pack(">HH", draw(st.integers(0, 65535)), draw(st.integers(0, 65535)))
            sof = data.find(b"\xff\xc0")
            if base == "jpeg" and sof >= 0:
                data[sof + 5: sof + 9] = big
            elif base != "jpeg" and len(data) > 24:
                data[16:24] = struct.pack(">II", *struct.unpack(">HH", big))
    return bytes(data)


@fuzz_settings(3)
@given(data=images())
def test_seed_image_decoding(data):
    from latentstage.runtime.encoding import decode_image

    try:
        rgb = decode_image(data, "seed_image.image", (64, 64))
    except InvalidInput as exc:
        check_error(exc)
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert 1 <= rgb.shape[0] <= 64 and 1 <= rgb.shape[1] <= 64


@fuzz_settings(2)
@given(data=st.one_of(st.binary(max_size=300), st.builds(
    lambda v: np.asarray(v, "<f4").tobytes(), st.lists(st.floats(width=32), max_size=64))),
       w=st.integers(-3, 70000), h=st.integers(-3, 70000))
def test_depth_decoding(data, w, h):
    from latentstage.runtime.encoding import decode_depth

    try:
        depth = decode_depth(data, w, h, "seed_image.depth", (64, 64))
    except InvalidInput as exc:
        check_error(exc)
        return
    assert depth.shape == (h, w) and not np.isnan(depth).any() and (depth >= 0).all()


# ----- camera paths ----------------------------------------------------------------------------
KEYS = ["frames", "cameras", "poses", "c2w", "camera_to_world", "transform_matrix", "pose",
        "time_s", "time", "timestamp", "t", "time_ns", "timestamp_ns", "frame_id", "index",
        "frame", "intrinsics", "K", "fx", "fy", "cx", "cy", "width", "height", "fps",
        "frame_rate", "scene", "world", "seed", "kind", "convention", "timecode", "times"]
path_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
              st.sampled_from(["opencv", "unreal", "30000/1001", "01:00:00:00", "x/0", "nan",
                               "indoor"]), st.text(max_size=6)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.lists(st.floats(-10, 10), min_size=16, max_size=16),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=25)
CSV_COLS = ["frame_id", "time_s", "time_ns", "timecode", "x", "y", "z", "qx", "qy", "qz", "qw",
            "pitch", "yaw", "roll", "rx", "ry", "rz", "fov_deg", "fov_axis", "fx", "fy", "cx",
            "cy", "width", "height", "focal_length_mm", "sensor_width_mm", "sensor_height_mm"]
cells = st.one_of(st.sampled_from(["", "0", "1", "-1", "nan", "inf", "1e400", "90", "0.5",
                                   "01:00:00:00", "horizontal", "a", '"', "1,2"]),
                  st.text(max_size=5))


@st.composite
def csv_texts(draw):
    cols = draw(st.lists(st.sampled_from(CSV_COLS), min_size=1, max_size=12))
    rows = [",".join(cols)]
    for _ in range(draw(st.integers(0, 4))):
        rows.append(",".join(draw(cells) for _ in range(draw(st.integers(0, len(cols) + 1)))))
    return "\n".join(rows) + "\n"


def _check_path(path: Path, convention: str | None) -> None:
    from latentstage.engine_bridge.paths import read_path
    from latentstage.engine_bridge.play import to_pose

    try:
        cam = read_path(path, convention)
    except ValueError as exc:
        assert str(exc) and len(str(exc)) < 2000
        return
    for s in cam.samples:  # what play sends: every pose is buildable
        to_pose(s, 10**9, 25)


@fuzz_settings(2)
@given(doc=path_json)
@example(doc={"fps": [30, 0], "frames": [{"c2w": [1] * 16}]})
@example(doc={"frames": [1, 2]})
def test_camera_path_json(doc):
    path = TMP / "cameras.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    _check_path(path, None)


@fuzz_settings(2)
@given(text=csv_texts(), convention=st.sampled_from([None, "unreal", "unity", "opencv"]))
def test_camera_path_csv(text, convention):
    path = TMP / "cameras.csv"
    path.write_text(text, encoding="utf-8")
    _check_path(path, convention)


# ----- token file ------------------------------------------------------------------------------
@fuzz_settings(2)
@given(data=st.one_of(st.binary(max_size=200), st.lists(st.one_of(
    st.sampled_from(["# c", "  # indented", "\ttok", "tok en", "", "secret", "é"]),
    st.text(max_size=10)), max_size=6).map(lambda lines: "\n".join(lines).encode())))
@example(data=b"   # old token\nsecret\n")  # issue 12 L5: an indented comment became a token
def test_token_file(data):
    from latentstage.runtime.auth import read_tokens

    path = TMP / "tokens"
    path.write_bytes(data)
    try:
        tokens = read_tokens(path)
    except InvalidInput as exc:
        check_error(exc)
        return
    assert tokens
    lines = [line.strip() for line in data.decode("utf-8-sig").splitlines()]
    for token in tokens:
        assert token in lines and not token.startswith("#")
        assert token.isascii() and token.isprintable() and " " not in token


# ----- FreeD -----------------------------------------------------------------------------------
@fuzz_settings(3)
@given(data=st.one_of(st.binary(max_size=64), st.binary(min_size=28, max_size=28).map(
    lambda body: b"\xd1" + body[1:] + bytes([(0x40 - sum(b"\xd1" + body[1:])) % 256]))))
def test_freed_decoder_on_any_bytes(data):
    from latentstage.runtime import freed

    try:
        packet = freed.decode(data)
    except InvalidInput as exc:
        check_error(exc)
        return
    assert len(data) == 29 and data[0] == 0xD1
    c2w = freed.freed_to_pose(packet)
    assert np.all(np.isfinite(c2w)) and all(math.isfinite(v) for v in (
        packet.pan_deg, packet.tilt_deg, packet.roll_deg, packet.x_mm, packet.y_mm, packet.z_mm))
    assert freed.decode(freed.encode(packet)) == packet
