"""ctypes binding of the native client library (``liblatentstage_client``, the C ABI in
``engine_bridge/native/include/latentstage/latentstage.h``).

It calls the library the way a host without C++ does (Unity's P/Invoke is the same shape):
blittable structs, opaque handles, a status per call and ``ls_last_error()``. No gRPC stack
of Python's own is involved::

    from latentstage.engine_bridge.native_client import NativeClient

    with NativeClient("127.0.0.1:50051") as client:
        with client.open_session(256, 256, lockstep=True, fov_deg=90) as session:
            session.submit_unreal(0, (0, 0, 170), (0, 90, 0))
            with session.acquire(timeout_ms=5000) as frame:
                bgra = frame.pixels()  # [H, W, 4] uint8 B, G, R, A (a copy)

The library is found through ``LATENTSTAGE_NATIVE_LIB`` (a file path), else in the repository's
``build/native`` (``make native-build`` puts it there).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

import numpy as np

ABI_VERSION = 1
STATUS_OK, STATUS_TIMEOUT = 0, 100
CONVENTIONS = {"opencv": 1, "opengl": 2, "unreal": 3, "unity": 4, "usd": 5, "blender": 6}
ENCODINGS = {"raw_rgb8": 1, "raw_rgba8": 2, "jpeg": 3, "raw_bgra8": 4}
WORLD_KINDS = {"empty": 0, "indoor": 1, "outdoor": 2}
STATES = {0: "opening", 1: "open", 2: "disconnected", 3: "closed"}
ROTATOR, QUATERNION, MATRIX, UNITY_EULER = 1, 2, 3, 4
LENS_FOV = 1


class NativeError(RuntimeError):
    """A call failed: ``status`` (ls_status value), ``name`` ("LS_NOT_FOUND") and the
    library's message (the field, the value and what was expected)."""

    def __init__(self, status: int, name: str, message: str, call: str):
        super().__init__(f"{call}: {name}: {message}")
        self.status, self.name, self.message = status, name, message


# ----- the header's structs, field for field ---------------------------------------------------
class Lens(Structure):
    _fields_ = [("kind", c_int32), ("fov_deg", c_double), ("fov_axis", c_int32),
                ("focal_length_mm", c_double), ("sensor_width_mm", c_double),
                ("sensor_height_mm", c_double), ("offset_x", c_double), ("offset_y", c_double),
                ("gate_fit", c_int32), ("fx", c_double), ("fy", c_double), ("cx", c_double),
                ("cy", c_double), ("calib_width", c_uint32), ("calib_height", c_uint32)]


class Timecode(Structure):
    _fields_ = [("valid", c_int32), ("hours", c_uint32), ("minutes", c_uint32),
                ("seconds", c_uint32), ("frames", c_uint32), ("rate_num", c_uint32),
                ("rate_den", c_uint32), ("drop_frame", c_int32)]


class ConnectOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("target", c_char_p), ("token", c_char_p),
                ("use_tls", c_int32), ("tls_roots_pem", c_char_p), ("timeout_ms", c_uint32)]


class ServerInfo(Structure):
    _fields_ = [("model_id", c_char * 128), ("backend", c_char * 32), ("device", c_char * 128),
                ("server_version", c_char * 32), ("protocol_revision", c_uint32),
                ("max_width", c_uint32), ("max_height", c_uint32), ("max_sessions", c_uint32),
                ("max_worlds", c_uint32), ("max_send_bytes", c_uint64),
                ("max_receive_bytes", c_uint64), ("max_fps", c_double),
                ("latent_stride", c_uint32), ("native_width", c_uint32),
                ("native_height", c_uint32), ("default_sampler_steps", c_uint32),
                ("sessions", c_uint32), ("worlds", c_uint32), ("auth_required", c_int32)]


class WorldInfo(Structure):
    _fields_ = [("world_id", c_char * 136), ("name", c_char * 136), ("source", c_char * 256),
                ("sessions", c_uint32), ("keep", c_int32), ("points", c_uint64),
                ("capacity", c_uint64), ("bytes", c_uint64), ("evictions", c_uint64),
                ("writes", c_uint64), ("created_unix_ms", c_int64)]


class SessionOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("world_id", c_char_p), ("tracked_camera", c_char_p),
                ("new_world_kind", c_int32), ("new_world_seed", c_uint64),
                ("new_world_keep", c_int32), ("width", c_uint32), ("height", c_uint32),
                ("encoding", c_int32), ("jpeg_quality", c_uint32), ("bottom_up", c_int32),
                ("convention", c_int32), ("lens", Lens), ("target_fps", c_double),
                ("sampler_steps", c_uint32), ("seed", c_uint64), ("pacing", c_int32),
                ("prediction", c_int32), ("display_latency_ms", c_double),
                ("client_name", c_char_p), ("frame_buffers", c_uint32),
                ("new_world_id", c_char_p), ("reconnect_timeout_ms", c_uint32)]


class Pose(Structure):
    _fields_ = [("struct_size", c_uint32), ("frame_id", c_uint64), ("capture_time_ns", c_int64),
                ("timecode", Timecode), ("position", c_double * 3),
                ("rotation_form", c_int32), ("rotator", c_double * 3),
                ("quaternion", c_double * 4), ("matrix", c_double * 9), ("lens", Lens)]


class Frame(Structure):
    _fields_ = [("pixels", c_void_p), ("size_bytes", c_size_t), ("width", c_uint32),
                ("height", c_uint32), ("stride", c_uint32), ("encoding", c_int32),
                ("bottom_up", c_int32), ("frame_id", c_uint64), ("capture_time_ns", c_int64),
                ("timecode", Timecode), ("rendered_c2w", c_double * 16), ("fx", c_double),
                ("fy", c_double), ("cx", c_double), ("cy", c_double), ("rung", c_int32),
                ("sampler_steps", c_uint32), ("memory_written", c_int32),
                ("sequence", c_uint64), ("poses_skipped", c_uint64),
                ("frames_dropped_server", c_uint64), ("predicted_ms", c_double),
                ("queue_ms", c_double), ("readout_ms", c_double), ("generate_ms", c_double),
                ("decode_ms", c_double), ("write_ms", c_double), ("encode_ms", c_double),
                ("total_ms", c_double), ("memory_points", c_uint64),
                ("memory_capacity", c_uint64), ("memory_bytes", c_uint64),
                ("memory_used_bytes", c_uint64), ("memory_evictions", c_uint64),
                ("memory_writes", c_uint64), ("memory_coverage", c_double),
                ("received_ns", c_int64)]


class SessionStats(Structure):
    _fields_ = [("state", c_int32), ("poses_submitted", c_uint64), ("poses_sent", c_uint64),
                ("poses_replaced", c_uint64), ("frames_received", c_uint64),
                ("frames_dropped", c_uint64), ("frames_dropped_server", c_uint64),
                ("poses_skipped_server", c_uint64), ("server_errors", c_uint64),
                ("reconnects", c_uint64), ("latency_p50_ms", c_double),
                ("latency_p95_ms", c_double), ("latency_p99_ms", c_double),
                ("frame_allocations", c_uint64), ("last_server_error", c_char * 256),
                ("session_id", c_char * 64), ("world_id", c_char * 136)]


STRUCTS = {"ls_lens": Lens, "ls_timecode": Timecode, "ls_connect_options": ConnectOptions,
           "ls_server_info": ServerInfo, "ls_world_info": WorldInfo,
           "ls_session_options": SessionOptions, "ls_pose": Pose, "ls_frame": Frame,
           "ls_session_stats": SessionStats}

