"""Python client for a LatentStage server: asyncio, a synchronous wrapper, and pose helpers.

::

    from latentstage.engine_bridge.client import SyncClient, open_message, unreal_pose

    with SyncClient("127.0.0.1:50051") as client:
        with client.session(open_message(world=procedural_world(7, "outdoor"),
                                         size=(256, 256), convention="unreal",
                                         lockstep=True)) as session:
            frame = session.render(unreal_pose(0, (0, 0, 170), rotator=(0, 90, 0), fov_deg=90))
            rgb = frame_pixels(frame)  # [H, W, 3] uint8

Poses are sent in the engine's own convention (Unreal centimetres and FRotator, Unity metres
and Quaternion.Euler, ...); the server converts them. Frames come back with their echoed
frame_id, capture time and timecode, the canonical pose actually rendered, and a timing
breakdown.
"""

from __future__ import annotations

import asyncio
import collections
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.encoding import decode_frame
from latentstage.runtime.types import EncodedImage, Encoding
from latentstage.v1 import camera_pb2 as cpb
from latentstage.v1 import service_pb2 as pb
from latentstage.v1 import service_pb2_grpc as pb_grpc

#: Client message limits: a client trusts its server, so it accepts any frame up to 256 MiB.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
#: Request header naming the world a call concerns; a proxy routes by it (docs/scale-out.md).
WORLD_HEADER = "x-latentstage-world"  # the same as latentstage.runtime.routing.WORLD_HEADER
_WORLD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as runtime.translate checks

_CONVENTIONS = {"opencv": cpb.CONVENTION_OPENCV, "opengl": cpb.CONVENTION_OPENGL,
                "unreal": cpb.CONVENTION_UNREAL, "unity": cpb.CONVENTION_UNITY,
                "usd": cpb.CONVENTION_USD, "blender": cpb.CONVENTION_BLENDER}
_ENCODINGS = {"raw": pb.ENCODING_RAW_RGB8, "raw_rgb8": pb.ENCODING_RAW_RGB8,
              "raw_rgba8": pb.ENCODING_RAW_RGBA8, "raw_bgra8": pb.ENCODING_RAW_BGRA8,
              "jpeg": pb.ENCODING_JPEG}
_KINDS = {"indoor": pb.WORLD_KIND_INDOOR, "outdoor": pb.WORLD_KIND_OUTDOOR}


class SessionClosed(RuntimeError):
    """The server ended the session stream (see :attr:`AsyncSession.final_event`)."""


# ----- message helpers -------------------------------------------------------------------------
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


