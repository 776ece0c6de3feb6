"""Contracts of the serving runtime: the plain data that crosses its boundaries.

The gRPC layer (:mod:`.service`, :mod:`.translate`) turns protobuf messages into these
dataclasses and back; the scheduler (:mod:`.scheduler`) plans frames from :class:`PoseIn` and
hands a :class:`FramePlan` to the session (:mod:`.world_camera`), whose frame step
(:mod:`.pipeline`) returns a :class:`Frame` (device side); the wire gets a :class:`FrameOut`.
Nothing here imports torch, so the servicer stays torch-free.

Units: seconds for durations inside the runtime (the wire uses milliseconds), nanoseconds for
client timestamps, pixels for sizes, canonical poses (camera-to-world [4, 4] float64, OpenCV
camera axes, Z-up metres).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

import numpy as np

from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.timecode import Timecode

if TYPE_CHECKING:  # annotations only: this module stays torch-free at run time
    import torch

    from latentstage.runtime.memory import Readout


class Encoding(StrEnum):
    """How a frame's pixels travel."""

    RAW_RGB8 = "raw_rgb8"  # 3 bytes per pixel, rows top to bottom
    RAW_RGBA8 = "raw_rgba8"  # 4 bytes per pixel, alpha 255
    JPEG = "jpeg"  # baseline JPEG, 4:2:0
    RAW_BGRA8 = "raw_bgra8"  # 4 bytes per pixel B, G, R, A (alpha 255): engine textures


class Pacing(StrEnum):
    """How a session schedules poses (see the Pacing enum in service.proto)."""

    REALTIME = "realtime"  # latest pose wins, degrade to meet the budget, drop for slow readers
    LOCKSTEP = "lockstep"  # every pose, in order, full quality; backpressure instead of drops


class Rung(IntEnum):
    """The degradation ladder, best first. Each frame records the rung that produced it."""

    FULL = 0  # requested sampler steps, memory written
    FEWER_STEPS = 1  # fewer sampler steps, memory written
    SKIP_WRITE = 2  # one sampler step, memory not written
    MEMORY_ONLY = 3  # memory readout decoded directly, no generator, no write


class EventKind(StrEnum):
    """Server events on a session stream (EventKind in service.proto)."""

    SESSION_OPENED = "session_opened"
    POSES_DROPPED = "poses_dropped"
    FRAMES_DROPPED = "frames_dropped"
    DEGRADED = "degraded"
    RECOVERED = "recovered"
    WORLD_SAVED = "world_saved"
    SETTINGS_CHANGED = "settings_changed"
    SESSION_CLOSED = "session_closed"
    SERVER_SHUTTING_DOWN = "server_shutting_down"
    TRACKER_DROPPED = "tracker_dropped"  # a watched tracked camera's listener dropped datagrams
    WORLD_RESTORED = "world_restored"  # the world was restored from the shared snapshot store


# ----- errors the service maps to status codes beyond runtime.errors -----------------------------
class Exhausted(RuntimeError):
    """A server limit is reached (sessions, worlds): RESOURCE_EXHAUSTED."""


class ShuttingDown(RuntimeError):
    """The server is stopping and takes no new work: UNAVAILABLE."""


_SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_snapshot_name(name: str, field_name: str = "snapshot.name") -> str:
    """``name`` if it is a safe snapshot file stem (no path), else :class:`InvalidInput`."""
    from latentstage.runtime.errors import InvalidInput

    if not isinstance(name, str) or not _SNAPSHOT_NAME.fullmatch(name) or ".." in name:
        raise InvalidInput(field_name, name,
                           "1..128 characters of A-Z a-z 0-9 . _ - (not starting with . or -)")
    return name


def status_of(exc: BaseException) -> str:
    """The gRPC status code name for an exception raised by the runtime."""
    from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound

    for kind, code in ((InvalidInput, "INVALID_ARGUMENT"), (NotFound, "NOT_FOUND"),
                       (Incompatible, "FAILED_PRECONDITION"), (CorruptFile, "FAILED_PRECONDITION"),
                       (Exhausted, "RESOURCE_EXHAUSTED"), (ShuttingDown, "UNAVAILABLE")):
        if isinstance(exc, kind):
            return code
    return "INTERNAL"