_SIGNATURES = {  # name: (restype, argtypes)
    "ls_status_name": (c_char_p, [c_int32]),
    "ls_last_error": (c_char_p, []),
    "ls_version": (c_char_p, []),
    "ls_abi_version": (c_uint32, []),
    "ls_struct_size": (c_size_t, [c_char_p]),
    "ls_connect_options_init": (None, [POINTER(ConnectOptions)]),
    "ls_client_connect": (c_int32, [POINTER(ConnectOptions), POINTER(c_void_p)]),
    "ls_client_destroy": (c_int32, [c_void_p]),
    "ls_client_server_info": (c_int32, [c_void_p, POINTER(ServerInfo)]),
    "ls_world_create_procedural": (c_int32, [c_void_p, c_uint64, c_int32, c_char_p,
                                             POINTER(WorldInfo)]),
    "ls_world_create_empty": (c_int32, [c_void_p, c_char_p, POINTER(WorldInfo)]),
    "ls_world_delete": (c_int32, [c_void_p, c_char_p, c_int32]),
    "ls_session_options_init": (None, [POINTER(SessionOptions)]),
    "ls_session_open": (c_int32, [c_void_p, POINTER(SessionOptions), POINTER(c_void_p)]),
    "ls_session_get_state": (c_int32, [c_void_p]),
    "ls_session_reopen": (c_int32, [c_void_p]),
    "ls_session_close": (c_int32, [c_void_p]),
    "ls_pose_init": (None, [POINTER(Pose)]),
    "ls_session_submit_pose": (c_int32, [c_void_p, POINTER(Pose)]),
    "ls_session_submit_unreal": (c_int32, [c_void_p, c_uint64, c_int64, POINTER(c_double),
                                           POINTER(c_double)]),
    "ls_session_submit_unreal_quat": (c_int32, [c_void_p, c_uint64, c_int64,
                                                POINTER(c_double), POINTER(c_double)]),
    "ls_session_submit_unity": (c_int32, [c_void_p, c_uint64, c_int64, POINTER(c_double),
                                          POINTER(c_double)]),
    "ls_session_submit_matrix4": (c_int32, [c_void_p, c_uint64, c_int64, POINTER(c_double)]),
    "ls_session_acquire_frame": (c_int32, [c_void_p, c_uint32, POINTER(POINTER(Frame))]),
    "ls_session_release_frame": (c_int32, [c_void_p, POINTER(Frame)]),
    "ls_session_get_stats": (c_int32, [c_void_p, POINTER(SessionStats)]),
}


def default_library_path() -> Path:
    """``LATENTSTAGE_NATIVE_LIB``, else ``build/native/liblatentstage_client.so`` (``.dylib``,
    ``latentstage_client.dll``) of the repository this module lives in."""
    env = os.environ.get("LATENTSTAGE_NATIVE_LIB")
    if env:
        return Path(env)
    names = {"win32": "latentstage_client.dll", "darwin": "liblatentstage_client.dylib"}
    import sys

    name = names.get(sys.platform, "liblatentstage_client.so")
    return Path(__file__).resolve().parent.parent / "build" / "native" / name


def load_library(path: str | Path | None = None) -> ctypes.CDLL:
    """Load the library, declare every signature, and check its ABI version and that each
    struct here has the library's size (a layout mismatch fails here, not in a call)."""
    path = Path(path) if path is not None else default_library_path()
    if not path.is_file():
        raise FileNotFoundError(f"native library {path}: not found; build it with `make "
                                "native-build` or set LATENTSTAGE_NATIVE_LIB to its path")
    lib = ctypes.CDLL(str(path))
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    if lib.ls_abi_version() != ABI_VERSION:
        raise RuntimeError(f"{path}: ABI version {lib.ls_abi_version()}, expected {ABI_VERSION}")
    for cname, struct in STRUCTS.items():
        size = lib.ls_struct_size(cname.encode())
        if size != ctypes.sizeof(struct):
            raise RuntimeError(f"{cname}: the library's size is {size} bytes, this binding's "
                               f"{ctypes.sizeof(struct)}: the binding is out of date")
    return lib


def _doubles(values, n: int):
    values = [float(v) for v in values]
    if len(values) != n:
        raise ValueError(f"expected {n} numbers, got {len(values)}")
    return (c_double * n)(*values)


