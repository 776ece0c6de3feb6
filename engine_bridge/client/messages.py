"""Message builders for the client: poses in every engine's convention, lenses, rotations,
timecodes, world specs and the session's Open; and helpers that read a returned Frame (its
pixels, the camera it rendered)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.encoding import decode_frame
from latentstage.runtime.types import EncodedImage, Encoding
from latentstage.v1 import camera_pb2 as cpb
from latentstage.v1 import service_pb2 as pb

_CONVENTIONS = {"opencv": cpb.CONVENTION_OPENCV, "opengl": cpb.CONVENTION_OPENGL,
                "unreal": cpb.CONVENTION_UNREAL, "unity": cpb.CONVENTION_UNITY,
                "usd": cpb.CONVENTION_USD, "blender": cpb.CONVENTION_BLENDER}
_ENCODINGS = {"raw": pb.ENCODING_RAW_RGB8, "raw_rgb8": pb.ENCODING_RAW_RGB8,
              "raw_rgba8": pb.ENCODING_RAW_RGBA8, "raw_bgra8": pb.ENCODING_RAW_BGRA8,
              "jpeg": pb.ENCODING_JPEG}
_KINDS = {"indoor": pb.WORLD_KIND_INDOOR, "outdoor": pb.WORLD_KIND_OUTDOOR}


def convention_value(name: str | int) -> int:
    """A Convention enum value from "unreal", "unity", "opencv", ... (or the value itself)."""
    if isinstance(name, int):
        return name
    try:
        return _CONVENTIONS[name.lower()]
    except KeyError:
        raise ValueError(f"convention {name!r}: expected one of {sorted(_CONVENTIONS)}") from None


def encoding_value(name: str | int) -> int:
    if isinstance(name, int):
        return name
    try:
        return _ENCODINGS[name.lower()]
    except KeyError:
        raise ValueError(f"encoding {name!r}: expected one of {sorted(_ENCODINGS)}") from None


def lens_fov(fov_deg: float, axis: str | None = None) -> cpb.Lens:
    """A field-of-view lens; ``axis`` None means the convention's own (Unity vertical, else
    horizontal)."""
    axes = {None: cpb.FOV_AXIS_UNSPECIFIED, "horizontal": cpb.FOV_AXIS_HORIZONTAL,
            "vertical": cpb.FOV_AXIS_VERTICAL, "diagonal": cpb.FOV_AXIS_DIAGONAL}
    return cpb.Lens(fov=cpb.FieldOfView(fov_deg=fov_deg, axis=axes[axis]))


def lens_pixels(k: Intrinsics | Sequence[float], width: int = 0, height: int = 0) -> cpb.Lens:
    """Pixel intrinsics (fx, fy, cx, cy) calibrated at ``width`` x ``height`` (0 = output size)."""
    if isinstance(k, Intrinsics):
        fx, fy, cx, cy, width, height = k.fx, k.fy, k.cx, k.cy, k.width, k.height
    else:
        fx, fy, cx, cy = k
    return cpb.Lens(pixels=cpb.PixelIntrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width,
                                               height=height))


def lens_physical(focal_length_mm: float, sensor_width_mm: float, sensor_height_mm: float,
                  offset_x: float = 0.0, offset_y: float = 0.0) -> cpb.Lens:
    """A physical lens (interpreted per convention, see camera.proto PhysicalLens)."""
    return cpb.Lens(physical=cpb.PhysicalLens(
        focal_length_mm=focal_length_mm, sensor_width_mm=sensor_width_mm,
        sensor_height_mm=sensor_height_mm, offset_x=offset_x, offset_y=offset_y))


def rotation(quat=None, matrix=None, rotator=None, unity_euler=None) -> cpb.Rotation:
    """A Rotation from exactly one form: quaternion (x, y, z, w), matrix [3, 3], Unreal
    rotator (pitch, yaw, roll) or Unity Euler (x, y, z), degrees."""
    given = [v is not None for v in (quat, matrix, rotator, unity_euler)]
    if sum(given) != 1:
        raise ValueError("give exactly one of quat, matrix, rotator, unity_euler")
    if quat is not None:
        x, y, z, w = (float(v) for v in quat)
        return cpb.Rotation(quaternion=cpb.Quaternion(x=x, y=y, z=z, w=w))
    if matrix is not None:
        return cpb.Rotation(matrix=cpb.Matrix3(m=np.asarray(matrix, float).reshape(9).tolist()))
    if rotator is not None:
        p, y, r = (float(v) for v in rotator)
        return cpb.Rotation(rotator=cpb.Rotator(pitch_deg=p, yaw_deg=y, roll_deg=r))
    x, y, z = (float(v) for v in unity_euler)
    return cpb.Rotation(unity_euler=cpb.UnityEuler(x_deg=x, y_deg=y, z_deg=z))


def timecode(text: str, rate: tuple[int, int] | int = 25) -> cpb.Timecode:
    """A Timecode message from "HH:MM:SS:FF" (or ";FF" for drop frame) at ``rate``."""
    hh, mm, ss, ff = text.replace(";", ":").split(":")
    num, den = (rate, 1) if isinstance(rate, int) else rate
    return cpb.Timecode(hours=int(hh), minutes=int(mm), seconds=int(ss), frames=int(ff),
                        rate=cpb.Rational(num=num, den=den), drop_frame=";" in text)


def pose(frame_id: int, position, rot: cpb.Rotation, lens: cpb.Lens | None = None,
         capture_time_ns: int | None = None, tc: cpb.Timecode | None = None,
         dynamic_mask: np.ndarray | None = None) -> pb.Pose:
    """A Pose in the session's convention. ``capture_time_ns`` defaults to now (monotonic)."""
    x, y, z = (float(v) for v in position)
    msg = pb.Pose(frame_id=frame_id, position=cpb.Vec3(x=x, y=y, z=z), rotation=rot,
                  capture_time_ns=time.monotonic_ns() if capture_time_ns is None
                  else capture_time_ns)
    if lens is not None:
        msg.lens.CopyFrom(lens)
    if tc is not None:
        msg.timecode.CopyFrom(tc)
    if dynamic_mask is not None:
        m = np.asarray(dynamic_mask).astype(np.uint8)
        msg.dynamic_mask.CopyFrom(cpb.DynamicMask(width=m.shape[1], height=m.shape[0],
                                                  data=m.tobytes()))
    return msg


