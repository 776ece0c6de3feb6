"""Protobuf <-> runtime types, with validation at the edge. Torch-free.

Every error is an :class:`~latentstage.runtime.errors.InvalidInput` whose field is the
protobuf path (``open.size.width``, ``pose.rotation.quaternion``, ...), so a client sees which
field of which message was wrong, the value, and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np

from latentstage.runtime import conventions as cv
from latentstage.runtime.camera import Intrinsics, ResolutionBounds, look_at
from latentstage.runtime.encoding import decode_depth, decode_image
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.routing import MAX_WORLD_ID, check_world_id  # noqa: F401 (tr.*)
from latentstage.runtime.translate_camera import (  # noqa: F401 (re-exported: tr.<name>)
    MIN_FOV_DEG,
    camera_to_canonical,
    check_plausible,
    lens_to_intrinsics,
    mask_from_proto,
    rotation_from_proto,
    stage_from_proto,
    timecode_from_proto,
    timecode_to_proto,
    vec3,
)
from latentstage.runtime.types import (
    ControlIn,
    EmptySource,
    Encoding,
    ErrorOut,
    EventKind,
    EventOut,
    FrameOut,
    Limits,
    MemoryInfo,
    OpenRequest,
    Pacing,
    PoseIn,
    ProceduralSource,
    Rung,
    SeedImageSource,
    ServerInfo,
    SnapshotSource,
    StreamSettings,
    WorldInfo,
    WorldSpec,
    check_snapshot_name,
)
from latentstage.v1 import camera_pb2 as cpb
from latentstage.v1 import service_pb2 as pb

Convention = cv.Convention

CONVENTIONS = {
    cpb.CONVENTION_OPENCV: Convention.OPENCV, cpb.CONVENTION_OPENGL: Convention.OPENGL,
    cpb.CONVENTION_UNREAL: Convention.UNREAL, cpb.CONVENTION_UNITY: Convention.UNITY,
    cpb.CONVENTION_USD: Convention.USD, cpb.CONVENTION_BLENDER: Convention.BLENDER,
}
CONVENTION_PB = {v: k for k, v in CONVENTIONS.items()}
# Wire revision of latentstage.v1 (ServerInfo.protocol_revision; see service.proto).
PROTOCOL_REVISION = 2
ENCODINGS = {pb.ENCODING_RAW_RGB8: Encoding.RAW_RGB8, pb.ENCODING_RAW_RGBA8: Encoding.RAW_RGBA8,
             pb.ENCODING_JPEG: Encoding.JPEG, pb.ENCODING_RAW_BGRA8: Encoding.RAW_BGRA8}
ENCODING_PB = {v: k for k, v in ENCODINGS.items()}
PACINGS = {pb.PACING_UNSPECIFIED: Pacing.REALTIME, pb.PACING_REALTIME: Pacing.REALTIME,
           pb.PACING_LOCKSTEP: Pacing.LOCKSTEP}
RUNG_PB = {Rung.FULL: pb.RUNG_FULL, Rung.FEWER_STEPS: pb.RUNG_FEWER_STEPS,
           Rung.SKIP_WRITE: pb.RUNG_SKIP_WRITE, Rung.MEMORY_ONLY: pb.RUNG_MEMORY_ONLY}
EVENT_PB = {kind: getattr(pb, f"EVENT_KIND_{kind.name}") for kind in EventKind}
KINDS = {pb.WORLD_KIND_INDOOR: "indoor", pb.WORLD_KIND_OUTDOOR: "outdoor"}
STATUS_NUMBERS = {"OK": 0, "INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "RESOURCE_EXHAUSTED": 8,
                  "FAILED_PRECONDITION": 9, "INTERNAL": 13, "UNAVAILABLE": 14}
MAX_TEXT = 128  # characters of names and labels


def _names(enum_type, values) -> str:
    return ", ".join(enum_type.Name(v) for v in values)


def _enum(value: int, table: dict, field: str, enum_type):
    if value not in table:
        name = enum_type.Name(value) if value in enum_type.values() else value
        raise InvalidInput(field, name, f"one of {_names(enum_type, table)}")
    return table[value]


def text_field(value: str, field: str) -> str:
    """A free-text label: at most MAX_TEXT characters, none of them control characters (labels
    are echoed into logs and listings)."""
    if len(value) > MAX_TEXT:
        raise InvalidInput(field, f"<{len(value)} characters>", f"at most {MAX_TEXT} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
           for ch in value):
        raise InvalidInput(field, value, "printable characters (no control or format "
                           "characters, no line breaks)")
    return value


# ----- sessions --------------------------------------------------------------------------------
@dataclass
class Edge:
    """How one session's client messages are converted: its convention and current lens."""

    convention: Convention  # the client's pose convention
    stage: dict  # that convention's settings (to_canonical keywords)
    width: int  # output width, pixels
    height: int  # output height, pixels
    stride: int  # latent stride, pixels
    bounds: ResolutionBounds  # server size limits
    intrinsics: Intrinsics | None = None  # current lens at the output size (Open or last Pose)
    tracked_camera: str = ""  # the tracked camera this session watches ("" = it sends poses)
    # (lens, that lens padded to the stride grid): padded once per lens, not once per pose
    _padded: tuple[Intrinsics, Intrinsics] | None = dataclass_field(default=None, repr=False)

    def render_intrinsics(self) -> Intrinsics:
        """The current lens on the stride grid frames are rendered on (cropped when encoded)."""
        if self._padded is None or self._padded[0] is not self.intrinsics:
            self._padded = (self.intrinsics, self.intrinsics.padded(self.stride)[0])
        return self._padded[1]


