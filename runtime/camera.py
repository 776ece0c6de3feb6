"""The canonical camera: the one form used inside LatentStage (DESIGN.md, "Conventions").

- World frame: right-handed, Z up, metres.
- Pose: camera-to-world 4x4 (``c2w``). Camera axes follow OpenCV: x right, y down, z forward.
- Pixels: OpenCV, so the centre of pixel (col j, row i) is at (j, i). An image of width W
  spans x in [-0.5, W - 0.5].

Torch helpers on cameras (rays, Plücker coordinates) live in :mod:`.rays`, so that
this module imports without torch (the gRPC layer uses it).

Every other convention (Unreal, Unity, OpenGL/Blender, USD, FreeD) is converted at the edge
by :mod:`latentstage.runtime.conventions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from latentstage.runtime.errors import InvalidInput, require_finite, require_shape

#: Tolerance on ``R^T R - I`` (max abs) and on ``det R - 1`` for a matrix to count as a rotation.
ROTATION_TOLERANCE = 1e-4
#: A quaternion within this distance of unit length is renormalised; beyond it, rejected.
QUATERNION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ResolutionBounds:
    """Inclusive bounds on an image size in pixels, configured per server or tool."""

    min_width: int = 8  # pixels
    min_height: int = 8  # pixels
    max_width: int = 7680  # pixels
    max_height: int = 4320  # pixels

    def check(self, width: int, height: int, field: str = "size") -> None:
        """Raise :class:`InvalidInput` unless ``width`` x ``height`` lies within the bounds."""
        for name, value, lo, hi in (
            ("width", width, self.min_width, self.max_width),
            ("height", height, self.min_height, self.max_height),
        ):
            if not isinstance(value, int | np.integer) or isinstance(value, bool):
                raise InvalidInput(f"{field}.{name}", value, "an integer number of pixels")
            if not lo <= value <= hi:
                raise InvalidInput(f"{field}.{name}", value, f"{lo}..{hi} pixels")


DEFAULT_BOUNDS = ResolutionBounds()


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels, OpenCV pixel centres. Square or non-square pixels."""

    fx: float  # focal length along x, pixels
    fy: float  # focal length along y, pixels
    cx: float  # principal point x, pixels (centre of column j is x = j)
    cy: float  # principal point y, pixels (centre of row i is y = i)
    width: int  # image width, pixels
    height: int  # image height, pixels

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            value = getattr(self, name)
            if require_finite(f"intrinsics.{name}", value).ndim != 0:
                raise InvalidInput(f"intrinsics.{name}", value, "a number (pixels)")
            object.__setattr__(self, name, float(value))
        for name in ("fx", "fy"):
            if getattr(self, name) <= 0:
                raise InvalidInput(f"intrinsics.{name}", getattr(self, name), "> 0 pixels")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InvalidInput(f"intrinsics.{name}", value, "a positive integer (pixels)")
            object.__setattr__(self, name, int(value))

    # ----- constructors at the edges -------------------------------------------------------
    @classmethod
    def from_pixels(
        cls,
        fx: float,
        fy: float,
        cx: float,
        cy: float,
        width: int,
        height: int,
        bounds: ResolutionBounds = DEFAULT_BOUNDS,
    ) -> Intrinsics:
        """Intrinsics from pixel values, with the resolution checked against ``bounds``."""
        bounds.check(width, height, "intrinsics")
        return cls(fx, fy, cx, cy, width, height)

    @classmethod
    def from_lens(
        cls,
        focal_length_mm: float,
        sensor_width_mm: float,
        sensor_height_mm: float,
        width: int,
        height: int,
        sensor_offset_x_mm: float = 0.0,
        sensor_offset_y_mm: float = 0.0,
        bounds: ResolutionBounds = DEFAULT_BOUNDS,
    ) -> Intrinsics:
        """Intrinsics from a physical lens and sensor (filmback), all lengths in millimetres.

        The image fills the sensor. A positive offset moves the principal point right (x) or
        down (y) on the image by ``offset / sensor_size * image_size`` pixels.
        """
        bounds.check(width, height, "intrinsics")
        for name, value in (
            ("focal_length_mm", focal_length_mm),
            ("sensor_width_mm", sensor_width_mm),
            ("sensor_height_mm", sensor_height_mm),
        ):
            require_finite(f"lens.{name}", value)
            if value <= 0:
                raise InvalidInput(f"lens.{name}", value, "> 0 millimetres")
        require_finite("lens.sensor_offset_x_mm", sensor_offset_x_mm)
        require_finite("lens.sensor_offset_y_mm", sensor_offset_y_mm)
        px_per_mm_x = width / sensor_width_mm
        px_per_mm_y = height / sensor_height_mm
        return cls(
            fx=focal_length_mm * px_per_mm_x,
            fy=focal_length_mm * px_per_mm_y,
            cx=(width - 1) / 2 + sensor_offset_x_mm * px_per_mm_x,
            cy=(height - 1) / 2 + sensor_offset_y_mm * px_per_mm_y,
            width=width,
            height=height,
        )

    @classmethod
    def from_fov(
        cls,
        fov_deg: float,
        width: int,
        height: int,
        axis: Literal["horizontal", "vertical", "diagonal"] = "horizontal",
        bounds: ResolutionBounds = DEFAULT_BOUNDS,
    ) -> Intrinsics:
        """Square-pixel intrinsics from a full field of view in degrees along ``axis``.

        Unreal's ``FieldOfView`` is horizontal; Unity's ``fieldOfView`` is vertical.
        """
        bounds.check(width, height, "intrinsics")
        require_finite("fov_deg", fov_deg)
        if not 0 < fov_deg < 180:
            raise InvalidInput("fov_deg", fov_deg, "a field of view in (0, 180) degrees")
        extent = {
            "horizontal": width,
            "vertical": height,
            "diagonal": math.hypot(width, height),
        }.get(axis)
        if extent is None:
            raise InvalidInput("fov_axis", axis, "'horizontal', 'vertical' or 'diagonal'")
        f = (extent / 2) / math.tan(math.radians(fov_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height)

    # ----- derived forms --------------------------------------------------------------------
    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same lens on a resampled grid of ``width`` x ``height`` pixels.

        Uses DESIGN.md's formula per axis: ``f' = f * s`` and ``c' = (c + 0.5) * s - 0.5`` with
        ``s = new_size / old_size`` (``s = 1/f`` for a latent grid of stride f).
        """
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            width=width,
            height=height,
        )

    def latent(self, stride: int) -> Intrinsics:
        """Intrinsics of the latent grid of ``stride`` (the image size must divide by it)."""
        if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
            raise InvalidInput("stride", stride, "a positive integer (pixels per latent pixel)")
        if self.width % stride or self.height % stride:
            raise InvalidInput(
                "intrinsics.size",
                (self.width, self.height),
                f"width and height divisible by the latent stride {stride}",
            )
        return self.scaled(self.width // stride, self.height // stride)

    def padded(self, stride: int) -> tuple[Intrinsics, int, int]:
        """The same camera on the next grid whose sides divide by ``stride``, centred.

        Returns ``(intrinsics, top, left)``: the image grows by whole pixels split evenly (the
        odd one at the bottom/right) and the principal point moves by ``left`` and ``top``
        pixels, so cropping rows ``top..top+height`` and columns ``left..left+width`` of a
        render at the padded size gives exactly this camera's image.
        """
        width = -(-self.width // stride) * stride
        height = -(-self.height // stride) * stride
        left, top = (width - self.width) // 2, (height - self.height) // 2
        k = Intrinsics(self.fx, self.fy, self.cx + left, self.cy + top, width, height)
        return k, top, left

    def cropped(self, width: int, height: int) -> Intrinsics:
        """Inverse of :meth:`padded`: the centre ``width`` x ``height`` pixels of this image."""
        left, top = (self.width - width) // 2, (self.height - height) // 2
        return Intrinsics(self.fx, self.fy, self.cx - left, self.cy - top, width, height)

    def matrix(self) -> np.ndarray:
        """The 3x3 calibration matrix K (float64)."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], np.float64)

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view in degrees (about the principal point's centred value)."""
        return math.degrees(2 * math.atan(self.width / (2 * self.fx)))

    @property
    def vfov_deg(self) -> float:
        """Vertical field of view in degrees."""
        return math.degrees(2 * math.atan(self.height / (2 * self.fy)))


def normalize_quaternion(q, field: str = "rotation") -> np.ndarray:
    """Return a unit quaternion, renormalising within :data:`QUATERNION_TOLERANCE`.

    The component order is whatever the caller uses (the check is on length only).
    """
    arr = require_shape(field, q, (4,))
    norm = float(np.linalg.norm(arr))
    if abs(norm - 1.0) > QUATERNION_TOLERANCE:
        raise InvalidInput(field, q, f"a unit quaternion (|q| = {norm:.6f}, allowed 1 ± 1e-3)")
    return arr / norm


def validate_rotation(rotation, field: str = "rotation") -> np.ndarray:
    """Return ``rotation`` as a float64 3x3 proper rotation, or raise :class:`InvalidInput`."""
    r = require_shape(field, rotation, (3, 3))
    err = float(np.abs(r.T @ r - np.eye(3)).max())
    det = float(np.linalg.det(r))
    if err > ROTATION_TOLERANCE or abs(det - 1.0) > ROTATION_TOLERANCE:
        raise InvalidInput(
            field,
            rotation,
            "a rotation matrix (orthonormal with det +1; "
            f"|R^T R - I| = {err:.2g}, det = {det:.4f})",
        )
    return r


def validate_pose(c2w, field: str = "pose") -> np.ndarray:
    """Return a camera-to-world 4x4 float64 pose with a proper rotation and bottom row 0 0 0 1."""
    m = require_shape(field, c2w, (4, 4))
    validate_rotation(m[:3, :3], f"{field}.rotation")
    if not np.allclose(m[3], [0, 0, 0, 1], atol=1e-9):
        raise InvalidInput(f"{field}.bottom_row", m[3], "[0, 0, 0, 1]")
    return m.copy()


def make_pose(rotation, position) -> np.ndarray:
    """Camera-to-world 4x4 from a 3x3 rotation (OpenCV camera axes in world) and a position."""
    m = np.eye(4)
    m[:3, :3] = validate_rotation(rotation, "pose.rotation")
    m[:3, 3] = require_shape("pose.position", position, (3,))
    return m


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world pose at ``eye`` looking at ``target`` (world metres, Z up).

    The camera's z axis points at the target, its y axis points down (away from ``up``).
    """
    eye = require_shape("eye", eye, (3,))
    target = require_shape("target", target, (3,))
    up = require_shape("up", up, (3,))
    forward = target - eye
    if np.linalg.norm(forward) < 1e-9:
        raise InvalidInput("target", target, "a point different from eye")
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:  # looking straight along up: pick any right vector
        right = np.cross(forward, np.eye(3)[np.argmin(np.abs(forward))])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return make_pose(np.stack([right, down, forward], axis=1), eye)


@dataclass(frozen=True)
class Camera:
    """A canonical camera: intrinsics plus a camera-to-world pose (OpenCV axes, Z-up metres)."""

    intrinsics: Intrinsics
    c2w: np.ndarray  # [4, 4] float64, camera-to-world

    def __post_init__(self) -> None:
        object.__setattr__(self, "c2w", validate_pose(self.c2w, "camera.c2w"))

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world metres, [3]."""
        return self.c2w[:3, 3].copy()

    def latent(self, stride: int) -> Camera:
        """The same camera on its latent grid of ``stride``."""
        return replace(self, intrinsics=self.intrinsics.latent(stride))
