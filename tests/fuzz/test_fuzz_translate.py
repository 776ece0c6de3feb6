"""Every protobuf -> runtime decoder of translate.py, on any message: it returns a value the
runtime can use, or raises InvalidInput naming the field. Nothing else, ever."""

from __future__ import annotations

import math

import numpy as np
from fuzz_strategies import check_error, floats, fuzz_settings, messages, texts
from hypothesis import example, given
from hypothesis import strategies as st

from latentstage.engine_bridge import client as C
from latentstage.runtime import translate as tr
from latentstage.runtime.camera import ResolutionBounds
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.types import Limits, check_snapshot_name
from latentstage.v1 import camera_pb2 as cpb
from latentstage.v1 import service_pb2 as pb

LIMITS = Limits(max_width=256, max_height=256)
BOUNDS = ResolutionBounds(8, 8, 256, 256)
CONVENTIONS = list(tr.CONVENTIONS.values())


def _ok_intrinsics(k) -> None:
    assert all(math.isfinite(v) for v in (k.fx, k.fy, k.cx, k.cy)) and k.fx > 0 and k.fy > 0


@fuzz_settings()
@given(msg=messages(pb.Open))
@example(msg=C.open_message(C.empty_world(), (64, 48), "unreal", lens=C.lens_fov(5e-324)))
@example(msg=C.open_message("w" * 100, (64, 48), "unreal"))
def test_open(msg):
    try:
        request, edge = tr.open_from_proto(msg, LIMITS, 8, 2)
    except InvalidInput as exc:
        check_error(exc)
        return
    tr.settings_to_proto(request.settings, edge.convention)  # representable on the wire
    if edge.intrinsics is not None:
        _ok_intrinsics(edge.intrinsics)


def _edge(conv_index: int, lens: bool) -> tr.Edge:
    conv = CONVENTIONS[conv_index % len(CONVENTIONS)]
    edge = tr.Edge(conv, {}, 64, 48, 8, BOUNDS)
    if lens:
        edge.intrinsics = tr.lens_to_intrinsics(C.lens_fov(70), conv, 64, 48, "open.lens", BOUNDS)
    return edge


def near_valid_poses():
    """Poses that pass most checks, with one hostile value (reaches the deeper conversions)."""
    return st.builds(
        lambda fid, pos, rot, fov, extra: C.pose(fid, pos, rot, C.lens_fov(fov) if extra else None,
                                                 capture_time_ns=1),
        st.integers(0, 2**64 - 1), st.tuples(floats, floats, floats),
        st.one_of(st.builds(lambda q: C.rotation(quat=q), st.tuples(floats, floats, floats,
                                                                     floats)),
                  st.builds(lambda r: C.rotation(rotator=r), st.tuples(floats, floats, floats)),
                  st.builds(lambda r: C.rotation(unity_euler=r),
                            st.tuples(floats, floats, floats))),
        floats, st.booleans())


@fuzz_settings()
@given(msg=st.one_of(messages(pb.Pose), near_valid_poses()), conv=st.integers(0, 5),
       lens=st.booleans())
@example(msg=C.unreal_pose(1, (0, 0, 0), rotator=(0, 0, 0), fov_deg=5e-324), conv=2, lens=True)
def test_pose(msg, conv, lens):
    edge = _edge(conv, lens)
    try:
        p = tr.pose_from_proto(msg, edge, 0)
    except InvalidInput as exc:
        check_error(exc)
        return
    assert p.c2w.shape == (4, 4) and np.all(np.isfinite(p.c2w))
    _ok_intrinsics(p.intrinsics)
    assert p.frame_id >= 0 and p.capture_time_ns >= 0


@fuzz_settings()
@given(lens=messages(cpb.Lens), conv=st.integers(0, 5), size=st.tuples(st.integers(8, 256),
                                                                        st.integers(8, 256)))