# ----- worlds ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProceduralSource:
    """A built-in procedural world, seeded by rendering it from its start camera."""

    seed: int  # world seed, 0 <= seed < 2**63
    kind: str  # "indoor" or "outdoor"


@dataclass(frozen=True)
class SeedImageSource:
    """A world seeded from one image, with optional depth."""

    rgb: np.ndarray  # [H, W, 3] uint8
    depth: np.ndarray | None  # [H, W] or [H/f, W/f] float32 metres; 0 unknown, inf sky; None
    intrinsics: Intrinsics  # of the image, W x H pixels
    c2w: np.ndarray  # [4, 4] canonical seed camera


@dataclass(frozen=True)
class SnapshotSource:
    """A memory snapshot: a name in the server's snapshot folder, or the file's bytes."""

    name: str | None = None  # snapshot name (validated by the world store)
    data: bytes | None = None  # an uploaded .safetensors snapshot


@dataclass(frozen=True)
class EmptySource:
    """A world with nothing in its memory yet."""


WorldSource = ProceduralSource | SeedImageSource | SnapshotSource | EmptySource


@dataclass(frozen=True)
class WorldSpec:
    """What a new world starts from, and how long it lives."""

    source: WorldSource  # one of the sources above
    name: str = ""  # label for listings
    keep: bool = True  # False: freed when the last session leaves (Open's own worlds)
    world_id: str = ""  # chosen by the client (routing by world); "" = the server picks one


@dataclass
class WriteStats:
    """What one ``LatentMemory.write`` did, in tokens."""

    fused: int = 0  # tokens merged into an existing voxel (including replacements)
    replaced: int = 0  # of ``fused``: entries replaced by a strongly disagreeing observation
    new: int = 0  # tokens that created a new voxel
    merged_in_frame: int = 0  # tokens folded into another token of the same frame and voxel
    sky: int = 0  # tokens written to the environment latent
    masked: int = 0  # tokens skipped: dynamic mask, zero depth or nearer than ``near``
    evicted: int = 0  # entries evicted to make room
    dropped: int = 0  # new voxels not stored: the store was full of this very write


@dataclass(frozen=True)
class MemoryInfo:
    """A world's memory: what ``LatentMemory.stats()`` returns, and what a frame or a listing
    reports (the wire carries all but ``env_cells`` and ``last_write``)."""

    points: int = 0  # stored points
    capacity: int = 0  # maximum points
    bytes: int = 0  # bytes held by the store's buffers (fixed at construction)
    used_bytes: int = 0  # bytes attributable to stored points and the environment
    evictions: int = 0  # evicted points since creation (or clear)
    writes: int = 0  # frames written since creation (or clear)
    coverage: float = 0.0  # fraction of the frame's latent pixels the readout covered, 0..1
    env_cells: int = 0  # environment cells observed at least once
    last_write: WriteStats = field(default_factory=WriteStats)  # the most recent write


@dataclass(frozen=True)
class WorldInfo:
    """A world as listed."""

    world_id: str  # server-assigned id
    name: str  # label
    source: str  # description of what seeded it
    sessions: int  # sessions attached now
    keep: bool  # survives its last session
    memory: MemoryInfo  # memory stats
    start_c2w: np.ndarray  # [4, 4] canonical seed camera (identity when none)
    start_intrinsics: Intrinsics | None  # seed camera intrinsics, or None
    created_unix_ms: int  # wall clock at creation


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot file in the server's snapshot folder."""

    name: str  # without the .safetensors suffix
    bytes: int  # file size
    modified_unix_ms: int  # file modification time