def pose_from_proto(msg: pb.Pose, edge: Edge, received_ns: int = 0) -> PoseIn:
    """Validate and convert a Pose; a pose's lens becomes the session's current lens."""
    if edge.tracked_camera:
        raise InvalidInput("pose", f"a Pose (frame_id {msg.frame_id})", "no Pose messages: this "
                           f"session watches tracked camera {edge.tracked_camera!r}, whose "
                           "tracker gives the poses")
    if not msg.HasField("position"):
        raise InvalidInput("pose.position", None, "a Vec3 (required)")
    if not msg.HasField("rotation"):
        raise InvalidInput("pose.rotation", None, "a Rotation (required)")
    if msg.capture_time_ns < 0:
        raise InvalidInput("pose.capture_time_ns", msg.capture_time_ns, ">= 0 ns (0 = unknown)")
    c2w = camera_to_canonical(edge.convention, edge.stage, msg.position, msg.rotation, "pose")
    k = edge.intrinsics
    if msg.HasField("lens"):
        k = lens_to_intrinsics(msg.lens, edge.convention, edge.width, edge.height, "pose.lens",
                               edge.bounds)
    if k is None:
        raise InvalidInput("pose.lens", None, "a lens in this pose or in Open.lens")
    tc = timecode_from_proto(msg.timecode, "pose.timecode") if msg.HasField("timecode") else None
    mask = None
    if msg.HasField("dynamic_mask"):
        mask = mask_from_proto(msg.dynamic_mask, edge.width, edge.height, edge.stride,
                               "pose.dynamic_mask")
    edge.intrinsics = k
    return PoseIn(msg.frame_id, msg.capture_time_ns, tc, c2w, edge.render_intrinsics(), mask,
                  received_ns)


def size_from_proto(size: pb.Size, field: str, bounds: ResolutionBounds) -> tuple[int, int]:
    """An output size: any size within the bounds. Frames are rendered on the next multiple of
    the latent stride (:meth:`Intrinsics.padded`) and cropped back when encoded."""
    bounds.check(int(size.width), int(size.height), field)
    return int(size.width), int(size.height)