class _Native:
    """Calls into the library, raising NativeError on a failed status."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib

    def check(self, status: int, call: str) -> int:
        if status != STATUS_OK:
            raise NativeError(status, self.lib.ls_status_name(status).decode(),
                              self.lib.ls_last_error().decode(errors="replace"), call)
        return status


class NativeFrame:
    """An acquired frame; valid until :meth:`release` (or the end of a ``with`` block)."""

    def __init__(self, native: _Native, session_handle: c_void_p, ptr):
        self._n, self._session, self._ptr = native, session_handle, ptr
        self.info: Frame = ptr.contents  # the library's struct (read its fields)

    def __enter__(self) -> NativeFrame:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def view(self) -> np.ndarray:
        """The raw bytes as a uint8 array [size_bytes] viewing the library's buffer (no copy;
        invalid after release)."""
        buf = (c_uint8 * self.info.size_bytes).from_address(self.info.pixels)
        return np.frombuffer(buf, np.uint8)

    def pixels(self) -> np.ndarray:
        """A copy of the raw pixels [H, W, channels] uint8, rows as sent (see bottom_up)."""
        f = self.info
        channels = 3 if f.encoding == ENCODINGS["raw_rgb8"] else 4
        rows = self.view()[: f.stride * f.height].reshape(f.height, f.stride)
        return rows[:, : f.width * channels].reshape(f.height, f.width, channels).copy()

    def c2w(self) -> np.ndarray:
        """The canonical camera-to-world [4, 4] rendered."""
        return np.array(self.info.rendered_c2w[:], np.float64).reshape(4, 4)

    def release(self) -> None:
        if self._ptr is not None:  # allowed after the session is closed
            ptr, self._ptr = self._ptr, None
            self._n.check(self._n.lib.ls_session_release_frame(self._session, ptr),
                          "ls_session_release_frame")


class NativeSession:
    """A session handle; ``with`` closes it."""

    def __init__(self, native: _Native, handle: c_void_p):
        self._n, self._handle = native, handle

    def __enter__(self) -> NativeSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit_unreal(self, frame_id: int, location_cm, rotator_pyr_deg,
                      capture_time_ns: int = 0) -> None:
        self._n.check(self._n.lib.ls_session_submit_unreal(
            self._handle, frame_id, capture_time_ns, _doubles(location_cm, 3),
            _doubles(rotator_pyr_deg, 3)), "ls_session_submit_unreal")

    def submit_unreal_quat(self, frame_id: int, location_cm, quat_xyzw,
                           capture_time_ns: int = 0) -> None:
        self._n.check(self._n.lib.ls_session_submit_unreal_quat(
            self._handle, frame_id, capture_time_ns, _doubles(location_cm, 3),
            _doubles(quat_xyzw, 4)), "ls_session_submit_unreal_quat")

    def submit_unity(self, frame_id: int, position_m, quat_xyzw, capture_time_ns: int = 0) -> None:
        self._n.check(self._n.lib.ls_session_submit_unity(
            self._handle, frame_id, capture_time_ns, _doubles(position_m, 3),
            _doubles(quat_xyzw, 4)), "ls_session_submit_unity")

    def submit_matrix4(self, frame_id: int, c2w, capture_time_ns: int = 0) -> None:
        """A row-major, column-vector 4x4 in the session's convention."""
        m = np.asarray(c2w, np.float64).reshape(16)
        self._n.check(self._n.lib.ls_session_submit_matrix4(
            self._handle, frame_id, capture_time_ns, _doubles(m, 16)),
            "ls_session_submit_matrix4")

    def submit_pose(self, pose: Pose) -> None:
        self._n.check(self._n.lib.ls_session_submit_pose(self._handle, ctypes.byref(pose)),
                      "ls_session_submit_pose")

    def acquire(self, timeout_ms: int = 1000) -> NativeFrame | None:
        """The newest frame, or None when none arrived within ``timeout_ms``."""
        ptr = POINTER(Frame)()
        status = self._n.lib.ls_session_acquire_frame(self._handle, timeout_ms,
                                                      ctypes.byref(ptr))
        if status == STATUS_TIMEOUT:
            return None
        self._n.check(status, "ls_session_acquire_frame")
        return NativeFrame(self._n, self._handle, ptr)

    def frame_for(self, frame_id: int, timeout_ms: int = 60000) -> NativeFrame:
        """Acquire until the frame echoing ``frame_id`` (earlier ones are released)."""
        import time

        until = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < until:
            frame = self.acquire(200)
            if frame is None:
                continue
            if frame.info.frame_id == frame_id:
                return frame
            frame.release()
        raise TimeoutError(f"frame {frame_id}: not received within {timeout_ms} ms")

    @property
    def state(self) -> str:
        return STATES.get(self._n.lib.ls_session_get_state(self._handle), "closed")

    def stats(self) -> SessionStats:
        out = SessionStats()
        self._n.check(self._n.lib.ls_session_get_stats(self._handle, ctypes.byref(out)),
                      "ls_session_get_stats")
        return out

    def reopen(self) -> None:
        self._n.check(self._n.lib.ls_session_reopen(self._handle), "ls_session_reopen")

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._n.lib.ls_session_close(handle)


