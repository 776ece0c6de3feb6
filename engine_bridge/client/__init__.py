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

The package's modules: :mod:`.messages` (pose, lens, rotation, world and Open builders; frame
helpers), :mod:`.aio` (:class:`AsyncClient`, :class:`AsyncSession` and its reconnection) and
:mod:`.sync` (:class:`SyncClient`, :class:`SyncSession`). Everything is re-exported here.
"""

from latentstage.engine_bridge.client.aio import (
    MAX_MESSAGE_BYTES,
    WORLD_HEADER,
    AsyncClient,
    AsyncSession,
    Recovery,
    SessionClosed,
    worker_lost,
)
from latentstage.engine_bridge.client.messages import (
    convention_value,
    empty_world,
    encoding_value,
    frame_c2w,
    frame_pixels,
    lens_fov,
    lens_physical,
    lens_pixels,
    open_message,
    opencv_pose,
    pose,
    procedural_world,
    rotation,
    seed_image_world,
    snapshot_world,
    timecode,
    unity_pose,
    unreal_pose,
    watch_message,
)
from latentstage.engine_bridge.client.sync import SyncClient, SyncSession
from latentstage.v1 import camera_pb2 as cpb
from latentstage.v1 import service_pb2 as pb
from latentstage.v1 import service_pb2_grpc as pb_grpc

__all__ = [
    "MAX_MESSAGE_BYTES", "WORLD_HEADER", "AsyncClient", "AsyncSession", "Recovery",
    "SessionClosed", "SyncClient", "SyncSession", "convention_value", "cpb", "empty_world",
    "encoding_value", "frame_c2w", "frame_pixels", "lens_fov", "lens_physical", "lens_pixels",
    "open_message", "opencv_pose", "pb", "pb_grpc", "pose", "procedural_world", "rotation",
    "seed_image_world", "snapshot_world", "timecode", "unity_pose", "unreal_pose",
    "watch_message", "worker_lost",
]