# ----- asyncio client --------------------------------------------------------------------------
class AsyncClient:
    """An asyncio client. ``token`` adds ``authorization: Bearer <token>`` to every call;
    ``root_certificates`` (PEM bytes) or ``tls=True`` (system roots) selects TLS."""

    def __init__(self, target: str, *, token: str | None = None,
                 root_certificates: bytes | None = None, tls: bool = False,
                 server_name: str | None = None, options: Sequence[tuple[str, object]] = ()):
        opts = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), *options]
        if server_name:
            opts.append(("grpc.ssl_target_name_override", server_name))
        if root_certificates is not None or tls:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self.channel = grpc.aio.secure_channel(target, creds, options=opts)
        else:
            self.channel = grpc.aio.insecure_channel(target, options=opts)
        self.stub = pb_grpc.LatentStageServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def world_metadata(self, world_id: str) -> tuple[tuple[str, str], ...]:
        """The call's metadata with the world header (a proxy routes the call by it). An id
        that is not a valid world id is left out of the header: the server refuses it from the
        message, naming the field (a megabyte of header would fail inside gRPC instead)."""
        if world_id and _WORLD_ID.fullmatch(world_id):
            return self.metadata + ((WORLD_HEADER, world_id),)
        return self.metadata

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def server_info(self, timeout: float | None = 30) -> pb.ServerInfo:
        reply = await self.stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=self.metadata,
                                              timeout=timeout)
        return reply.info

    async def create_world(self, spec: pb.WorldSpec, timeout: float | None = 120
                           ) -> pb.WorldInfo:
        reply = await self.stub.CreateWorld(pb.CreateWorldRequest(spec=spec),
                                            metadata=self.world_metadata(spec.world_id),
                                            timeout=timeout)
        return reply.world

    async def save_world(self, world_id: str, name: str = "", return_data: bool = False,
                         timeout: float | None = 120, overwrite: bool = False
                         ) -> pb.SaveWorldResponse:
        """Save a world as snapshot ``name``; an existing name is replaced only with
        ``overwrite`` (else FAILED_PRECONDITION)."""
        return await self.stub.SaveWorld(
            pb.SaveWorldRequest(world_id=world_id, name=name, return_data=return_data,
                                overwrite=overwrite),
            metadata=self.world_metadata(world_id), timeout=timeout)

    async def load_world(self, name: str | None = None, data: bytes | None = None,
                         label: str = "", timeout: float | None = 120, world_id: str = ""
                         ) -> pb.WorldInfo:
        ref = pb.SnapshotRef(name=name) if name is not None else pb.SnapshotRef(data=data)
        reply = await self.stub.LoadWorld(
            pb.LoadWorldRequest(snapshot=ref, name=label, world_id=world_id),
            metadata=self.world_metadata(world_id), timeout=timeout)
        return reply.world

    async def delete_world(self, world_id: str, force: bool = False,
                           timeout: float | None = 30) -> None:
        await self.stub.DeleteWorld(pb.DeleteWorldRequest(world_id=world_id, force=force),
                                    metadata=self.world_metadata(world_id), timeout=timeout)

    async def list_worlds(self, timeout: float | None = 30) -> pb.ListWorldsResponse:
        return await self.stub.ListWorlds(pb.ListWorldsRequest(), metadata=self.metadata,
                                          timeout=timeout)

    def session(self, open_msg: pb.Open, reconnect: bool = True) -> AsyncSession:
        """A session stream; ``async with`` opens it (and closes it on exit). With
        ``reconnect`` a session whose worker is lost re-opens its world (see AsyncSession)."""
        return AsyncSession(self, open_msg, reconnect)


@dataclass
class Recovery:
    """One reconnection of a session whose stream failed (its worker was lost)."""

    error: str  # what ended the old stream: status code name and details
    lost_at: float  # time.monotonic() when the old stream failed
    reopened_at: float  # time.monotonic() when the new stream's SESSION_OPENED arrived
    attempts: int  # Opens sent until one succeeded
    server_before: str  # Frame.server_id of the last frame before
    writes_seen: int  # the world's write count in the last frame before (MemoryStats.writes)
    restored_writes: int | None = None  # write count of the snapshot restored (WORLD_RESTORED)
    first_frame_at: float | None = None  # time.monotonic() of the first frame after
    server_after: str = ""  # Frame.server_id of that frame

    @property
    def writes_lost(self) -> int | None:
        """Writes the client saw that the restored world lacks (None: not restored)."""
        if self.restored_writes is None:
            return None
        return max(0, self.writes_seen - self.restored_writes)


def worker_lost(exc: grpc.aio.AioRpcError) -> bool:
    """Whether a failed call means its worker (or the connection to it) was lost: UNAVAILABLE,
    or a stream reset by a proxy whose upstream died mid-stream (nginx resets it with HTTP/2
    INTERNAL_ERROR, which gRPC reports as INTERNAL "Stream removed ... RST_STREAM"; a server's
    own INTERNAL status never looks like that)."""
    if exc.code() == grpc.StatusCode.UNAVAILABLE:
        return True
    details = exc.details() or ""
    return exc.code() == grpc.StatusCode.INTERNAL and "RST_STREAM" in details


#: Control fields that stay in force, replayed on the new stream after a reconnection.
_STICKY = ("sampler_steps", "target_fps", "encoding", "jpeg_quality", "pause_writes")