def unreal_pose(frame_id: int, location_cm, rotator=None, quat=None, fov_deg: float | None = None,
                **kwargs) -> pb.Pose:
    """An Unreal camera as it is: location in cm, FRotator (pitch, yaw, roll) or FQuat, and
    ``FieldOfView`` (horizontal degrees)."""
    lens = kwargs.pop("lens", None)
    lens = lens_fov(fov_deg, "horizontal") if fov_deg is not None else lens
    return pose(frame_id, location_cm, rotation(quat=quat, rotator=rotator), lens, **kwargs)


def unity_pose(frame_id: int, position_m, euler=None, quat=None, fov_deg: float | None = None,
               **kwargs) -> pb.Pose:
    """A Unity camera as it is: position in metres, ``Quaternion.Euler`` angles or a Quaternion,
    and ``fieldOfView`` (vertical degrees)."""
    lens = kwargs.pop("lens", None)
    lens = lens_fov(fov_deg, "vertical") if fov_deg is not None else lens
    return pose(frame_id, position_m, rotation(quat=quat, unity_euler=euler), lens, **kwargs)


def opencv_pose(frame_id: int, c2w, intrinsics: Intrinsics | None = None, **kwargs) -> pb.Pose:
    """A canonical camera: camera-to-world [4, 4] (OpenCV axes, Z-up metres) and intrinsics."""
    m = np.asarray(c2w, float)
    lens = kwargs.pop("lens", None)
    lens = lens_pixels(intrinsics) if intrinsics is not None else lens
    return pose(frame_id, m[:3, 3], rotation(matrix=m[:3, :3]), lens, **kwargs)


def procedural_world(seed: int, kind: str = "outdoor", name: str = "", keep: bool = False,
                     world_id: str = "") -> pb.WorldSpec:
    """A procedural world; ``world_id`` chooses its id (placement behind a proxy)."""
    return pb.WorldSpec(procedural=pb.ProceduralWorld(seed=seed, kind=_KINDS[kind]), name=name,
                        keep=keep, world_id=world_id)


def empty_world(name: str = "", keep: bool = False, world_id: str = "") -> pb.WorldSpec:
    return pb.WorldSpec(empty=pb.EmptyWorld(), name=name, keep=keep, world_id=world_id)