# ----- sessions ----------------------------------------------------------------------------------
@dataclass
class StreamSettings:
    """The effective settings of one session; Control messages change some of them."""

    width: int  # output width, pixels (multiple of the latent stride)
    height: int  # output height, pixels
    encoding: Encoding  # frame encoding
    jpeg_quality: int = 90  # 1..100
    target_fps: float = 0.0  # frames per second; 0 = no budget (never degrade)
    steps: int = 2  # requested sampler steps, 1..4
    seed: int = 0  # noise seed
    pacing: Pacing = Pacing.REALTIME  # scheduling mode
    predict: bool = True  # extrapolate poses to display time
    display_latency_s: float = 0.0  # client display pipeline latency added to the horizon
    writes_paused: bool = False  # frames do not write the memory
    bottom_up: bool = False  # raw frames: rows bottom to top (Unity/OpenGL texture origin)

    @property
    def budget_s(self) -> float | None:
        """Seconds per frame, or None when there is no budget."""
        return 1.0 / self.target_fps if self.target_fps > 0 else None


@dataclass(frozen=True)
class OpenRequest:
    """A session's Open after translation: which world, and the stream settings."""

    settings: StreamSettings  # effective settings (defaults applied)
    world_id: str | None = None  # attach to this world ...
    new_world: WorldSpec | None = None  # ... or create this one (exactly one is set)
    client_name: str = ""  # for logs


@dataclass(frozen=True)
class PoseIn:
    """One camera pose after translation to canonical form."""

    frame_id: int  # client's frame number (echoed; selects the noise)
    capture_time_ns: int  # client's monotonic capture time, ns; 0 = unknown
    timecode: Timecode | None  # SMPTE label (echoed), or None
    c2w: np.ndarray  # [4, 4] canonical camera-to-world as sent
    intrinsics: Intrinsics  # at the output size, pixels
    dynamic_mask: np.ndarray | None  # [H, W] or [h, w] bool: never written; or None
    received_ns: int = 0  # server monotonic clock when the pose arrived


@dataclass(frozen=True)
class ControlIn:
    """A Control after translation; None leaves a setting unchanged."""

    steps: int | None = None  # new sampler steps
    target_fps: float | None = None  # new target fps (0 = no budget)
    encoding: Encoding | None = None  # new encoding
    jpeg_quality: int | None = None  # new JPEG quality
    pause_writes: bool | None = None  # pause (True) or resume (False) memory writes
    snapshot_name: str | None = None  # save the world under this name ("" = automatic)


@dataclass(frozen=True)
class FramePlan:
    """What the scheduler asks the session to render for one pose.

    The frame step is driven by ``steps`` (0: the memory-only frame, no generator) and
    ``write``; ``rung`` only labels the frame.
    """

    pose: PoseIn  # the pose as received
    c2w: np.ndarray  # [4, 4] canonical pose to render (after prediction)
    rung: Rung  # degradation rung
    steps: int  # sampler steps (0 on the memory-only rung)
    write: bool  # write the frame to the memory
    predicted_s: float = 0.0  # seconds the pose was extrapolated past its capture time
    submitted_ns: int = 0  # server monotonic clock when the plan went to the model queue


@dataclass(frozen=True)
class Timing:
    """Where a frame's time went, seconds: the one timing type of the runtime.

    The frame step fills the model stages (readout, generate, decode, write); the session loop
    adds the queue, the encode and the total. The wire's Timing message carries all of them.
    """

    queue: float = 0.0  # waiting: for the model thread (step), from pose received (frame out)
    readout: float = 0.0  # memory readout and conditioning
    generate: float = 0.0  # sampler steps (0 for a memory-only frame)
    decode: float = 0.0  # latent to RGB and the copy to the host
    write: float = 0.0  # memory write (0 when not written)
    encode: float = 0.0  # raw packing or JPEG
    total: float = 0.0  # pose received to frame ready to send (0 outside the session loop)

    @property
    def model(self) -> float:
        """Seconds of the frame step itself: readout + generate + decode + write."""
        return self.readout + self.generate + self.decode + self.write