class AsyncSession:
    """One Session stream. Events and errors met while waiting for frames are kept in
    :attr:`events` and :attr:`errors`.

    With ``reconnect`` (the default) a stream whose worker was lost (:func:`worker_lost`), or,
    with ``reconnect_on_shutdown``, one that ends with EVENT_KIND_SERVER_SHUTTING_DOWN (a
    worker stopped behind a proxy), is opened again on the same world id (a proxy routes it
    to the world's worker, which restores the world from the shared snapshot store if the old
    worker was lost), with backoff from ``backoff_s`` doubling up to 2 s, for at most
    ``reconnect_timeout_s``; sticky Control settings are sent again. Poses sent meanwhile are
    lost (counted in :attr:`poses_lost`); :meth:`render` sends its pose again. Each
    reconnection is recorded in :attr:`recoveries` (time, writes lost).
    """

    def __init__(self, client: AsyncClient, open_msg: pb.Open, reconnect: bool = True,
                 backoff_s: float = 0.05, reconnect_timeout_s: float = 60.0,
                 reconnect_on_shutdown: bool = False):
        self.client, self.open_msg = client, open_msg
        self.call = None
        self.session_id = self.world_id = ""
        self.settings: pb.SessionSettings | None = None
        self.events: list[pb.Event] = []
        self.errors: list[pb.Error] = []
        self.final_event: pb.Event | None = None
        self.reconnect = reconnect
        self.reconnect_on_shutdown = reconnect_on_shutdown
        self.backoff_s, self.reconnect_timeout_s = backoff_s, reconnect_timeout_s
        self.recoveries: list[Recovery] = []
        self.poses_lost = 0  # poses that could not be sent while the stream was down
        self.resent = 0  # poses render() sent again after a reconnection (frames lost)
        self.server_id = ""  # Frame.server_id of the last frame
        self.last_writes = 0  # MemoryStats.writes of the last frame
        self._sticky: dict = {}  # Control fields in force

    async def __aenter__(self) -> AsyncSession:
        await self.open()
        return self

    async def __aexit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            await self.close()
        else:
            self.cancel()

    def _world_of(self, msg: pb.Open) -> str:
        return msg.world_id or (msg.new_world.world_id if msg.HasField("new_world") else "")

    async def _start(self, open_msg: pb.Open) -> pb.Event:
        call = self.client.stub.Session(
            metadata=self.client.world_metadata(self._world_of(open_msg)))
        if self.call is None:
            self.call = call  # a reconnection swaps calls only once the new one is open
        # The server answers with its headers at once: a call refused before it reads Open
        # (UNAUTHENTICATED) then fails on the read below with its real status, instead of a
        # write racing the refusal.
        await call.initial_metadata()
        try:
            await call.write(pb.SessionRequest(open=open_msg))
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass  # the read below raises the status
        msg = await call.read()
        if msg is grpc.aio.EOF or msg.WhichOneof("kind") != "event":
            raise SessionClosed(f"expected EVENT_KIND_SESSION_OPENED, got {msg}")
        self.call = call
        self.session_id, self.world_id = msg.event.session_id, msg.event.world_id
        self.settings = msg.event.settings
        return msg.event

    async def open(self) -> pb.Event:
        """Send Open and wait for EVENT_KIND_SESSION_OPENED (raises grpc.aio.AioRpcError on
        refusal)."""
        return await self._start(self.open_msg)

    async def _reopen(self, error: str) -> pb.SessionResponse:
        """Open the same world again (backoff); returns the new SESSION_OPENED."""
        lost = time.monotonic()
        msg = pb.Open()
        msg.CopyFrom(self.open_msg)
        msg.world_id = self.world_id  # attach (the oneof drops new_world)
        delay, attempts = self.backoff_s, 0
        while True:
            attempts += 1
            try:
                event = await self._start(msg)
                break
            except grpc.aio.AioRpcError as exc:
                if (exc.code() != grpc.StatusCode.UNAVAILABLE
                        or time.monotonic() - lost > self.reconnect_timeout_s):
                    raise
            await asyncio.sleep(delay)
            delay = min(2 * delay, 2.0)
        self.recoveries.append(Recovery(error, lost, time.monotonic(), attempts,
                                        self.server_id, self.last_writes))
        if self._sticky:
            await self.call.write(pb.SessionRequest(control=pb.Control(**self._sticky)))
        return pb.SessionResponse(event=event)

    async def send(self, pose_msg: pb.Pose) -> None:
        try:
            await self.call.write(pb.SessionRequest(pose=pose_msg))
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            if not self.reconnect:
                raise
            self.poses_lost += 1  # the reader reconnects; this pose is lost

    async def control(self, **fields) -> None:
        """Send a Control (fields of latentstage.v1.Control, e.g. target_fps=24)."""
        snapshot = fields.pop("snapshot", None)
        self._sticky.update({k: v for k, v in fields.items() if k in _STICKY})
        msg = pb.Control(**fields)
        if snapshot is not None:
            msg.snapshot.name = snapshot
        await self.call.write(pb.SessionRequest(control=msg))

    async def recv(self) -> pb.SessionResponse | None:
        """The next server message, or None at the end of the stream. A reconnection
        (see the class) returns the new stream's SESSION_OPENED event."""
        try:
            msg = await self.call.read()
        except grpc.aio.AioRpcError as exc:
            if not (self.reconnect and self.session_id and worker_lost(exc)):
                raise
            return await self._reopen(f"{exc.code().name}: {exc.details()}")
        if msg is grpc.aio.EOF:
            final = self.final_event
            if (self.reconnect and self.reconnect_on_shutdown and final is not None
                    and final.kind == pb.EVENT_KIND_SERVER_SHUTTING_DOWN):
                self.final_event = None
                return await self._reopen("EVENT_KIND_SERVER_SHUTTING_DOWN")
            return None
        self._note(msg)
        return msg

    def _note(self, msg: pb.SessionResponse) -> None:
        """Track the worker, the world's writes and reconnection outcomes."""
        kind = msg.WhichOneof("kind")
        if kind == "frame":
            self.server_id, self.last_writes = msg.frame.server_id, msg.frame.memory.writes
            if self.recoveries and self.recoveries[-1].first_frame_at is None:
                self.recoveries[-1].first_frame_at = time.monotonic()
                self.recoveries[-1].server_after = msg.frame.server_id
        elif kind == "event":
            if msg.event.kind == pb.EVENT_KIND_WORLD_RESTORED and self.recoveries:
                self.recoveries[-1].restored_writes = msg.event.count
            if msg.event.kind == pb.EVENT_KIND_SERVER_SHUTTING_DOWN:
                self.final_event = msg.event

    async def next_result(self, reopened: bool = False) -> pb.Frame | pb.Error | None:
        """The next frame or error (errors are also stored); events on the way are stored.
        Raises SessionClosed at the end of the stream. With ``reopened``, returns None when
        the session reconnected (its pending poses are lost)."""
        while True:
            msg = await self.recv()
            if msg is None:
                raise SessionClosed(f"the stream ended: {self.final_event}")
            kind = msg.WhichOneof("kind")
            if kind == "frame":
                return msg.frame
            if kind == "event":
                self.events.append(msg.event)
                if msg.event.kind in (pb.EVENT_KIND_SESSION_CLOSED,
                                      pb.EVENT_KIND_SERVER_SHUTTING_DOWN):
                    self.final_event = msg.event
                if reopened and msg.event.kind == pb.EVENT_KIND_SESSION_OPENED:
                    return None
            else:
                self.errors.append(msg.error)
                return msg.error

    async def next_frame(self) -> pb.Frame:
        """The next frame; events and errors on the way are stored. Raises SessionClosed."""
        while True:
            result = await self.next_result()
            if isinstance(result, pb.Frame):
                return result

    async def render(self, pose_msg: pb.Pose) -> pb.Frame:
        """Send a pose and wait for its frame (LOCKSTEP sessions); after a reconnection the
        pose is sent again."""
        await self.send(pose_msg)
        while True:
            result = await self.next_result(reopened=True)
            if result is None:
                self.resent += 1
                await self.send(pose_msg)
            elif isinstance(result, pb.Frame) and result.frame_id == pose_msg.frame_id:
                return result

    async def close(self) -> list[pb.SessionResponse]:
        """Send Close and read to the end; returns the messages that were still coming."""
        rest = []
        self.reconnect = False
        try:
            await self.call.write(pb.SessionRequest(close=pb.Close()))
            await self.call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass
        while (msg := await self.recv()) is not None:
            rest.append(msg)
            if msg.WhichOneof("kind") == "event" and msg.event.kind in (
                    pb.EVENT_KIND_SESSION_CLOSED, pb.EVENT_KIND_SERVER_SHUTTING_DOWN):
                self.final_event = msg.event
        return rest

    def cancel(self) -> None:
        """Drop the stream at once (the server frees the session)."""
        self.reconnect = False
        if self.call is not None:
            self.call.cancel()