def snapshot_world(name: str | None = None, data: bytes | None = None, keep: bool = False
                   ) -> pb.WorldSpec:
    ref = pb.SnapshotRef(name=name) if name is not None else pb.SnapshotRef(data=data)
    return pb.WorldSpec(snapshot=ref, keep=keep)


def seed_image_world(image: bytes | np.ndarray | str | Path, depth: np.ndarray | None = None,
                     keep: bool = False, **camera) -> pb.WorldSpec:
    """A world from one image (PNG/JPEG bytes, a file, or [H, W, 3] uint8) and optional depth
    [H, W] metres. ``camera`` may hold position, rotation, lens, convention (SeedImage)."""
    if isinstance(image, str | Path):
        image = Path(image).read_bytes()
    elif isinstance(image, np.ndarray):
        import simplejpeg

        image = simplejpeg.encode_jpeg(np.ascontiguousarray(image), quality=95, colorspace="RGB")
    msg = pb.SeedImage(image=image, **camera)
    if depth is not None:
        d = np.ascontiguousarray(depth, "<f4")
        msg.depth.CopyFrom(pb.Depth(width=d.shape[1], height=d.shape[0], data=d.tobytes()))
    return pb.WorldSpec(seed_image=msg, keep=keep)


def open_message(world: pb.WorldSpec | str | None, size: tuple[int, int], convention: str | int,
                 encoding: str | int = "jpeg", *, jpeg_quality: int = 90, target_fps: float = 0.0,
                 steps: int = 0, seed: int = 0, lens: cpb.Lens | None = None,
                 lockstep: bool = False, prediction: bool | None = None,
                 client_name: str = "latentstage-python", bottom_up: bool = False,
                 tracked_camera: str = "", stage: cpb.Stage | None = None) -> pb.Open:
    """An Open: ``world`` is a WorldSpec (new world) or a world id (attach). ``bottom_up``
    asks for raw rows bottom to top (Unity's texture origin). ``tracked_camera`` watches a
    FreeD-tracked camera instead (``world`` None: the camera's world and lens are used, and
    the session sends no poses; see :func:`watch_message`). ``stage`` holds the settings of
    the convention (metres per unit, up axis) for opengl, blender and usd
    (``CameraPath.stage()``)."""
    msg = pb.Open(size=pb.Size(width=size[0], height=size[1]),
                  encoding=encoding_value(encoding), jpeg_quality=jpeg_quality,
                  target_fps=target_fps, sampler_steps=steps, seed=seed,
                  convention=convention_value(convention), client_name=client_name,
                  pacing=pb.PACING_LOCKSTEP if lockstep else pb.PACING_REALTIME,
                  bottom_up=bottom_up, tracked_camera=tracked_camera)
    if prediction is not None:
        msg.prediction = pb.PREDICTION_ON if prediction else pb.PREDICTION_OFF
    if isinstance(world, str):
        msg.world_id = world
    elif world is not None:
        msg.new_world.CopyFrom(world)
    if lens is not None:
        msg.lens.CopyFrom(lens)
    if stage is not None:
        msg.stage.CopyFrom(stage)
    return msg


def watch_message(camera: str, size: tuple[int, int], encoding: str | int = "jpeg",
                  **kwargs) -> pb.Open:
    """An Open that watches tracked camera ``camera`` (ServerInfo.tracked_cameras): frames
    come for the tracker's poses (REALTIME, latest pose wins); send no poses."""
    return open_message(None, size, kwargs.pop("convention", "opencv"), encoding,
                        tracked_camera=camera, **kwargs)


_ENCODING_NAMES = {pb.ENCODING_RAW_RGB8: Encoding.RAW_RGB8, pb.ENCODING_RAW_RGBA8:
                   Encoding.RAW_RGBA8, pb.ENCODING_JPEG: Encoding.JPEG,
                   pb.ENCODING_RAW_BGRA8: Encoding.RAW_BGRA8}


def frame_pixels(frame: pb.Frame) -> np.ndarray:
    """A frame's pixels as [H, W, 3] uint8 RGB, top row first (raw with stride and any row
    order or channel order, or JPEG decoded)."""
    img = frame.image
    return decode_frame(EncodedImage(_ENCODING_NAMES[img.encoding], img.width, img.height,
                                     img.stride, img.data, img.bottom_up))


def frame_c2w(frame: pb.Frame) -> np.ndarray:
    """The canonical camera-to-world [4, 4] the server rendered."""
    return np.asarray(frame.rendered_c2w.m, np.float64).reshape(4, 4)