def open_from_proto(msg: pb.Open, limits: Limits, stride: int, default_steps: int
                    ) -> tuple[OpenRequest, Edge]:
    """Validate an Open: the request for the core and the session's edge."""
    bounds = ResolutionBounds(stride, stride, limits.max_width, limits.max_height)
    which = msg.WhichOneof("world")
    tracked = text_field(msg.tracked_camera, "open.tracked_camera")
    if tracked:
        check_tracked_open(msg)
    elif which is None:
        raise InvalidInput("open.world", None, "world_id (an existing world), new_world, or "
                           "tracked_camera")
    if not msg.HasField("size"):
        raise InvalidInput("open.size", None, "the output size in pixels (required)")
    width, height = size_from_proto(msg.size, "open.size", bounds)
    encoding = _enum(msg.encoding, ENCODINGS, "open.encoding", pb.Encoding)
    quality = msg.jpeg_quality or 90
    if not 1 <= quality <= 100:
        raise InvalidInput("open.jpeg_quality", quality, "1..100 (0 = 90)")
    fps = msg.target_fps
    if not (math.isfinite(fps) and 0 <= fps <= limits.max_fps):
        raise InvalidInput("open.target_fps", fps, f"0..{limits.max_fps:g} frames per second "
                           "(0 = no budget)")
    steps = msg.sampler_steps or default_steps
    if not 1 <= steps <= 4:
        raise InvalidInput("open.sampler_steps", steps, "1..4 (0 = the model's default)")
    conv = _enum(msg.convention or (cpb.CONVENTION_OPENCV if tracked else 0), CONVENTIONS,
                 "open.convention", cpb.Convention)
    stage = stage_from_proto(conv, msg.stage, "open.stage")
    pacing = _enum(msg.pacing, PACINGS, "open.pacing", pb.Pacing)
    if msg.prediction not in (pb.PREDICTION_UNSPECIFIED, pb.PREDICTION_OFF, pb.PREDICTION_ON):
        raise InvalidInput("open.prediction", msg.prediction, "a Prediction value")
    predict = (pacing is Pacing.REALTIME if msg.prediction == pb.PREDICTION_UNSPECIFIED
               else msg.prediction == pb.PREDICTION_ON)
    latency = msg.display_latency_ms
    if not (math.isfinite(latency) and 0 <= latency <= 1000):
        raise InvalidInput("open.display_latency_ms", latency, "0..1000 milliseconds")
    edge = Edge(conv, stage, width, height, stride, bounds)
    if msg.HasField("lens"):
        edge.intrinsics = lens_to_intrinsics(msg.lens, conv, width, height, "open.lens", bounds)
    settings = StreamSettings(width, height, encoding, quality, fps, steps, msg.seed, pacing,
                              predict, latency / 1000, bottom_up=msg.bottom_up)
    if tracked:  # the service attaches the camera's world
        edge.tracked_camera = tracked
        request = OpenRequest(settings)
    elif which == "world_id":
        request = OpenRequest(settings, world_id=check_world_id(msg.world_id, "open.world_id"))
    else:
        spec = world_spec_from_proto(msg.new_world, "open.new_world", conv, bounds, stride,
                                     keep=msg.new_world.keep)
        request = OpenRequest(settings, new_world=spec)
    request = OpenRequest(request.settings, request.world_id, request.new_world,
                          text_field(msg.client_name, "open.client_name"))
    return request, edge


def check_tracked_open(msg: pb.Open) -> None:
    """An Open that watches a tracked camera takes its world and lens from the camera and its
    pace from the tracker: world, lens and LOCKSTEP are refused."""
    if msg.WhichOneof("world") is not None:
        raise InvalidInput(f"open.{msg.WhichOneof('world')}", "set", "unset: a session watching "
                           "open.tracked_camera renders that camera's world")
    if msg.HasField("lens"):
        raise InvalidInput("open.lens", "set", "unset: a tracked camera's lens comes from its "
                           "calibration and the tracker's zoom")
    if msg.pacing == pb.PACING_LOCKSTEP:
        raise InvalidInput("open.pacing", "PACING_LOCKSTEP", "PACING_REALTIME: a tracked camera "
                           "is paced by its tracker (latest pose wins)")