# ----- synchronous wrapper ---------------------------------------------------------------------
class SyncClient:
    """A blocking client: an :class:`AsyncClient` driven on a private event-loop thread."""

    def __init__(self, target: str, **kwargs):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="latentstage-client")
        self._thread.start()

        async def make() -> AsyncClient:
            return AsyncClient(target, **kwargs)

        self.aio: AsyncClient = self._run(make())

    def _run(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._run(self.aio.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def server_info(self) -> pb.ServerInfo:
        return self._run(self.aio.server_info())

    def create_world(self, spec: pb.WorldSpec) -> pb.WorldInfo:
        return self._run(self.aio.create_world(spec))

    def save_world(self, world_id: str, name: str = "", return_data: bool = False,
                   overwrite: bool = False):
        return self._run(self.aio.save_world(world_id, name, return_data, overwrite=overwrite))

    def load_world(self, name: str | None = None, data: bytes | None = None, label: str = "",
                   world_id: str = ""):
        return self._run(self.aio.load_world(name, data, label, world_id=world_id))

    def delete_world(self, world_id: str, force: bool = False) -> None:
        self._run(self.aio.delete_world(world_id, force))

    def list_worlds(self) -> pb.ListWorldsResponse:
        return self._run(self.aio.list_worlds())

    def session(self, open_msg: pb.Open, reconnect: bool = True) -> SyncSession:
        return SyncSession(self, self.aio.session(open_msg, reconnect))


class _Inbox:
    """Messages a session's reader (on the client loop) hands to a caller on another thread.

    One reader owns the stream, so a caller that gives up waiting never abandons a read: what
    arrives later waits here for the next call. At most ``capacity`` messages wait; then the
    reader stops reading, and gRPC flow control holds the server back as if nobody read.
    """

    _END = object()

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int = 8):
        self._loop, self._capacity = loop, capacity
        self._items: collections.deque = collections.deque()
        self._ready = threading.Condition()
        self._room = asyncio.Event()  # set (on the loop) whenever a message is taken

    async def put(self, item, final: bool = False) -> None:
        """Queue ``item`` (on the loop), waiting for room; ``final`` items never wait."""
        while True:
            with self._ready:
                if final or len(self._items) < self._capacity:
                    self._items.append(item)
                    self._ready.notify_all()
                    return
                self._room.clear()
            await self._room.wait()

    def get(self, timeout: float | None):
        """The next item (any thread); raises TimeoutError after ``timeout`` seconds."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._items, timeout):
                raise TimeoutError(f"no message from the server within {timeout:g} s")
            item = self._items[0]
            if item is not self._END and not isinstance(item, BaseException):
                self._items.popleft()  # the end (or an error) stays for every later call
        try:
            self._loop.call_soon_threadsafe(self._room.set)
        except RuntimeError:  # the client's loop is closed
            pass
        return item


class SyncSession:
    """Blocking view of an :class:`AsyncSession`; ``with`` opens and closes it.

    After :meth:`open`, one reader task reads the stream into an inbox, so :meth:`recv`,
    :meth:`next_frame`, :meth:`next_result` and :meth:`render` may time out as often as a
    caller likes (an engine tick, a tracker bridge) without ever losing a message: what they
    did not take is returned by the next call.
    """

    def __init__(self, client: SyncClient, session: AsyncSession):
        self._client, self.aio = client, session
        self._inbox: _Inbox | None = None

    def __enter__(self) -> SyncSession:
        self.open()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()

    def open(self) -> pb.Event:
        event = self._client._run(self.aio.open())
        self._inbox = _Inbox(self._client._loop)
        self._client._run(self._start_reader())
        return event

    async def _start_reader(self) -> None:
        asyncio.get_running_loop().create_task(self._read_all(self._inbox))

    async def _read_all(self, inbox: _Inbox) -> None:
        """The one reader of the stream: every message into the inbox, then the end."""
        try:
            while (msg := await self.aio.recv()) is not None:
                await inbox.put(msg)
        except asyncio.CancelledError:
            await inbox.put(asyncio.CancelledError("the session was cancelled"), final=True)
            raise
        except Exception as exc:  # the call's status (e.g. grpc.aio.AioRpcError)
            await inbox.put(exc, final=True)
            return
        await inbox.put(_Inbox._END, final=True)

    def send(self, pose_msg: pb.Pose) -> None:
        self._client._run(self.aio.send(pose_msg))

    def write(self, request: pb.SessionRequest) -> None:
        """Send any SessionRequest as it is (tests, tools)."""
        self._client._run(self.aio.call.write(request))

    def control(self, **fields) -> None:
        self._client._run(self.aio.control(**fields))

    def recv(self, timeout: float | None = None) -> pb.SessionResponse | None:
        """The next server message, or None at the end of the stream. Raises TimeoutError
        after ``timeout`` seconds; the message that arrives later is kept for the next call."""
        if self._inbox is None:
            return self._client._run(self.aio.recv(), timeout)
        item = self._inbox.get(timeout)
        if item is _Inbox._END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def _take(self, deadline: float | None) -> pb.SessionResponse | None:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.recv(left)

    def next_result(self, timeout: float | None = None) -> pb.Frame | pb.Error:
        """The next frame or error (errors are also stored); events on the way are stored.
        Raises SessionClosed at the end of the stream, TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            msg = self._take(deadline)
            if msg is None:
                raise SessionClosed(f"the stream ended: {self.aio.final_event}")
            kind = msg.WhichOneof("kind")
            if kind == "frame":
                return msg.frame
            if kind == "event":
                self._event(msg.event)
            else:
                self.aio.errors.append(msg.error)
                return msg.error

    def _event(self, event: pb.Event) -> None:
        self.aio.events.append(event)
        if event.kind in (pb.EVENT_KIND_SESSION_CLOSED, pb.EVENT_KIND_SERVER_SHUTTING_DOWN):
            self.aio.final_event = event

    def next_frame(self, timeout: float | None = None) -> pb.Frame:
        """The next frame; events and errors on the way are stored. Raises SessionClosed, or
        TimeoutError after ``timeout`` seconds (no message is lost either way)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            result = self.next_result(left)
            if isinstance(result, pb.Frame):
                return result

    def render(self, pose_msg: pb.Pose, timeout: float | None = None) -> pb.Frame:
        """Send a pose and wait for its frame (LOCKSTEP sessions); after a reconnection the
        pose is sent again."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.send(pose_msg)
        while True:
            msg = self._take(deadline)
            if msg is None:
                raise SessionClosed(f"the stream ended: {self.aio.final_event}")
            kind = msg.WhichOneof("kind")
            if kind == "frame" and msg.frame.frame_id == pose_msg.frame_id:
                return msg.frame
            if kind == "event":
                self._event(msg.event)
                if msg.event.kind == pb.EVENT_KIND_SESSION_OPENED:  # reconnected
                    self.aio.resent += 1
                    self.send(pose_msg)
            elif kind == "error":
                self.aio.errors.append(msg.error)

    def close(self) -> list[pb.SessionResponse]:
        """Send Close and read to the end; returns the messages that were still coming
        (including any a timed-out call left behind)."""
        if self._inbox is None:
            return self._client._run(self.aio.close())
        self._client._run(self._half_close())
        rest = []
        while (msg := self.recv()) is not None:
            rest.append(msg)
            if msg.WhichOneof("kind") == "event":
                self._event(msg.event)
        return rest

    async def _half_close(self) -> None:
        self.aio.reconnect = False
        try:
            await self.aio.call.write(pb.SessionRequest(close=pb.Close()))
            await self.aio.call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass

    def cancel(self) -> None:
        self._client._loop.call_soon_threadsafe(self.aio.cancel)

    @property
    def recoveries(self) -> list[Recovery]:
        return self.aio.recoveries

    @property
    def events(self) -> list[pb.Event]:
        return self.aio.events

    @property
    def errors(self) -> list[pb.Error]:
        return self.aio.errors

    @property
    def world_id(self) -> str:
        return self.aio.world_id