@dataclass(frozen=True)
class Frame:
    """One rendered frame before encoding: what the frame step returns.

    The session loop uses the host pixels, timing and memory stats; in-process callers (demo,
    evaluation, render) also get the device tensors.
    """

    pixels: np.ndarray  # [H, W, 3] uint8 on the host, rows top to bottom
    timing: Timing  # model stages filled (see Timing)
    memory: MemoryInfo = MemoryInfo()  # the world's memory after the frame (set by sessions)
    rgb: torch.Tensor | None = None  # [3, H, W] float in [0, 1] on the device
    latent: torch.Tensor | None = None  # [C, h, w] generated latent; None: memory-only frame
    depth: torch.Tensor | None = None  # [h, w] metres along the optical axis; None: memory only
    readout: Readout | None = None  # what the memory showed (coverage [h, w] and the rest)
    written: bool = False  # the frame was written to the memory


@dataclass(frozen=True)
class EncodedImage:
    """Encoded pixels."""

    encoding: Encoding  # raw or JPEG
    width: int  # pixels
    height: int  # pixels
    stride: int  # raw: bytes per row; JPEG: 0
    data: bytes  # raw rows or a JPEG file
    bottom_up: bool = False  # raw: the first row of data is the image's bottom row


@dataclass(frozen=True)
class FrameOut:
    """A finished frame, ready for the wire."""

    pose: PoseIn  # the pose it answers (frame_id, capture time and timecode are echoed)
    c2w: np.ndarray  # [4, 4] canonical pose rendered (after prediction)
    image: EncodedImage  # pixels
    timing: Timing  # breakdown (every field set)
    memory: MemoryInfo  # world memory after the frame
    rung: Rung  # how it was produced
    steps: int  # sampler steps run
    written: bool  # written to the memory
    poses_skipped: int  # this session so far
    frames_dropped: int  # this session so far (slow reader)
    predicted_s: float  # extrapolation horizon, seconds
    sequence: int  # 1, 2, 3... frames rendered in this session


@dataclass(frozen=True)
class EventOut:
    """A session event."""

    kind: EventKind  # what happened
    message: str = ""  # for people
    session_id: str = ""  # session concerned
    world_id: str = ""  # world concerned
    frame_id: int = 0  # frame concerned, if any
    count: int = 0  # see EventKind
    rung: Rung | None = None  # DEGRADED / RECOVERED
    snapshot_name: str = ""  # WORLD_SAVED
    settings: StreamSettings | None = None  # SESSION_OPENED / SETTINGS_CHANGED


@dataclass(frozen=True)
class ErrorOut:
    """A message the session could not use; the stream carries on."""

    code: str  # gRPC status code name, e.g. "INVALID_ARGUMENT"
    field: str  # offending field
    message: str  # field, value and expectation
    frame_id: int = 0  # the pose's frame_id, if it was a pose


@dataclass(frozen=True)
class Limits:
    """What a server accepts."""

    max_width: int = 3840  # pixels
    max_height: int = 2160  # pixels
    max_sessions: int = 8  # concurrent sessions
    max_worlds: int = 16  # worlds in memory
    max_fps: float = 240.0  # frames per second
    memory_capacity: int = 262_144  # points per world

    @property
    def max_frame_bytes(self) -> int:
        """The largest encoded frame: raw RGBA8 at the maximum size."""
        return self.max_width * self.max_height * 4

    @property
    def max_send_bytes(self) -> int:
        """Largest message sent: the largest frame plus 64 KiB (frame metadata is < 1 KiB)."""
        return self.max_frame_bytes + 64 * 1024

    @property
    def max_receive_bytes(self) -> int:
        """Largest message accepted: a seed image and its float32 depth at the maximum size
        (each at most ``max_frame_bytes``) plus 1 MiB."""
        return 2 * self.max_frame_bytes + 1024 * 1024


@dataclass(frozen=True)
class ServerInfo:
    """What GetServerInfo reports."""

    model_id: str  # weights id
    backend: str  # backend name
    device: str  # device in words
    versions: dict[str, str]  # package versions
    limits: Limits  # limits
    native_size: tuple[int, int]  # (W, H) pixels the model was trained at
    latent_stride: int  # image pixels per latent pixel
    default_steps: int  # model's default sampler steps
    sessions: int  # open now
    worlds: int  # in memory now
    auth_required: bool = False  # a bearer token is needed
