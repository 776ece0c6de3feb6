from latentstage.v1 import camera_pb2 as _camera_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENCODING_UNSPECIFIED: _ClassVar[Encoding]
    ENCODING_RAW_RGB8: _ClassVar[Encoding]
    ENCODING_RAW_RGBA8: _ClassVar[Encoding]
    ENCODING_JPEG: _ClassVar[Encoding]
    ENCODING_RAW_BGRA8: _ClassVar[Encoding]

class Pacing(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACING_UNSPECIFIED: _ClassVar[Pacing]
    PACING_REALTIME: _ClassVar[Pacing]
    PACING_LOCKSTEP: _ClassVar[Pacing]

class Prediction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREDICTION_UNSPECIFIED: _ClassVar[Prediction]
    PREDICTION_OFF: _ClassVar[Prediction]
    PREDICTION_ON: _ClassVar[Prediction]

class Rung(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNG_UNSPECIFIED: _ClassVar[Rung]
    RUNG_FULL: _ClassVar[Rung]
    RUNG_FEWER_STEPS: _ClassVar[Rung]
    RUNG_SKIP_WRITE: _ClassVar[Rung]
    RUNG_MEMORY_ONLY: _ClassVar[Rung]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_SESSION_OPENED: _ClassVar[EventKind]
    EVENT_KIND_POSES_DROPPED: _ClassVar[EventKind]
    EVENT_KIND_FRAMES_DROPPED: _ClassVar[EventKind]
    EVENT_KIND_DEGRADED: _ClassVar[EventKind]
    EVENT_KIND_RECOVERED: _ClassVar[EventKind]
    EVENT_KIND_WORLD_SAVED: _ClassVar[EventKind]
    EVENT_KIND_SETTINGS_CHANGED: _ClassVar[EventKind]
    EVENT_KIND_SESSION_CLOSED: _ClassVar[EventKind]
    EVENT_KIND_SERVER_SHUTTING_DOWN: _ClassVar[EventKind]
    EVENT_KIND_TRACKER_DROPPED: _ClassVar[EventKind]
    EVENT_KIND_WORLD_RESTORED: _ClassVar[EventKind]

class WorldKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORLD_KIND_UNSPECIFIED: _ClassVar[WorldKind]
    WORLD_KIND_INDOOR: _ClassVar[WorldKind]
    WORLD_KIND_OUTDOOR: _ClassVar[WorldKind]
ENCODING_UNSPECIFIED: Encoding
ENCODING_RAW_RGB8: Encoding
ENCODING_RAW_RGBA8: Encoding
ENCODING_JPEG: Encoding
ENCODING_RAW_BGRA8: Encoding
PACING_UNSPECIFIED: Pacing
PACING_REALTIME: Pacing
PACING_LOCKSTEP: Pacing
PREDICTION_UNSPECIFIED: Prediction
PREDICTION_OFF: Prediction
PREDICTION_ON: Prediction
RUNG_UNSPECIFIED: Rung
RUNG_FULL: Rung
RUNG_FEWER_STEPS: Rung
RUNG_SKIP_WRITE: Rung
RUNG_MEMORY_ONLY: Rung
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_SESSION_OPENED: EventKind
EVENT_KIND_POSES_DROPPED: EventKind
EVENT_KIND_FRAMES_DROPPED: EventKind
EVENT_KIND_DEGRADED: EventKind
EVENT_KIND_RECOVERED: EventKind
EVENT_KIND_WORLD_SAVED: EventKind
EVENT_KIND_SETTINGS_CHANGED: EventKind
EVENT_KIND_SESSION_CLOSED: EventKind
EVENT_KIND_SERVER_SHUTTING_DOWN: EventKind
EVENT_KIND_TRACKER_DROPPED: EventKind
EVENT_KIND_WORLD_RESTORED: EventKind
WORLD_KIND_UNSPECIFIED: WorldKind
WORLD_KIND_INDOOR: WorldKind
WORLD_KIND_OUTDOOR: WorldKind

class SessionRequest(_message.Message):
    __slots__ = ("open", "pose", "control", "close")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    POSE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    open: Open
    pose: Pose
    control: Control
    close: Close
    def __init__(self, open: _Optional[_Union[Open, _Mapping]] = ..., pose: _Optional[_Union[Pose, _Mapping]] = ..., control: _Optional[_Union[Control, _Mapping]] = ..., close: _Optional[_Union[Close, _Mapping]] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("frame", "event", "error")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    frame: Frame
    event: Event
    error: Error
    def __init__(self, frame: _Optional[_Union[Frame, _Mapping]] = ..., event: _Optional[_Union[Event, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class Size(_message.Message):
    __slots__ = ("width", "height")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class Open(_message.Message):
    __slots__ = ("world_id", "new_world", "size", "encoding", "jpeg_quality", "target_fps", "sampler_steps", "seed", "convention", "stage", "lens", "pacing", "prediction", "display_latency_ms", "client_name", "bottom_up", "tracked_camera")
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_WORLD_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    TARGET_FPS_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_STEPS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CONVENTION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    LENS_FIELD_NUMBER: _ClassVar[int]
    PACING_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_UP_FIELD_NUMBER: _ClassVar[int]
    TRACKED_CAMERA_FIELD_NUMBER: _ClassVar[int]
    world_id: str
    new_world: WorldSpec
    size: Size
    encoding: Encoding
    jpeg_quality: int
    target_fps: float
    sampler_steps: int
    seed: int
    convention: _camera_pb2.Convention
    stage: _camera_pb2.Stage
    lens: _camera_pb2.Lens
    pacing: Pacing
    prediction: Prediction
    display_latency_ms: float
    client_name: str
    bottom_up: bool
    tracked_camera: str
    def __init__(self, world_id: _Optional[str] = ..., new_world: _Optional[_Union[WorldSpec, _Mapping]] = ..., size: _Optional[_Union[Size, _Mapping]] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., jpeg_quality: _Optional[int] = ..., target_fps: _Optional[float] = ..., sampler_steps: _Optional[int] = ..., seed: _Optional[int] = ..., convention: _Optional[_Union[_camera_pb2.Convention, str]] = ..., stage: _Optional[_Union[_camera_pb2.Stage, _Mapping]] = ..., lens: _Optional[_Union[_camera_pb2.Lens, _Mapping]] = ..., pacing: _Optional[_Union[Pacing, str]] = ..., prediction: _Optional[_Union[Prediction, str]] = ..., display_latency_ms: _Optional[float] = ..., client_name: _Optional[str] = ..., bottom_up: _Optional[bool] = ..., tracked_camera: _Optional[str] = ...) -> None: ...

class Pose(_message.Message):
    __slots__ = ("frame_id", "capture_time_ns", "timecode", "position", "rotation", "lens", "dynamic_mask")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    TIMECODE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ROTATION_FIELD_NUMBER: _ClassVar[int]
    LENS_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_MASK_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    capture_time_ns: int
    timecode: _camera_pb2.Timecode
    position: _camera_pb2.Vec3
    rotation: _camera_pb2.Rotation
    lens: _camera_pb2.Lens
    dynamic_mask: _camera_pb2.DynamicMask
    def __init__(self, frame_id: _Optional[int] = ..., capture_time_ns: _Optional[int] = ..., timecode: _Optional[_Union[_camera_pb2.Timecode, _Mapping]] = ..., position: _Optional[_Union[_camera_pb2.Vec3, _Mapping]] = ..., rotation: _Optional[_Union[_camera_pb2.Rotation, _Mapping]] = ..., lens: _Optional[_Union[_camera_pb2.Lens, _Mapping]] = ..., dynamic_mask: _Optional[_Union[_camera_pb2.DynamicMask, _Mapping]] = ...) -> None: ...

class Control(_message.Message):
    __slots__ = ("sampler_steps", "target_fps", "encoding", "jpeg_quality", "pause_writes", "snapshot")
    SAMPLER_STEPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FPS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    PAUSE_WRITES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    sampler_steps: int
    target_fps: float
    encoding: Encoding
    jpeg_quality: int
    pause_writes: bool
    snapshot: SnapshotRequest
    def __init__(self, sampler_steps: _Optional[int] = ..., target_fps: _Optional[float] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., jpeg_quality: _Optional[int] = ..., pause_writes: _Optional[bool] = ..., snapshot: _Optional[_Union[SnapshotRequest, _Mapping]] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Close(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Image(_message.Message):
    __slots__ = ("encoding", "width", "height", "stride", "data", "bottom_up")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_UP_FIELD_NUMBER: _ClassVar[int]
    encoding: Encoding
    width: int
    height: int
    stride: int
    data: bytes
    bottom_up: bool
    def __init__(self, encoding: _Optional[_Union[Encoding, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., stride: _Optional[int] = ..., data: _Optional[bytes] = ..., bottom_up: _Optional[bool] = ...) -> None: ...

class Timing(_message.Message):
    __slots__ = ("queue_ms", "readout_ms", "generate_ms", "decode_ms", "write_ms", "encode_ms", "total_ms")
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    READOUT_MS_FIELD_NUMBER: _ClassVar[int]
    GENERATE_MS_FIELD_NUMBER: _ClassVar[int]
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    WRITE_MS_FIELD_NUMBER: _ClassVar[int]
    ENCODE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    queue_ms: float
    readout_ms: float
    generate_ms: float
    decode_ms: float
    write_ms: float
    encode_ms: float
    total_ms: float
    def __init__(self, queue_ms: _Optional[float] = ..., readout_ms: _Optional[float] = ..., generate_ms: _Optional[float] = ..., decode_ms: _Optional[float] = ..., write_ms: _Optional[float] = ..., encode_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class MemoryStats(_message.Message):
    __slots__ = ("points", "capacity", "bytes", "used_bytes", "evictions", "writes", "coverage")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    points: int
    capacity: int
    bytes: int
    used_bytes: int
    evictions: int
    writes: int
    coverage: float
    def __init__(self, points: _Optional[int] = ..., capacity: _Optional[int] = ..., bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., evictions: _Optional[int] = ..., writes: _Optional[int] = ..., coverage: _Optional[float] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("frame_id", "capture_time_ns", "timecode", "rendered_c2w", "intrinsics", "image", "timing", "memory", "rung", "sampler_steps", "memory_written", "poses_skipped", "frames_dropped", "predicted_ms", "sequence", "server_id")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    TIMECODE_FIELD_NUMBER: _ClassVar[int]
    RENDERED_C2W_FIELD_NUMBER: _ClassVar[int]
    INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_STEPS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    POSES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_MS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    capture_time_ns: int
    timecode: _camera_pb2.Timecode
    rendered_c2w: _camera_pb2.Matrix4
    intrinsics: _camera_pb2.PixelIntrinsics
    image: Image
    timing: Timing
    memory: MemoryStats
    rung: Rung
    sampler_steps: int
    memory_written: bool
    poses_skipped: int
    frames_dropped: int
    predicted_ms: float
    sequence: int
    server_id: str
    def __init__(self, frame_id: _Optional[int] = ..., capture_time_ns: _Optional[int] = ..., timecode: _Optional[_Union[_camera_pb2.Timecode, _Mapping]] = ..., rendered_c2w: _Optional[_Union[_camera_pb2.Matrix4, _Mapping]] = ..., intrinsics: _Optional[_Union[_camera_pb2.PixelIntrinsics, _Mapping]] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., timing: _Optional[_Union[Timing, _Mapping]] = ..., memory: _Optional[_Union[MemoryStats, _Mapping]] = ..., rung: _Optional[_Union[Rung, str]] = ..., sampler_steps: _Optional[int] = ..., memory_written: _Optional[bool] = ..., poses_skipped: _Optional[int] = ..., frames_dropped: _Optional[int] = ..., predicted_ms: _Optional[float] = ..., sequence: _Optional[int] = ..., server_id: _Optional[str] = ...) -> None: ...

class SessionSettings(_message.Message):
    __slots__ = ("size", "encoding", "jpeg_quality", "target_fps", "sampler_steps", "seed", "convention", "pacing", "prediction", "writes_paused", "bottom_up")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    TARGET_FPS_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_STEPS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CONVENTION_FIELD_NUMBER: _ClassVar[int]
    PACING_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    WRITES_PAUSED_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_UP_FIELD_NUMBER: _ClassVar[int]
    size: Size
    encoding: Encoding
    jpeg_quality: int
    target_fps: float
    sampler_steps: int
    seed: int
    convention: _camera_pb2.Convention
    pacing: Pacing
    prediction: Prediction
    writes_paused: bool
    bottom_up: bool
    def __init__(self, size: _Optional[_Union[Size, _Mapping]] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., jpeg_quality: _Optional[int] = ..., target_fps: _Optional[float] = ..., sampler_steps: _Optional[int] = ..., seed: _Optional[int] = ..., convention: _Optional[_Union[_camera_pb2.Convention, str]] = ..., pacing: _Optional[_Union[Pacing, str]] = ..., prediction: _Optional[_Union[Prediction, str]] = ..., writes_paused: _Optional[bool] = ..., bottom_up: _Optional[bool] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("kind", "message", "session_id", "world_id", "frame_id", "count", "rung", "snapshot_name", "settings")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    kind: EventKind
    message: str
    session_id: str
    world_id: str
    frame_id: int
    count: int
    rung: Rung
    snapshot_name: str
    settings: SessionSettings
    def __init__(self, kind: _Optional[_Union[EventKind, str]] = ..., message: _Optional[str] = ..., session_id: _Optional[str] = ..., world_id: _Optional[str] = ..., frame_id: _Optional[int] = ..., count: _Optional[int] = ..., rung: _Optional[_Union[Rung, str]] = ..., snapshot_name: _Optional[str] = ..., settings: _Optional[_Union[SessionSettings, _Mapping]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "field", "message", "frame_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    code: int
    field: str
    message: str
    frame_id: int
    def __init__(self, code: _Optional[int] = ..., field: _Optional[str] = ..., message: _Optional[str] = ..., frame_id: _Optional[int] = ...) -> None: ...

class WorldSpec(_message.Message):
    __slots__ = ("procedural", "seed_image", "snapshot", "empty", "name", "keep", "world_id")
    PROCEDURAL_FIELD_NUMBER: _ClassVar[int]
    SEED_IMAGE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    EMPTY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    procedural: ProceduralWorld
    seed_image: SeedImage
    snapshot: SnapshotRef
    empty: EmptyWorld
    name: str
    keep: bool
    world_id: str
    def __init__(self, procedural: _Optional[_Union[ProceduralWorld, _Mapping]] = ..., seed_image: _Optional[_Union[SeedImage, _Mapping]] = ..., snapshot: _Optional[_Union[SnapshotRef, _Mapping]] = ..., empty: _Optional[_Union[EmptyWorld, _Mapping]] = ..., name: _Optional[str] = ..., keep: _Optional[bool] = ..., world_id: _Optional[str] = ...) -> None: ...

class ProceduralWorld(_message.Message):
    __slots__ = ("seed", "kind")
    SEED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    seed: int
    kind: WorldKind
    def __init__(self, seed: _Optional[int] = ..., kind: _Optional[_Union[WorldKind, str]] = ...) -> None: ...

class SeedImage(_message.Message):
    __slots__ = ("image", "depth", "position", "rotation", "lens", "convention", "stage")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ROTATION_FIELD_NUMBER: _ClassVar[int]
    LENS_FIELD_NUMBER: _ClassVar[int]
    CONVENTION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    depth: Depth
    position: _camera_pb2.Vec3
    rotation: _camera_pb2.Rotation
    lens: _camera_pb2.Lens
    convention: _camera_pb2.Convention
    stage: _camera_pb2.Stage
    def __init__(self, image: _Optional[bytes] = ..., depth: _Optional[_Union[Depth, _Mapping]] = ..., position: _Optional[_Union[_camera_pb2.Vec3, _Mapping]] = ..., rotation: _Optional[_Union[_camera_pb2.Rotation, _Mapping]] = ..., lens: _Optional[_Union[_camera_pb2.Lens, _Mapping]] = ..., convention: _Optional[_Union[_camera_pb2.Convention, str]] = ..., stage: _Optional[_Union[_camera_pb2.Stage, _Mapping]] = ...) -> None: ...

class Depth(_message.Message):
    __slots__ = ("width", "height", "data")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    data: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class SnapshotRef(_message.Message):
    __slots__ = ("name", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: bytes
    def __init__(self, name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class EmptyWorld(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorldInfo(_message.Message):
    __slots__ = ("world_id", "name", "source", "sessions", "keep", "memory", "start_c2w", "start_intrinsics", "created_unix_ms")
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    START_C2W_FIELD_NUMBER: _ClassVar[int]
    START_INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    world_id: str
    name: str
    source: str
    sessions: int
    keep: bool
    memory: MemoryStats
    start_c2w: _camera_pb2.Matrix4
    start_intrinsics: _camera_pb2.PixelIntrinsics
    created_unix_ms: int
    def __init__(self, world_id: _Optional[str] = ..., name: _Optional[str] = ..., source: _Optional[str] = ..., sessions: _Optional[int] = ..., keep: _Optional[bool] = ..., memory: _Optional[_Union[MemoryStats, _Mapping]] = ..., start_c2w: _Optional[_Union[_camera_pb2.Matrix4, _Mapping]] = ..., start_intrinsics: _Optional[_Union[_camera_pb2.PixelIntrinsics, _Mapping]] = ..., created_unix_ms: _Optional[int] = ...) -> None: ...

class CreateWorldRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: WorldSpec
    def __init__(self, spec: _Optional[_Union[WorldSpec, _Mapping]] = ...) -> None: ...

class CreateWorldResponse(_message.Message):
    __slots__ = ("world",)
    WORLD_FIELD_NUMBER: _ClassVar[int]
    world: WorldInfo
    def __init__(self, world: _Optional[_Union[WorldInfo, _Mapping]] = ...) -> None: ...

class SaveWorldRequest(_message.Message):
    __slots__ = ("world_id", "name", "return_data", "overwrite")
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RETURN_DATA_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    world_id: str
    name: str
    return_data: bool
    overwrite: bool
    def __init__(self, world_id: _Optional[str] = ..., name: _Optional[str] = ..., return_data: _Optional[bool] = ..., overwrite: _Optional[bool] = ...) -> None: ...

class SaveWorldResponse(_message.Message):
    __slots__ = ("name", "bytes", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    bytes: int
    data: bytes
    def __init__(self, name: _Optional[str] = ..., bytes: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class LoadWorldRequest(_message.Message):
    __slots__ = ("snapshot", "name", "world_id")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot: SnapshotRef
    name: str
    world_id: str
    def __init__(self, snapshot: _Optional[_Union[SnapshotRef, _Mapping]] = ..., name: _Optional[str] = ..., world_id: _Optional[str] = ...) -> None: ...

class LoadWorldResponse(_message.Message):
    __slots__ = ("world",)
    WORLD_FIELD_NUMBER: _ClassVar[int]
    world: WorldInfo
    def __init__(self, world: _Optional[_Union[WorldInfo, _Mapping]] = ...) -> None: ...

class DeleteWorldRequest(_message.Message):
    __slots__ = ("world_id", "force")
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    world_id: str
    force: bool
    def __init__(self, world_id: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DeleteWorldResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWorldsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SnapshotInfo(_message.Message):
    __slots__ = ("name", "bytes", "modified_unix_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    bytes: int
    modified_unix_ms: int
    def __init__(self, name: _Optional[str] = ..., bytes: _Optional[int] = ..., modified_unix_ms: _Optional[int] = ...) -> None: ...

class ListWorldsResponse(_message.Message):
    __slots__ = ("worlds", "snapshots")
    WORLDS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    worlds: _containers.RepeatedCompositeFieldContainer[WorldInfo]
    snapshots: _containers.RepeatedCompositeFieldContainer[SnapshotInfo]
    def __init__(self, worlds: _Optional[_Iterable[_Union[WorldInfo, _Mapping]]] = ..., snapshots: _Optional[_Iterable[_Union[SnapshotInfo, _Mapping]]] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: ServerInfo
    def __init__(self, info: _Optional[_Union[ServerInfo, _Mapping]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_width", "max_height", "max_sessions", "max_worlds", "max_send_bytes", "max_receive_bytes", "max_fps", "min_sampler_steps", "max_sampler_steps", "memory_capacity")
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_WORLDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SEND_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_RECEIVE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_FPS_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLER_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_SAMPLER_STEPS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    max_width: int
    max_height: int
    max_sessions: int
    max_worlds: int
    max_send_bytes: int
    max_receive_bytes: int
    max_fps: float
    min_sampler_steps: int
    max_sampler_steps: int
    memory_capacity: int
    def __init__(self, max_width: _Optional[int] = ..., max_height: _Optional[int] = ..., max_sessions: _Optional[int] = ..., max_worlds: _Optional[int] = ..., max_send_bytes: _Optional[int] = ..., max_receive_bytes: _Optional[int] = ..., max_fps: _Optional[float] = ..., min_sampler_steps: _Optional[int] = ..., max_sampler_steps: _Optional[int] = ..., memory_capacity: _Optional[int] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("model_id", "backend", "device", "versions", "limits", "conventions", "encodings", "native_size", "latent_stride", "default_sampler_steps", "sessions", "worlds", "auth_required", "protocol_revision", "tracked_cameras", "server_id")
    class VersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CONVENTIONS_FIELD_NUMBER: _ClassVar[int]
    ENCODINGS_FIELD_NUMBER: _ClassVar[int]
    NATIVE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LATENT_STRIDE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SAMPLER_STEPS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    WORLDS_FIELD_NUMBER: _ClassVar[int]
    AUTH_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_REVISION_FIELD_NUMBER: _ClassVar[int]
    TRACKED_CAMERAS_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    backend: str
    device: str
    versions: _containers.ScalarMap[str, str]
    limits: Limits
    conventions: _containers.RepeatedScalarFieldContainer[_camera_pb2.Convention]
    encodings: _containers.RepeatedScalarFieldContainer[Encoding]
    native_size: Size
    latent_stride: int
    default_sampler_steps: int
    sessions: int
    worlds: int
    auth_required: bool
    protocol_revision: int
    tracked_cameras: _containers.RepeatedCompositeFieldContainer[TrackedCameraInfo]
    server_id: str
    def __init__(self, model_id: _Optional[str] = ..., backend: _Optional[str] = ..., device: _Optional[str] = ..., versions: _Optional[_Mapping[str, str]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., conventions: _Optional[_Iterable[_Union[_camera_pb2.Convention, str]]] = ..., encodings: _Optional[_Iterable[_Union[Encoding, str]]] = ..., native_size: _Optional[_Union[Size, _Mapping]] = ..., latent_stride: _Optional[int] = ..., default_sampler_steps: _Optional[int] = ..., sessions: _Optional[int] = ..., worlds: _Optional[int] = ..., auth_required: _Optional[bool] = ..., protocol_revision: _Optional[int] = ..., tracked_cameras: _Optional[_Iterable[_Union[TrackedCameraInfo, _Mapping]]] = ..., server_id: _Optional[str] = ...) -> None: ...

class TrackedCameraInfo(_message.Message):
    __slots__ = ("name", "world_id", "freed_camera_id", "listen", "packets", "dropped", "watchers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    FREED_CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    LISTEN_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    WATCHERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    world_id: str
    freed_camera_id: int
    listen: str
    packets: int
    dropped: int
    watchers: int
    def __init__(self, name: _Optional[str] = ..., world_id: _Optional[str] = ..., freed_camera_id: _Optional[int] = ..., listen: _Optional[str] = ..., packets: _Optional[int] = ..., dropped: _Optional[int] = ..., watchers: _Optional[int] = ...) -> None: ...