class NativeClient:
    """A connected client (``ls_client_connect``); ``with`` destroys it."""

    def __init__(self, target: str, *, token: str | None = None, timeout_ms: int = 10000,
                 tls: bool = False, tls_roots_pem: bytes | None = None,
                 library: str | Path | ctypes.CDLL | None = None):
        """``tls_roots_pem`` (PEM bytes) implies TLS; ``tls=True`` alone uses system roots."""
        lib = library if isinstance(library, ctypes.CDLL) else load_library(library)
        self._n = _Native(lib)
        opts = ConnectOptions()
        lib.ls_connect_options_init(ctypes.byref(opts))
        keep = [target.encode(), token.encode() if token else None, tls_roots_pem]
        opts.target, opts.token, opts.tls_roots_pem = keep
        opts.use_tls, opts.timeout_ms = int(tls or tls_roots_pem is not None), timeout_ms
        handle = c_void_p()
        self._n.check(lib.ls_client_connect(ctypes.byref(opts), ctypes.byref(handle)),
                      "ls_client_connect")
        self._handle = handle

    def __enter__(self) -> NativeClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._n.lib.ls_client_destroy(handle)

    def server_info(self) -> ServerInfo:
        out = ServerInfo()
        self._n.check(self._n.lib.ls_client_server_info(self._handle, ctypes.byref(out)),
                      "ls_client_server_info")
        return out

    def create_world(self, seed: int, kind: str = "outdoor", name: str = "") -> WorldInfo:
        out = WorldInfo()
        self._n.check(self._n.lib.ls_world_create_procedural(
            self._handle, seed, WORLD_KINDS[kind], name.encode(), ctypes.byref(out)),
            "ls_world_create_procedural")
        return out

    def delete_world(self, world_id: str, force: bool = False) -> None:
        self._n.check(self._n.lib.ls_world_delete(self._handle, world_id.encode(), int(force)),
                      "ls_world_delete")

    def open_session(self, width: int, height: int, *, convention: str = "unreal",
                     encoding: str = "raw_bgra8", lockstep: bool = False,
                     fov_deg: float | None = None, world_id: str | None = None,
                     new_world: tuple[str, int] = ("empty", 0), keep_world: bool = False,
                     bottom_up: bool = False, frame_buffers: int = 3, seed: int = 0,
                     tracked_camera: str | None = None,
                     client_name: str = "latentstage-native-ctypes") -> NativeSession:
        """Open a session (``fov_deg``: horizontal field of view of every pose). With
        ``tracked_camera`` the session watches that FreeD-tracked camera and sends no poses."""
        o = SessionOptions()
        self._n.lib.ls_session_options_init(ctypes.byref(o))
        keep = [world_id.encode() if world_id else None, client_name.encode(),
                tracked_camera.encode() if tracked_camera else None]
        o.world_id, o.client_name, o.tracked_camera = keep
        o.new_world_kind, o.new_world_seed = WORLD_KINDS[new_world[0]], new_world[1]
        o.new_world_keep, o.width, o.height = int(keep_world), width, height
        o.encoding, o.convention = ENCODINGS[encoding], CONVENTIONS[convention]
        o.pacing, o.bottom_up, o.frame_buffers, o.seed = (2 if lockstep else 1), int(bottom_up), \
            frame_buffers, seed
        if fov_deg is not None:
            o.lens.kind, o.lens.fov_deg, o.lens.fov_axis = LENS_FOV, fov_deg, 1
        handle = c_void_p()
        self._n.check(self._n.lib.ls_session_open(self._handle, ctypes.byref(o),
                                                  ctypes.byref(handle)), "ls_session_open")
        return NativeSession(self._n, handle)
