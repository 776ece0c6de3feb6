"""Protobuf to runtime types at the edge: conventions, lenses, validation naming the field."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from latentstage.engine_bridge import client as C
from latentstage.runtime import conventions as cv
from latentstage.runtime import translate as tr
from latentstage.runtime.camera import Intrinsics, ResolutionBounds, look_at
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.types import Encoding, Limits, Pacing
from latentstage.v1 import camera_pb2 as cpb
from latentstage.v1 import service_pb2 as pb

LIMITS = Limits(max_width=256, max_height=256)
BOUNDS = ResolutionBounds(8, 8, 256, 256)


def edge(convention=cv.Convention.UNREAL, stage=None, lens=True) -> tr.Edge:
    e = tr.Edge(convention, stage or {}, 64, 48, 8, BOUNDS)
    if lens:
        e.intrinsics = Intrinsics.from_fov(90, 64, 48)
    return e


def test_unreal_pose_is_converted_as_the_conventions_module_does():
    msg = C.unreal_pose(7, (120.0, -30.0, 170.0), rotator=(-10.0, 45.0, 5.0), fov_deg=90,
                        capture_time_ns=123, tc=C.timecode("01:02:03;04", (30000, 1001)))
    p = tr.pose_from_proto(msg, edge(), received_ns=9)
    expected = cv.to_canonical("unreal", [120.0, -30.0, 170.0], [-10.0, 45.0, 5.0])
    np.testing.assert_allclose(p.c2w, expected, atol=1e-12)
    assert (p.frame_id, p.capture_time_ns, p.received_ns) == (7, 123, 9)
    assert p.timecode.format() == "01:02:03;04" and p.timecode.rate == Fraction(30000, 1001)
    assert p.intrinsics.hfov_deg == pytest.approx(90)


def test_unity_pose_with_euler_angles_and_vertical_fov():
    msg = C.unity_pose(1, (1.0, 1.7, -2.0), euler=(10.0, 30.0, 0.0), fov_deg=60)
    p = tr.pose_from_proto(msg, edge(cv.Convention.UNITY))
    np.testing.assert_allclose(p.c2w, cv.to_canonical("unity", [1, 1.7, -2], [10, 30, 0]),
                               atol=1e-12)
    assert p.intrinsics.vfov_deg == pytest.approx(60)  # Unity's fieldOfView is vertical


def test_opengl_stage_settings_are_applied():
    e = edge(cv.Convention.OPENGL, tr.stage_from_proto(
        cv.Convention.OPENGL, cpb.Stage(meters_per_unit=0.01, up_axis=cpb.UP_AXIS_Y), "stage"))
    m = cv.canonical_to_opengl(look_at([1, 2, 1.5], [3, 2, 1.5]), "y", 0.01)
    p = tr.pose_from_proto(C.pose(0, m[:3, 3], C.rotation(matrix=m[:3, :3])), e)
    np.testing.assert_allclose(p.c2w, look_at([1, 2, 1.5], [3, 2, 1.5]), atol=1e-9)


def test_a_pose_lens_becomes_the_session_lens():
    e = edge(lens=False)
    with pytest.raises(InvalidInput, match="pose.lens"):
        tr.pose_from_proto(C.unreal_pose(0, (0, 0, 0), rotator=(0, 0, 0)), e)
    tr.pose_from_proto(C.unreal_pose(0, (0, 0, 0), rotator=(0, 0, 0), fov_deg=60), e)
    p = tr.pose_from_proto(C.unreal_pose(1, (0, 0, 0), rotator=(0, 0, 0)), e)
    assert p.intrinsics.hfov_deg == pytest.approx(60)


@pytest.mark.parametrize("lens, conv, check", [
    (C.lens_pixels((100, 100, 63.5, 47.5), 128, 96), "opencv",
     lambda k: (k.fx, k.cx) == pytest.approx((50, 31.5))),  # rescaled to the output size
    (C.lens_pixels((40, 40, 31.5, 23.5)), "opencv", lambda k: k.fx == 40),
    (C.lens_physical(35, 36, 24), "opencv", lambda k: k.fx == pytest.approx(35 * 64 / 36)),
    (C.lens_physical(35, 36, 24), "unreal", lambda k: k.fx == pytest.approx(35 * 64 / 36)),
    (C.lens_fov(60), "unity", lambda k: k.vfov_deg == pytest.approx(60)),
    (C.lens_fov(60, "horizontal"), "unity", lambda k: k.hfov_deg == pytest.approx(60)),
])
def test_lens_forms(lens, conv, check):
    k = tr.lens_to_intrinsics(lens, cv.Convention(conv), 64, 48, "pose.lens", BOUNDS)
    assert (k.width, k.height) == (64, 48) and check(k)


@pytest.mark.parametrize("lens, hint", [
    (C.lens_fov(0), "pose.lens"),
    (C.lens_fov(179.5), "field of view"),
    (C.lens_pixels((0, 40, 31.5, 23.5)), "pose.lens"),
    (C.lens_pixels((0.01, 0.01, 31.5, 23.5)), "field of view"),  # FOV near 180
    (C.lens_pixels((1e7, 1e7, 31.5, 23.5)), "field of view"),  # FOV near 0
    (C.lens_pixels((40, 400, 31.5, 23.5)), "field of view|aspect"),
    (C.lens_pixels((40, 40, 5000, 23.5)), "principal point"),
    (C.lens_pixels((float("nan"), 40, 31.5, 23.5)), "finite"),
    (C.lens_physical(0, 36, 24), "focal_length"),
    (cpb.Lens(), "one of pixels, physical or fov"),
])
def test_zero_or_absurd_lenses_are_rejected_naming_the_field(lens, hint):
    with pytest.raises(InvalidInput, match=hint) as err:
        tr.lens_to_intrinsics(lens, cv.Convention.OPENCV, 64, 48, "pose.lens", BOUNDS)
    assert err.value.field.startswith("pose.lens")


@pytest.mark.parametrize("msg, field", [
    (C.unreal_pose(0, (float("nan"), 0, 0), rotator=(0, 0, 0)), "pose.position"),
    (C.unreal_pose(0, (0, 0, 0), rotator=(0, float("inf"), 0)), "pose.rotation.rotator"),
    (C.pose(0, (0, 0, 0), C.rotation(quat=(0, 0, 0, 2))), "pose.rotation.quaternion"),
    (C.pose(0, (0, 0, 0), C.rotation(quat=(0, 0, float("nan"), 1))), "pose.rotation.quaternion"),
    (C.pose(0, (0, 0, 0), C.rotation(matrix=np.diag([1, 1, 2]))), "pose.rotation.matrix"),
    (C.pose(0, (0, 0, 0), C.rotation(matrix=np.diag([1, 1, -1]))), "pose.rotation.matrix"),
    (C.pose(0, (0, 0, 0), C.rotation(unity_euler=(0, 0, 0))), "pose.rotation.unity_euler"),
    (pb.Pose(frame_id=1), "pose.position"),
    (pb.Pose(frame_id=1, position=cpb.Vec3()), "pose.rotation"),
    (pb.Pose(frame_id=1, position=cpb.Vec3(), rotation=cpb.Rotation()), "pose.rotation"),
    (C.pose(0, (0, 0, 0), C.rotation(quat=(0, 0, 0, 1)), capture_time_ns=-5),
     "pose.capture_time_ns"),
    (C.pose(0, (0, 0, 0), C.rotation(quat=(0, 0, 0, 1)),
            tc=cpb.Timecode(hours=25, rate=cpb.Rational(num=25, den=1))), "pose.timecode.hours"),
    (C.pose(0, (0, 0, 0), C.rotation(quat=(0, 0, 0, 1)), tc=cpb.Timecode()),
     "pose.timecode.rate.den"),
    (C.pose(0, (0, 0, 0), C.rotation(quat=(0, 0, 0, 1)), dynamic_mask=np.zeros((5, 5))),
     "pose.dynamic_mask.size"),
])
def test_bad_poses_name_the_field(msg, field):
    with pytest.raises(InvalidInput) as err:
        tr.pose_from_proto(msg, edge())
    assert err.value.field == field, str(err.value)


def test_dynamic_masks_at_output_or_latent_size():
    base = C.pose(0, (0, 0, 0), C.rotation(quat=(0, 0, 0, 1)))
    for shape in ((48, 64), (6, 8)):
        mask = np.zeros(shape, bool)
        mask[0, 0] = True
        base.dynamic_mask.CopyFrom(C.pose(0, (0, 0, 0), base.rotation, dynamic_mask=mask)
                                   .dynamic_mask)
        p = tr.pose_from_proto(base, edge())
        assert p.dynamic_mask.shape == shape and p.dynamic_mask.sum() == 1


def _open(**overrides) -> pb.Open:
    msg = C.open_message(C.empty_world(), (64, 48), "unreal", "jpeg", lens=C.lens_fov(90))
    for key, value in overrides.items():
        if key == "clear":
            msg.ClearField(value)
        elif hasattr(value, "CopyFrom"):
            getattr(msg, key).CopyFrom(value)
        else:
            setattr(msg, key, value)
    return msg


def test_open_defaults_and_settings():
    request, e = tr.open_from_proto(_open(), LIMITS, 8, 2)
    s = request.settings
    assert (s.width, s.height, s.encoding, s.jpeg_quality, s.steps) == (64, 48, Encoding.JPEG,
                                                                       90, 2)
    assert s.pacing is Pacing.REALTIME and s.predict  # prediction on by default in realtime
    assert e.convention is cv.Convention.UNREAL and e.intrinsics.hfov_deg == pytest.approx(90)
    lock, _ = tr.open_from_proto(_open(pacing=pb.PACING_LOCKSTEP), LIMITS, 8, 2)
    assert lock.settings.pacing is Pacing.LOCKSTEP and not lock.settings.predict


def test_any_output_size_renders_on_the_stride_grid_and_crops_back():
    request, e = tr.open_from_proto(_open(size=pb.Size(width=61, height=45)), LIMITS, 8, 2)
    assert (request.settings.width, request.settings.height) == (61, 45)
    pose = tr.pose_from_proto(C.unreal_pose(0, (0, 0, 0), rotator=(0, 0, 0)), e)
    k = pose.intrinsics  # rendered at 64x48: 3 columns (1 left) and 3 rows (1 top) of padding
    assert (k.width, k.height) == (64, 48)
    assert (k.cx, k.cy) == pytest.approx((e.intrinsics.cx + 1, e.intrinsics.cy + 1))
    assert k.cropped(61, 45) == e.intrinsics  # the frame echoes the lens at the asked size


@pytest.mark.parametrize("overrides, field", [
    ({"clear": "world"}, "open.world"),
    ({"clear": "size"}, "open.size"),
    ({"size": pb.Size(width=4096, height=48)}, "open.size.width"),
    ({"size": pb.Size(width=64, height=4)}, "open.size.height"),
    ({"encoding": pb.ENCODING_UNSPECIFIED}, "open.encoding"),
    ({"encoding": 42}, "open.encoding"),
    ({"convention": cpb.CONVENTION_UNSPECIFIED}, "open.convention"),
    ({"convention": 99}, "open.convention"),
    ({"jpeg_quality": 101}, "open.jpeg_quality"),
    ({"target_fps": math.nan}, "open.target_fps"),
    ({"target_fps": 1000.0}, "open.target_fps"),
    ({"sampler_steps": 9}, "open.sampler_steps"),
    ({"pacing": 7}, "open.pacing"),
    ({"display_latency_ms": -1.0}, "open.display_latency_ms"),
    ({"lens": C.lens_fov(0)}, "open.lens.fov"),
    ({"world_id": ""}, "open.world_id"),
    ({"stage": cpb.Stage(meters_per_unit=0.01)}, "open.stage.meters_per_unit"),
    ({"client_name": "x" * 200}, "open.client_name"),
])
def test_bad_opens_name_the_field(overrides, field):
    with pytest.raises(InvalidInput) as err:
        tr.open_from_proto(_open(**overrides), LIMITS, 8, 2)
    assert err.value.field.startswith(field), str(err.value)


def _seed_image(w=64, h=48, depth_shape=None) -> pb.WorldSpec:
    rgb = np.zeros((h, w, 3), np.uint8)
    depth = None if depth_shape is None else np.full(depth_shape, 3.0, np.float32)
    return C.seed_image_world(rgb, depth)


def test_seed_images_with_depth_at_image_or_latent_size():
    for shape in (None, (48, 64), (6, 8)):
        spec = tr.world_spec_from_proto(_seed_image(depth_shape=shape), "spec",
                                        cv.Convention.OPENCV, BOUNDS, 8)
        src = spec.source
        assert src.rgb.shape == (48, 64, 3) and src.intrinsics.width == 64
        assert (src.depth is None) == (shape is None)


@pytest.mark.parametrize("spec, field", [
    (pb.WorldSpec(seed_image=pb.SeedImage(image=b"GIF89a not supported")),
     "spec.seed_image.image"),
    (_seed_image(depth_shape=(10, 10)), "spec.seed_image.depth"),
    (_seed_image(w=60), "spec.seed_image.image"),
    (_seed_image(w=512), "spec.seed_image.image.width"),
    (pb.WorldSpec(procedural=pb.ProceduralWorld(seed=1)), "spec.procedural.kind"),
    (pb.WorldSpec(snapshot=pb.SnapshotRef(name="../etc/passwd")), "spec.snapshot.name"),
    (pb.WorldSpec(), "spec.source"),
])
def test_bad_world_specs_name_the_field(spec, field):
    with pytest.raises(InvalidInput) as err:
        tr.world_spec_from_proto(spec, "spec", cv.Convention.OPENCV, BOUNDS, 8)
    assert err.value.field.startswith(field), str(err.value)


def test_control_translation():
    c = tr.control_from_proto(pb.Control(sampler_steps=1, target_fps=0.0, pause_writes=False,
                                         encoding=pb.ENCODING_RAW_RGBA8), LIMITS)
    assert (c.steps, c.target_fps, c.pause_writes, c.encoding) == (1, 0.0, False,
                                                                   Encoding.RAW_RGBA8)
    assert tr.control_from_proto(pb.Control(), LIMITS).target_fps is None  # unset = unchanged
    with pytest.raises(InvalidInput, match="control.encoding"):
        tr.control_from_proto(pb.Control(encoding=17), LIMITS)
    with pytest.raises(InvalidInput, match="control.snapshot.name"):
        tr.control_from_proto(pb.Control(snapshot=pb.SnapshotRequest(name="a/b")), LIMITS)