def tracked_camera_to_proto(info) -> pb.TrackedCameraInfo:
    """A :class:`~latentstage.runtime.tracking.TrackedCameraInfo` on the wire."""
    return pb.TrackedCameraInfo(name=info.name, world_id=info.world_id,
                                freed_camera_id=info.freed_camera_id, listen=info.listen,
                                packets=info.packets, dropped=info.dropped,
                                watchers=info.watchers)


def control_from_proto(msg: pb.Control, limits: Limits) -> ControlIn:
    steps = msg.sampler_steps or None
    if steps is not None and not 1 <= steps <= 4:
        raise InvalidInput("control.sampler_steps", steps, "1..4 (0 = unchanged)")
    fps = msg.target_fps if msg.HasField("target_fps") else None
    if fps is not None and not (math.isfinite(fps) and 0 <= fps <= limits.max_fps):
        raise InvalidInput("control.target_fps", fps, f"0..{limits.max_fps:g} (0 = no budget)")
    encoding = None
    if msg.encoding != pb.ENCODING_UNSPECIFIED:
        encoding = _enum(msg.encoding, ENCODINGS, "control.encoding", pb.Encoding)
    quality = msg.jpeg_quality or None
    if quality is not None and not 1 <= quality <= 100:
        raise InvalidInput("control.jpeg_quality", quality, "1..100 (0 = unchanged)")
    pause = msg.pause_writes if msg.HasField("pause_writes") else None
    name = msg.snapshot.name if msg.HasField("snapshot") else None
    if name:
        check_snapshot_name(name, "control.snapshot.name")
    return ControlIn(steps, fps, encoding, quality, pause, name)


# ----- worlds ----------------------------------------------------------------------------------
def world_spec_from_proto(spec: pb.WorldSpec, field: str, default_convention: Convention,
                          bounds: ResolutionBounds, stride: int, keep: bool = True) -> WorldSpec:
    """Validate a WorldSpec (decoding a seed image: call it off the event loop)."""
    spec_out = _world_spec(spec, field, default_convention, bounds, stride, keep)
    if spec.world_id:  # chosen by the client (routing by world)
        spec_out = dataclasses.replace(
            spec_out, world_id=check_world_id(spec.world_id, f"{field}.world_id"))
    return spec_out


def _world_spec(spec: pb.WorldSpec, field: str, default_convention: Convention,
                bounds: ResolutionBounds, stride: int, keep: bool) -> WorldSpec:
    which = spec.WhichOneof("source")
    name = text_field(spec.name, f"{field}.name")
    if which == "procedural":
        p = spec.procedural
        kind = _enum(p.kind, KINDS, f"{field}.procedural.kind", pb.WorldKind)
        if p.seed >= 2**63:
            raise InvalidInput(f"{field}.procedural.seed", p.seed, "< 2**63")
        return WorldSpec(ProceduralSource(int(p.seed), kind), name, keep)
    if which == "seed_image":
        return WorldSpec(_seed_image(spec.seed_image, f"{field}.seed_image", default_convention,
                                     bounds, stride), name, keep)
    if which == "snapshot":
        return WorldSpec(snapshot_from_proto(spec.snapshot, f"{field}.snapshot"), name, keep)
    if which == "empty":
        return WorldSpec(EmptySource(), name, keep)
    raise InvalidInput(f"{field}.source", None, "one of procedural, seed_image, snapshot, empty")