@example(lens=C.lens_physical(5e-324, 36, 24), conv=0, size=(64, 48))
@example(lens=C.lens_physical(35, 5e-324, 24), conv=2, size=(64, 48))
@example(lens=C.lens_physical(1e308, 1e-308, 24), conv=3, size=(64, 48))
def test_lens(lens, conv, size):
    c = CONVENTIONS[conv]
    try:
        k = tr.lens_to_intrinsics(lens, c, size[0], size[1], "lens", BOUNDS)
    except InvalidInput as exc:
        check_error(exc)
        return
    _ok_intrinsics(k)
    assert 1.0 <= k.hfov_deg <= 170.0


@fuzz_settings()
@given(rot=messages(cpb.Rotation), conv=st.integers(0, 5))
def test_rotation(rot, conv):
    try:
        out = tr.rotation_from_proto(rot, CONVENTIONS[conv], "rotation")
    except InvalidInput as exc:
        check_error(exc)
        return
    assert np.all(np.isfinite(out))


@fuzz_settings()
@given(msg=messages(pb.Control))
def test_control(msg):
    try:
        tr.control_from_proto(msg, LIMITS)
    except InvalidInput as exc:
        check_error(exc)


@fuzz_settings(0.5)
@given(spec=messages(pb.WorldSpec))
def test_world_spec(spec):
    try:
        out = tr.world_spec_from_proto(spec, "spec", tr.Convention.OPENCV, BOUNDS, 8, True)
    except InvalidInput as exc:
        check_error(exc)
        return
    assert len(out.name) <= tr.MAX_TEXT


@fuzz_settings()
@given(ref=messages(pb.SnapshotRef))
def test_snapshot_ref(ref):
    try:
        tr.snapshot_from_proto(ref, "snapshot")
    except InvalidInput as exc:
        check_error(exc)


@fuzz_settings()
@given(tc=messages(cpb.Timecode))
def test_timecode(tc):
    try:
        out = tr.timecode_from_proto(tc, "pose.timecode")
    except InvalidInput as exc:
        check_error(exc)
        return
    tr.timecode_to_proto(out)  # echoed on every frame


@fuzz_settings()
@given(mask=messages(cpb.DynamicMask))
def test_mask(mask):
    try:
        out = tr.mask_from_proto(mask, 64, 48, 8, "pose.dynamic_mask")
    except InvalidInput as exc:
        check_error(exc)
        return
    assert out.shape in ((48, 64), (6, 8))


@fuzz_settings()
@given(stage=messages(cpb.Stage), conv=st.integers(0, 5))
def test_stage(stage, conv):
    try:
        tr.stage_from_proto(CONVENTIONS[conv], stage, "open.stage")
    except InvalidInput as exc:
        check_error(exc)


@fuzz_settings()
@given(size=messages(pb.Size))
def test_size(size):
    try:
        w, h = tr.size_from_proto(size, "open.size", BOUNDS)
    except InvalidInput as exc:
        check_error(exc)
        return
    assert 8 <= w <= 256 and 8 <= h <= 256


@fuzz_settings(2)
@given(text=st.one_of(texts, st.text()))
def test_identifiers_and_labels(text):
    for check in (tr.text_field, tr.check_world_id, check_snapshot_name):
        try:
            out = check(text, "name")
        except InvalidInput as exc:
            check_error(exc)
            assert len(str(exc)) < 400  # bounded, whatever was sent
            continue
        assert out == text and len(out) <= 128
        assert "\n" not in out and "\r" not in out


@fuzz_settings(2)
@given(data=st.binary(max_size=200), cls=st.sampled_from([pb.SessionRequest, pb.Open, pb.Pose,
                                                           pb.CreateWorldRequest]))
def test_random_bytes_parse_then_decode(data, cls):
    """Bytes straight off the wire: either not a message, or a message the decoders handle."""
    try:
        msg = cls.FromString(data)
    except Exception:  # the servicer answers these INVALID_ARGUMENT (test_fuzz_service.py)
        return
    try:
        if cls is pb.Open:
            tr.open_from_proto(msg, LIMITS, 8, 2)
        elif cls is pb.Pose:
            tr.pose_from_proto(msg, _edge(0, True), 0)
        elif cls is pb.CreateWorldRequest:
            tr.world_spec_from_proto(msg.spec, "spec", tr.Convention.OPENCV, BOUNDS, 8, True)
    except InvalidInput as exc:
        check_error(exc)
