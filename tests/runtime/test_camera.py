"""Tests for the canonical camera contract (runtime/camera.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentstage.runtime.camera import (
    Camera,
    Intrinsics,
    ResolutionBounds,
    look_at,
    make_pose,
    normalize_quaternion,
    validate_pose,
    validate_rotation,
)
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.rays import pixel_rays, plucker_rays


def _rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# ----- constructors ---------------------------------------------------------------------------
def test_from_pixels_keeps_values():
    k = Intrinsics.from_pixels(500.0, 510.0, 319.5, 239.5, 640, 480)
    assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == (500.0, 510.0, 319.5, 239.5, 640, 480)
    np.testing.assert_array_equal(k.matrix(), [[500, 0, 319.5], [0, 510, 239.5], [0, 0, 1]])


def test_from_lens_full_frame_50mm():
    # 36 x 24 mm sensor on 1920 x 1280: 1920/36 = 53.33 px/mm on both axes.
    k = Intrinsics.from_lens(50.0, 36.0, 24.0, 1920, 1280)
    assert k.fx == pytest.approx(50 * 1920 / 36)
    assert k.fy == pytest.approx(50 * 1280 / 24)
    assert (k.cx, k.cy) == (959.5, 639.5)
    assert k.hfov_deg == pytest.approx(math.degrees(2 * math.atan(18 / 50)))


def test_from_lens_offset_moves_principal_point_right_and_down():
    k = Intrinsics.from_lens(50.0, 36.0, 24.0, 1920, 1280, 1.8, -1.2)
    assert k.cx == pytest.approx(959.5 + 1.8 * 1920 / 36)  # +96 px
    assert k.cy == pytest.approx(639.5 - 1.2 * 1280 / 24)  # -64 px


def test_from_fov_horizontal_vs_vertical():
    h = Intrinsics.from_fov(90.0, 1920, 1080, "horizontal")
    v = Intrinsics.from_fov(90.0, 1920, 1080, "vertical")
    assert h.fx == h.fy == pytest.approx(960.0)
    assert v.fx == v.fy == pytest.approx(540.0)
    assert h.hfov_deg == pytest.approx(90.0)
    assert v.vfov_deg == pytest.approx(90.0)
    assert h.vfov_deg == pytest.approx(math.degrees(2 * math.atan(540 / 960)))
    assert (h.cx, h.cy) == (959.5, 539.5)


def test_from_fov_diagonal():
    k = Intrinsics.from_fov(60.0, 300, 400, "diagonal")
    assert k.fx == pytest.approx(250.0 / math.tan(math.radians(30)))


# ----- latent scaling -------------------------------------------------------------------------
def test_latent_scaling_explicit_example():
    k = Intrinsics(fx=800.0, fy=600.0, cx=320.0, cy=250.0, width=640, height=480)
    lat = k.latent(8)
    assert (lat.width, lat.height) == (80, 60)
    assert lat.fx == 100.0 and lat.fy == 75.0
    assert lat.cx == pytest.approx((320.0 + 0.5) / 8 - 0.5)  # 39.5625
    assert lat.cy == pytest.approx((250.0 + 0.5) / 8 - 0.5)  # 30.8125


@pytest.mark.parametrize("stride", [2, 4, 8, 16])
def test_latent_pixel_centre_is_block_centre(stride):
    # The ray through latent pixel (j, i) is the ray through the centre of image block
    # columns j*f .. j*f+f-1, i.e. image x = j*f + (f-1)/2.
    k = Intrinsics(fx=700.0, fy=650.0, cx=301.25, cy=245.75, width=640, height=480)
    lat = k.latent(stride)
    j, i = np.arange(lat.width), np.arange(lat.height)
    x_img = j * stride + (stride - 1) / 2
    y_img = i * stride + (stride - 1) / 2
    np.testing.assert_allclose((j - lat.cx) / lat.fx, (x_img - k.cx) / k.fx, atol=1e-12)
    np.testing.assert_allclose((i - lat.cy) / lat.fy, (y_img - k.cy) / k.fy, atol=1e-12)


def test_latent_rejects_bad_stride():
    k = Intrinsics(100.0, 100.0, 31.5, 31.5, 64, 64)
    with pytest.raises(InvalidInput) as e:
        k.latent(0)
    assert e.value.field == "stride"
    with pytest.raises(InvalidInput) as e:
        k.latent(5)
    assert e.value.field == "intrinsics.size"


def test_camera_latent_keeps_pose():
    cam = Camera(Intrinsics(100.0, 100.0, 31.5, 31.5, 64, 64), look_at([1, 2, 3], [0, 0, 0]))
    lat = cam.latent(8)
    np.testing.assert_array_equal(lat.c2w, cam.c2w)
    assert lat.intrinsics.width == 8
    np.testing.assert_array_equal(cam.position, [1, 2, 3])


# ----- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_intrinsics_reject_non_finite(bad):
    with pytest.raises(InvalidInput) as e:
        Intrinsics(bad, 100.0, 10.0, 10.0, 64, 64)
    assert e.value.field == "intrinsics.fx"
    with pytest.raises(InvalidInput) as e:
        Intrinsics(100.0, 100.0, 10.0, bad, 64, 64)
    assert e.value.field == "intrinsics.cy"


@pytest.mark.parametrize("focal", [0.0, -1.0])
def test_focal_must_be_positive(focal):
    with pytest.raises(InvalidInput) as e:
        Intrinsics(100.0, focal, 10.0, 10.0, 64, 64)
    assert e.value.field == "intrinsics.fy"
    with pytest.raises(InvalidInput) as e:
        Intrinsics.from_lens(focal, 36.0, 24.0, 64, 64)
    assert e.value.field == "lens.focal_length_mm"


def test_intrinsics_reject_non_scalar():
    with pytest.raises(InvalidInput) as e:
        Intrinsics([100.0, 1.0], 100.0, 10.0, 10.0, 64, 64)
    assert e.value.field == "intrinsics.fx"


@pytest.mark.parametrize(
    ("width", "height", "field"),
    [(4, 64, "intrinsics.width"), (64, 5000, "intrinsics.height"), (64.0, 64, "intrinsics.width")],
)
def test_resolution_bounds(width, height, field):
    with pytest.raises(InvalidInput) as e:
        Intrinsics.from_pixels(100.0, 100.0, 10.0, 10.0, width, height)
    assert e.value.field == field


def test_custom_resolution_bounds():
    bounds = ResolutionBounds(max_width=256, max_height=256)
    Intrinsics.from_fov(60.0, 256, 256, bounds=bounds)
    with pytest.raises(InvalidInput, match="8..256"):
        Intrinsics.from_fov(60.0, 512, 256, bounds=bounds)


def test_fov_bounds():
    for fov in (0.0, 180.0, float("nan")):
        with pytest.raises(InvalidInput) as e:
            Intrinsics.from_fov(fov, 64, 64)
        assert e.value.field == "fov_deg"
    with pytest.raises(InvalidInput) as e:
        Intrinsics.from_fov(60.0, 64, 64, axis="sideways")
    assert e.value.field == "fov_axis"


def test_validate_rotation_rejects_non_rotations():
    with pytest.raises(InvalidInput) as e:
        validate_rotation(np.diag([1.0, 1.0, -1.0]), "r")  # reflection
    assert e.value.field == "r"
    with pytest.raises(InvalidInput):
        validate_rotation(2 * np.eye(3))  # scaled
    with pytest.raises(InvalidInput):
        validate_rotation(np.eye(3)[:2])  # wrong shape
    with pytest.raises(InvalidInput):
        validate_rotation(np.full((3, 3), np.nan))
    np.testing.assert_array_equal(validate_rotation(_rot_z(30)), _rot_z(30))


def test_validate_pose_bottom_row():
    pose = make_pose(_rot_z(10), [1, 2, 3])
    np.testing.assert_array_equal(validate_pose(pose), pose)
    pose[3, 0] = 1.0
    with pytest.raises(InvalidInput) as e:
        validate_pose(pose)
    assert e.value.field == "pose.bottom_row"


def test_quaternion_tolerance():
    q = np.array([0.0, 0.0, 0.0, 1.0005])  # within 1e-3: renormalised
    np.testing.assert_allclose(normalize_quaternion(q), [0, 0, 0, 1], atol=1e-15)
    with pytest.raises(InvalidInput) as e:
        normalize_quaternion([0.0, 0.0, 0.0, 1.002], "pose.quat")  # beyond 1e-3
    assert e.value.field == "pose.quat"
    with pytest.raises(InvalidInput):
        normalize_quaternion([0.0, 0.0, 0.0, 0.0])
    with pytest.raises(InvalidInput):
        normalize_quaternion([0.0, 0.0, np.nan, 1.0])


# ----- look_at and rays -----------------------------------------------------------------------
def test_look_at_axes():
    c2w = look_at([0.0, 0.0, 1.0], [5.0, 0.0, 1.0])  # looking along world +X, level
    np.testing.assert_allclose(c2w[:3, 2], [1, 0, 0], atol=1e-12)  # forward
    np.testing.assert_allclose(c2w[:3, 0], [0, -1, 0], atol=1e-12)  # right = -Y (Z up, RH)
    np.testing.assert_allclose(c2w[:3, 1], [0, 0, -1], atol=1e-12)  # down = -Z
    np.testing.assert_array_equal(c2w[:3, 3], [0, 0, 1])


def test_look_at_straight_down_and_errors():
    c2w = look_at([0.0, 0.0, 10.0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(c2w[:3, 2], [0, 0, -1], atol=1e-12)
    validate_rotation(c2w[:3, :3])
    c2w = look_at([0.0, 0.0, 0.0], [3.0, 0.0, 0.0], up=[1.0, 0.0, 0.0])  # forward along up
    np.testing.assert_allclose(c2w[:3, 2], [1, 0, 0], atol=1e-12)
    validate_rotation(c2w[:3, :3])
    with pytest.raises(InvalidInput) as e:
        look_at([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert e.value.field == "target"
    with pytest.raises(InvalidInput) as e:
        look_at([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], up=[np.nan, 0.0, 1.0])
    assert e.value.field == "up"


def test_pixel_rays_back_project_and_reproject():
    k = Intrinsics(fx=60.0, fy=55.0, cx=31.0, cy=22.5, width=64, height=48)
    c2w = look_at([1.0, -2.0, 1.5], [0.0, 3.0, 0.5])
    origin, dirs = pixel_rays(k, c2w, dtype=torch.float64)
    assert dirs.shape == (48, 64, 3)
    np.testing.assert_allclose(origin.numpy(), [1.0, -2.0, 1.5])
    depth = 3.7
    points = origin + depth * dirs  # [H, W, 3] world
    w2c = np.linalg.inv(c2w)
    cam = points.numpy() @ w2c[:3, :3].T + w2c[:3, 3]  # [H, W, 3]
    np.testing.assert_allclose(cam[..., 2], depth, atol=1e-12)
    u = k.fx * cam[..., 0] / cam[..., 2] + k.cx
    v = k.fy * cam[..., 1] / cam[..., 2] + k.cy
    rows, cols = np.mgrid[0:48, 0:64]
    np.testing.assert_allclose(u, cols, atol=1e-9)
    np.testing.assert_allclose(v, rows, atol=1e-9)


def test_principal_ray_is_optical_axis():
    k = Intrinsics(fx=50.0, fy=50.0, cx=2.0, cy=3.0, width=8, height=8)
    c2w = make_pose(_rot_z(40), [0, 0, 0])
    _, dirs = pixel_rays(k, c2w, dtype=torch.float64)
    np.testing.assert_allclose(dirs[3, 2].numpy(), c2w[:3, 2], atol=1e-12)


def test_plucker_rays():
    k = Intrinsics(fx=40.0, fy=40.0, cx=15.5, cy=11.5, width=32, height=24)
    c2w = look_at([2.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    rays = plucker_rays(k, c2w, dtype=torch.float64)
    assert rays.shape == (6, 24, 32) and rays.dtype == torch.float64
    d, m = rays[:3], rays[3:]
    np.testing.assert_allclose(d.norm(dim=0).numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose((d * m).sum(dim=0).numpy(), 0.0, atol=1e-12)  # d . m = 0
    origin = torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64)
    expected = torch.cross(origin[:, None, None].expand_as(d), d, dim=0)
    np.testing.assert_allclose(m.numpy(), expected.numpy(), atol=1e-12)
    assert plucker_rays(k, c2w).dtype == torch.float32