def snapshot_from_proto(ref: pb.SnapshotRef, field: str) -> SnapshotSource:
    which = ref.WhichOneof("ref")
    if which == "name":
        if not ref.name:
            raise InvalidInput(f"{field}.name", "", "a snapshot name (see ListWorlds)")
        return SnapshotSource(name=check_snapshot_name(ref.name, f"{field}.name"))
    if which == "data":
        if not ref.data:
            raise InvalidInput(f"{field}.data", "<0 bytes>", "a .safetensors snapshot file")
        return SnapshotSource(data=bytes(ref.data))
    raise InvalidInput(field, None, "a snapshot name or its bytes")


def _seed_image(msg: pb.SeedImage, field: str, default_convention: Convention,
                bounds: ResolutionBounds, stride: int) -> SeedImageSource:
    rgb = decode_image(msg.image, f"{field}.image", (bounds.max_width, bounds.max_height))
    h, w = rgb.shape[:2]
    bounds.check(w, h, f"{field}.image")
    if w % stride or h % stride:
        raise InvalidInput(f"{field}.image", f"{w}x{h}",
                           f"width and height multiples of the latent stride {stride}")
    depth = None
    if msg.HasField("depth"):
        d = msg.depth
        if (d.width, d.height) not in ((w, h), (w // stride, h // stride)):
            raise InvalidInput(f"{field}.depth", f"{d.width}x{d.height}",
                               f"the image size {w}x{h} or the latent size "
                               f"{w // stride}x{h // stride}")
        depth = decode_depth(d.data, d.width, d.height, f"{field}.depth", (w, h))
    conv = default_convention
    if msg.convention != cpb.CONVENTION_UNSPECIFIED:
        conv = _enum(msg.convention, CONVENTIONS, f"{field}.convention", cpb.Convention)
    stage = stage_from_proto(conv, msg.stage, f"{field}.stage")
    if msg.HasField("position") != msg.HasField("rotation"):
        raise InvalidInput(f"{field}.rotation", None, "position and rotation together, or neither")
    if msg.HasField("position"):
        c2w = camera_to_canonical(conv, stage, msg.position, msg.rotation, field)
    else:
        c2w = look_at([0.0, 0.0, 1.6], [1.0, 0.0, 1.6])
    if msg.HasField("lens"):
        k = lens_to_intrinsics(msg.lens, conv, w, h, f"{field}.lens", bounds)
    else:
        k = Intrinsics.from_fov(70.0, w, h)
    return SeedImageSource(rgb, depth, k, c2w)


# ----- to the wire -----------------------------------------------------------------------------
def matrix4(m: np.ndarray) -> cpb.Matrix4:
    return cpb.Matrix4(m=np.asarray(m, np.float64).reshape(-1).tolist())


def intrinsics_to_proto(k: Intrinsics | None) -> cpb.PixelIntrinsics:
    if k is None:
        return cpb.PixelIntrinsics()
    return cpb.PixelIntrinsics(fx=k.fx, fy=k.fy, cx=k.cx, cy=k.cy, width=k.width, height=k.height)


def memory_to_proto(m: MemoryInfo) -> pb.MemoryStats:
    return pb.MemoryStats(points=m.points, capacity=m.capacity, bytes=m.bytes,
                          used_bytes=m.used_bytes, evictions=m.evictions, writes=m.writes,
                          coverage=m.coverage)


def settings_to_proto(s: StreamSettings, convention: Convention) -> pb.SessionSettings:
    return pb.SessionSettings(
        size=pb.Size(width=s.width, height=s.height), encoding=ENCODING_PB[s.encoding],
        jpeg_quality=s.jpeg_quality, target_fps=s.target_fps, sampler_steps=s.steps, seed=s.seed,
        convention=CONVENTION_PB[convention],
        pacing=pb.PACING_LOCKSTEP if s.pacing is Pacing.LOCKSTEP else pb.PACING_REALTIME,
        prediction=pb.PREDICTION_ON if s.predict else pb.PREDICTION_OFF,
        writes_paused=s.writes_paused, bottom_up=s.bottom_up)


def frame_to_proto(f: FrameOut) -> pb.SessionResponse:
    t, img = f.timing, f.image
    frame = pb.Frame(
        frame_id=f.pose.frame_id, capture_time_ns=f.pose.capture_time_ns,
        rendered_c2w=matrix4(f.c2w),
        intrinsics=intrinsics_to_proto(f.pose.intrinsics.cropped(img.width, img.height)),
        image=pb.Image(encoding=ENCODING_PB[img.encoding], width=img.width, height=img.height,
                       stride=img.stride, data=img.data, bottom_up=img.bottom_up),
        timing=pb.Timing(queue_ms=t.queue * 1e3, readout_ms=t.readout * 1e3,
                         generate_ms=t.generate * 1e3, decode_ms=t.decode * 1e3,
                         write_ms=t.write * 1e3, encode_ms=t.encode * 1e3,
                         total_ms=t.total * 1e3),
        memory=memory_to_proto(f.memory), rung=RUNG_PB[f.rung], sampler_steps=f.steps,
        memory_written=f.written, poses_skipped=f.poses_skipped, frames_dropped=f.frames_dropped,
        predicted_ms=f.predicted_s * 1e3, sequence=f.sequence)
    if f.pose.timecode is not None:
        frame.timecode.CopyFrom(timecode_to_proto(f.pose.timecode))
    return pb.SessionResponse(frame=frame)


def event_to_proto(e: EventOut, convention: Convention) -> pb.SessionResponse:
    event = pb.Event(kind=EVENT_PB[e.kind], message=e.message, session_id=e.session_id,
                     world_id=e.world_id, frame_id=e.frame_id, count=e.count,
                     snapshot_name=e.snapshot_name)
    if e.rung is not None:
        event.rung = RUNG_PB[e.rung]
    if e.settings is not None:
        event.settings.CopyFrom(settings_to_proto(e.settings, convention))
    return pb.SessionResponse(event=event)


def error_to_proto(e: ErrorOut) -> pb.SessionResponse:
    return pb.SessionResponse(error=pb.Error(code=STATUS_NUMBERS.get(e.code, 13), field=e.field,
                                           message=e.message, frame_id=e.frame_id))


def message_to_proto(item, convention: Convention) -> pb.SessionResponse:
    """A frame, event or error from the session's outbound queue."""
    if isinstance(item, FrameOut):
        return frame_to_proto(item)
    if isinstance(item, EventOut):
        return event_to_proto(item, convention)
    return error_to_proto(item)


def world_info_to_proto(w: WorldInfo) -> pb.WorldInfo:
    return pb.WorldInfo(world_id=w.world_id, name=w.name, source=w.source, sessions=w.sessions,
                        keep=w.keep, memory=memory_to_proto(w.memory),
                        start_c2w=matrix4(w.start_c2w),
                        start_intrinsics=intrinsics_to_proto(w.start_intrinsics),
                        created_unix_ms=w.created_unix_ms)


def server_info_to_proto(info: ServerInfo) -> pb.ServerInfo:
    lim = info.limits
    return pb.ServerInfo(
        model_id=info.model_id, backend=info.backend, device=info.device,
        versions=info.versions,
        limits=pb.Limits(max_width=lim.max_width, max_height=lim.max_height,
                         max_sessions=lim.max_sessions, max_worlds=lim.max_worlds,
                         max_send_bytes=lim.max_send_bytes,
                         max_receive_bytes=lim.max_receive_bytes, max_fps=lim.max_fps,
                         min_sampler_steps=1, max_sampler_steps=4,
                         memory_capacity=lim.memory_capacity),
        conventions=sorted(CONVENTIONS), encodings=sorted(ENCODINGS),
        native_size=pb.Size(width=info.native_size[0], height=info.native_size[1]),
        latent_stride=info.latent_stride, default_sampler_steps=info.default_steps,
        sessions=info.sessions, worlds=info.worlds, auth_required=info.auth_required,
        protocol_revision=PROTOCOL_REVISION)
