/*
 * LatentStage native client: the C ABI that engines (Unreal, Unity), trackers and tools call.
 *
 * One native core does the protocol once (gRPC C++ inside; no gRPC or protobuf type appears
 * here), so no plug-in carries its own gRPC stack. Shape borrowed from SQLite and disguise
 * RenderStream: opaque handles, one status code per call, a thread-local error message.
 *
 * Rules that hold for every function:
 *  - Every function returns an ls_status (except the few that return a string or a number),
 *    never throws, and never aborts the process. On failure ls_last_error() names the field,
 *    the value and what was expected, in the same words the server uses for server errors.
 *  - Every function is thread-safe. Handles may be used from any thread.
 *  - Handles (ls_client*, ls_session*) are opaque ids, never dereferenced by the caller and
 *    never reused: a call with a destroyed or closed handle returns LS_CLOSED, a made-up one
 *    LS_INVALID_ARGUMENT, instead of crashing. ls_frame* is a real pointer (read its fields).
 *  - Strings in are UTF-8, NUL-terminated, owned by the caller and copied before return.
 *    Strings out (ls_last_error, ls_status_name, ls_version) are owned by the library.
 *  - Structs passed in start with `struct_size` where they may grow: initialise them with
 *    their *_init function, which sets every field to its default and struct_size to
 *    sizeof(the struct), so code built against an older header keeps working.
 *  - Conventions (see proto/latentstage/v1/camera.proto): canonical is right-handed, Z up,
 *    metres, camera-to-world with OpenCV camera axes (x right, y down, z forward). Unreal is
 *    left-handed, Z up, centimetres, FRotator degrees or FQuat. Unity is left-handed, Y up,
 *    metres, Quaternion. Matrices here are ROW-MAJOR with column vectors (p_world = M p):
 *    an Unreal FMatrix copied in memory order is the transpose, so Unreal poses take a rotator
 *    or a quaternion, never a matrix.
 */
#ifndef LATENTSTAGE_H
#define LATENTSTAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version: bumped on any incompatible change to this header's types or functions. */
#define LS_ABI_VERSION 1
/* Library version (semantic). */
#define LS_VERSION_MAJOR 0
#define LS_VERSION_MINOR 3
#define LS_VERSION_PATCH 0
/* Wire revision of latentstage.v1 this library speaks (ServerInfo.protocol_revision). */
#define LS_PROTOCOL_REVISION 2

#if defined(_WIN32)
#  if defined(LATENTSTAGE_BUILD_SHARED)
#    define LS_API __declspec(dllexport)
#  elif defined(LATENTSTAGE_USE_SHARED)
#    define LS_API __declspec(dllimport)
#  else
#    define LS_API
#  endif
#else
#  define LS_API __attribute__((visibility("default")))
#endif

/* ----- status codes ----------------------------------------------------------------------- */
/* Server-side failures keep their gRPC status numbers; library-side ones start at 100. */
typedef enum ls_status {
  LS_OK = 0,
  LS_CANCELLED = 1,             /* the call was cancelled (client or session destroyed) */
  LS_INVALID_ARGUMENT = 3,      /* a bad argument, here or at the server (field named) */
  LS_DEADLINE_EXCEEDED = 4,     /* a unary call outlived the client's timeout */
  LS_NOT_FOUND = 5,             /* unknown world id, snapshot or tracked camera */
  LS_ALREADY_EXISTS = 6,        /* e.g. a snapshot name that exists (no overwrite asked) */
  LS_RESOURCE_EXHAUSTED = 8,    /* server caps (sessions, worlds) or message size limits */
  LS_FAILED_PRECONDITION = 9,   /* e.g. a snapshot of another model; a closed session */
  LS_UNIMPLEMENTED = 12,        /* the server lacks the RPC (an older server) */
  LS_INTERNAL = 13,             /* a bug: please report ls_last_error() */
  LS_UNAVAILABLE = 14,          /* no server at the target, or it is shutting down */
  LS_UNAUTHENTICATED = 16,      /* a missing or wrong bearer token */
  LS_TIMEOUT = 100,             /* no frame arrived within the timeout (not an error) */
  LS_DISCONNECTED = 101,        /* the session's stream broke; ls_session_reopen() it */
  LS_CLOSED = 102,              /* the session was closed (by the caller or the server) */
  LS_BUSY = 103                 /* LOCKSTEP: the pose queue is full; submit again later */
} ls_status;

/* Name of a status ("LS_OK", "LS_TIMEOUT", ...); "LS_UNKNOWN" for other values. */
LS_API const char* ls_status_name(ls_status status);

/* The calling thread's message for its last failed call ("" if none). Valid until the same
 * thread's next call into the library. Names the field, the value and what was expected, in
 * the server's words, e.g. "session_options.width: got 5000, expected 1..3840 pixels (the
 * server's max_width)"; the server's own messages (status and Error) are passed verbatim. */
LS_API const char* ls_last_error(void);

/* "0.3.0" (library version). */
LS_API const char* ls_version(void);
/* LS_ABI_VERSION of the library actually loaded: compare with the header's. */
LS_API uint32_t ls_abi_version(void);
/* sizeof(struct) in the loaded library, by name without "struct" ("ls_frame", "ls_pose",
 * "ls_session_options", "ls_session_stats", "ls_server_info", "ls_world_info",
 * "ls_connect_options", "ls_lens", "ls_timecode"); 0 for other names. For bindings that
 * declare the structs themselves (P/Invoke, ctypes) to check their layout. Added in 0.2.0. */
LS_API size_t ls_struct_size(const char* name);

/* ----- enums (values equal the proto's) --------------------------------------------------- */
typedef enum ls_convention {
  LS_CONVENTION_OPENCV = 1,   /* canonical: RH, Z up, metres; camera x right, y down, z fwd */
  LS_CONVENTION_OPENGL = 2,   /* RH, Y up; camera looks down -Z */
  LS_CONVENTION_UNREAL = 3,   /* LH, Z up, centimetres; FRotator / FQuat */
  LS_CONVENTION_UNITY = 4,    /* LH, Y up, metres; Quaternion; fieldOfView is vertical */
  LS_CONVENTION_USD = 5,      /* as OpenGL, stage upAxis and metersPerUnit */
  LS_CONVENTION_BLENDER = 6   /* RH, Z up; camera looks down -Z */
} ls_convention;

typedef enum ls_encoding {
  LS_ENCODING_RAW_RGB8 = 1,   /* 3 bytes/pixel R, G, B */
  LS_ENCODING_RAW_RGBA8 = 2,  /* 4 bytes/pixel R, G, B, A=255 */
  LS_ENCODING_JPEG = 3,       /* a JPEG file (the library does not decode it) */
  LS_ENCODING_RAW_BGRA8 = 4   /* 4 bytes/pixel B, G, R, A=255: PF_B8G8R8A8, BGRA32 */
} ls_encoding;

typedef enum ls_pacing {
  LS_PACING_REALTIME = 1,     /* latest pose wins; frames may degrade to fit target_fps */
  LS_PACING_LOCKSTEP = 2      /* every pose rendered in order at full quality */
} ls_pacing;

typedef enum ls_rung {
  LS_RUNG_FULL = 1,           /* the requested sampler steps, memory written */
  LS_RUNG_FEWER_STEPS = 2,    /* fewer sampler steps, memory written */
  LS_RUNG_SKIP_WRITE = 3,     /* one sampler step, memory not written */
  LS_RUNG_MEMORY_ONLY = 4     /* no generator: the memory readout decoded */
} ls_rung;

typedef enum ls_world_kind {
  LS_WORLD_EMPTY = 0,         /* nothing yet: the first frames generate from scratch */
  LS_WORLD_INDOOR = 1,        /* procedural rooms */
  LS_WORLD_OUTDOOR = 2        /* procedural ground, objects, mountains and sky */
} ls_world_kind;

typedef enum ls_session_state {
  LS_SESSION_OPENING = 0,     /* Open sent, waiting for the server */
  LS_SESSION_OPEN = 1,        /* streaming */
  LS_SESSION_DISCONNECTED = 2,/* the stream broke (server lost, network); reopen to resume */
  LS_SESSION_CLOSED = 3       /* closed by ls_session_close or by the server */
} ls_session_state;

/* ----- lens ------------------------------------------------------------------------------ */
typedef enum ls_lens_kind {
  LS_LENS_NONE = 0,           /* no lens here (a pose uses the session's) */
  LS_LENS_FOV = 1,            /* fov_deg about fov_axis */
  LS_LENS_PHYSICAL = 2,       /* focal length and sensor, mm (CineCamera / physical camera) */
  LS_LENS_PIXELS = 3          /* calibrated pinhole fx, fy, cx, cy in pixels */
} ls_lens_kind;

typedef struct ls_lens {
  int32_t kind;               /* ls_lens_kind */
  double fov_deg;             /* FOV: full angle, degrees, (0, 180) */
  int32_t fov_axis;           /* FOV: 0 = the convention's own (Unity vertical, else
                                 horizontal), 1 horizontal, 2 vertical, 3 diagonal */
  double focal_length_mm;     /* PHYSICAL: > 0 */
  double sensor_width_mm;     /* PHYSICAL: filmback / sensorSize width, > 0 */
  double sensor_height_mm;    /* PHYSICAL: > 0 */
  double offset_x;            /* PHYSICAL: Unreal filmback offset mm; Unity lensShift.x */
  double offset_y;            /* PHYSICAL: likewise y */
  int32_t gate_fit;           /* PHYSICAL, Unity: 0/1 horizontal, 2 vertical, 3 none */
  double fx, fy, cx, cy;      /* PIXELS: pixels, OpenCV pixel centres */
  uint32_t calib_width;       /* PIXELS: calibration size; 0 = the output size */
  uint32_t calib_height;
} ls_lens;

/* ----- time ------------------------------------------------------------------------------ */
typedef struct ls_timecode {
  int32_t valid;              /* 0 = no timecode */
  uint32_t hours, minutes, seconds, frames;
  uint32_t rate_num, rate_den; /* frame rate, e.g. 30000/1001 */
  int32_t drop_frame;         /* only with 30000/1001 or 60000/1001 */
} ls_timecode;

/* ----- client ---------------------------------------------------------------------------- */
typedef struct ls_client ls_client;

typedef struct ls_connect_options {
  uint32_t struct_size;       /* sizeof(ls_connect_options) (set by _init) */
  const char* target;         /* "host:port"; required */
  const char* token;          /* bearer token, or NULL for none */
  int32_t use_tls;            /* 0 = plaintext; 1 = TLS */
  const char* tls_roots_pem;  /* TLS: PEM root certificates, or NULL for the system roots */
  uint32_t timeout_ms;        /* connect and unary-call deadline; default 10000 */
} ls_connect_options;

LS_API void ls_connect_options_init(ls_connect_options* options);

/* Connect and read the server's info (message limits come from it: frames up to
 * limits.max_send_bytes are received; 1080p raw frames need more than gRPC's 4 MiB default).
 * Fails with LS_UNAVAILABLE when nothing answers within timeout_ms, LS_FAILED_PRECONDITION for
 * a server of another protocol revision. *out is set on success only. */
LS_API ls_status ls_client_connect(const ls_connect_options* options, ls_client** out);

/* Destroy a client. Sessions opened from it are cancelled and freed (their threads joined):
 * their handles become invalid (calls on them return LS_CLOSED; ls_session_close on them is
 * harmless). Frames still acquired stay readable until released. Unary calls in flight on
 * other threads return LS_CANCELLED. Safe on NULL. Never hangs longer than about the
 * client's timeout. */
LS_API ls_status ls_client_destroy(ls_client* client);

typedef struct ls_server_info {
  char model_id[128];         /* weights id */
  char backend[32];           /* "torch", "onnxruntime", "tensorrt" */
  char device[128];           /* e.g. "cpu", "cuda:0 (NVIDIA H100)" */
  char server_version[32];    /* latentstage version of the server */
  uint32_t protocol_revision; /* ServerInfo.protocol_revision */
  uint32_t max_width, max_height;  /* pixels */
  uint32_t max_sessions, max_worlds;
  uint64_t max_send_bytes;    /* largest message the server sends */
  uint64_t max_receive_bytes; /* largest message the server accepts */
  double max_fps;
  uint32_t latent_stride;     /* image pixels per latent pixel */
  uint32_t native_width, native_height;  /* the model's training size */
  uint32_t default_sampler_steps;
  uint32_t sessions, worlds;  /* open / held now */
  int32_t auth_required;
} ls_server_info;

/* A fresh GetServerInfo. */
LS_API ls_status ls_client_server_info(ls_client* client, ls_server_info* out);

/* ----- worlds ---------------------------------------------------------------------------- */
typedef struct ls_world_info {
  char world_id[136];         /* use in ls_session_options.world_id */
  char name[136];             /* label */
  char source[256];           /* e.g. "procedural seed=7 kind=outdoor" */
  uint32_t sessions;          /* attached now */
  int32_t keep;               /* stays after its last session leaves */
  uint64_t points, capacity;  /* memory points stored / maximum */
  uint64_t bytes;             /* memory bytes held */
  uint64_t evictions, writes;
  int64_t created_unix_ms;
} ls_world_info;

LS_API ls_status ls_world_create_procedural(ls_client* client, uint64_t seed,
                                            ls_world_kind kind, const char* name,
                                            ls_world_info* out);
LS_API ls_status ls_world_create_empty(ls_client* client, const char* name, ls_world_info* out);
/* A world seeded from a PNG or JPEG image (its sides multiples of the latent stride), with
 * optional depth (depth_width * depth_height float32 metres along the optical axis, at the
 * image or latent size; NULL = estimated) and optional seed lens (NULL = 70 degrees
 * horizontal). The seed camera is the canonical default (1.6 m up, looking along +X). */
LS_API ls_status ls_world_create_from_image(ls_client* client, const uint8_t* image,
                                            size_t image_size, const float* depth,
                                            uint32_t depth_width, uint32_t depth_height,
                                            const ls_lens* lens, const char* name,
                                            ls_world_info* out);
/* Save a world's memory as a named snapshot on the server. name NULL or "" = server's choice;
 * out_name (capacity out_name_size, may be NULL) receives the name used; out_bytes the size. */
LS_API ls_status ls_world_save(ls_client* client, const char* world_id, const char* name,
                               char* out_name, size_t out_name_size, uint64_t* out_bytes);
/* A new world from a named snapshot on the server. */
LS_API ls_status ls_world_load(ls_client* client, const char* snapshot_name, const char* label,
                               ls_world_info* out);
/* A world whose id the client chooses (placement behind a proxy routing by world): kind
 * LS_WORLD_EMPTY, or LS_WORLD_INDOOR / LS_WORLD_OUTDOOR with a procedural seed. An id in use
 * is LS_FAILED_PRECONDITION. Added in 0.3.0. */
LS_API ls_status ls_world_create_with_id(ls_client* client, const char* world_id,
                                         ls_world_kind kind, uint64_t seed, const char* name,
                                         ls_world_info* out);
/* force = 0 refuses a world that sessions still use (LS_FAILED_PRECONDITION). */
LS_API ls_status ls_world_delete(ls_client* client, const char* world_id, int32_t force);
/* Fills up to `capacity` worlds; *count receives how many the server holds (may exceed
 * capacity: call again with a larger array). */
LS_API ls_status ls_world_list(ls_client* client, ls_world_info* out, size_t capacity,
                               size_t* count);

/* ----- sessions -------------------------------------------------------------------------- */
typedef struct ls_session ls_session;

typedef struct ls_session_options {
  uint32_t struct_size;       /* sizeof(ls_session_options) (set by _init) */
  /* Which world, exactly one of: world_id (attach), tracked_camera (watch a tracker-driven
   * camera; no poses are sent), or neither (a new world of new_world_kind / seed, freed when
   * the session ends unless new_world_keep). */
  const char* world_id;
  const char* tracked_camera;
  int32_t new_world_kind;     /* ls_world_kind; default LS_WORLD_EMPTY */
  uint64_t new_world_seed;    /* procedural seed */
  int32_t new_world_keep;     /* keep the new world after the session */
  uint32_t width, height;     /* output size, pixels; any size within the server's limits */
  int32_t encoding;           /* ls_encoding; default LS_ENCODING_RAW_BGRA8 */
  uint32_t jpeg_quality;      /* 1..100; default 90 */
  int32_t bottom_up;          /* raw rows bottom to top (Unity); default 0 */
  int32_t convention;         /* ls_convention of submitted poses; default LS_CONVENTION_UNREAL */
  ls_lens lens;               /* lens for poses that carry none; kind NONE = every pose has one */
  double target_fps;          /* frame budget 1/target_fps; 0 = none */
  uint32_t sampler_steps;     /* 1..4; 0 = the model's default */
  uint64_t seed;              /* noise seed */
  int32_t pacing;             /* ls_pacing; default LS_PACING_REALTIME */
  int32_t prediction;         /* -1 = default (on for realtime), 0 off, 1 on */
  double display_latency_ms;  /* client display pipeline latency, 0..1000 */
  const char* client_name;    /* for server logs; default "latentstage-native" */
  uint32_t frame_buffers;     /* frames in the reused ring, 2..16; default 3 */
  /* Added in 0.3.0 (scale-out, docs/scale-out.md); callers built against 0.2 pass a smaller
   * struct_size and get NULL and 0. */
  /* A new world's id chosen by the client (1..64 of A-Z a-z 0-9 . _ -), so that a proxy
   * routing by world (header x-latentstage-world, set by the library on every call that
   * concerns a world) places it before it exists; NULL or "" = the server picks one. */
  const char* new_world_id;
  /* When the stream breaks (the worker was lost, a proxy reset the stream, the server shut
   * down), reopen it by itself on the same world (as ls_session_reopen) with backoff (50 ms
   * doubling to 2 s) for up to this long: the state goes DISCONNECTED, then OPEN again, and
   * ls_session_stats.reconnects counts it. 0 = never (reopen by hand). Default 30000. */
  uint32_t reconnect_timeout_ms;
} ls_session_options;

LS_API void ls_session_options_init(ls_session_options* options);

/* Open a session and wait (up to the client's timeout) for the server to accept it.
 * The reader thread starts here; frames are received into a reused ring of frame_buffers
 * buffers, each sized for the largest frame of this session, so steady state allocates
 * nothing. *out is set on success only. */
LS_API ls_status ls_session_open(ls_client* client, const ls_session_options* options,
                                 ls_session** out);

/* Current state; never blocks. */
LS_API ls_session_state ls_session_get_state(ls_session* session);

/* After LS_SESSION_DISCONNECTED: open a new stream with the same options, attached to the
 * same world (by the id the server gave it). Fails with the server's status if the world is
 * gone (LS_NOT_FOUND; the session stays DISCONNECTED): a new world that is not kept
 * (new_world_keep = 0) is freed with its last stream, so to survive a lost connection attach
 * to a created world or set new_world_keep. Poses not yet sent are discarded. Frames still
 * acquired stay valid. Any other state is LS_INVALID_ARGUMENT. */
LS_API ls_status ls_session_reopen(ls_session* session);

/* Close: send Close, wait (up to the client's timeout) for the in-flight frame, join the
 * reader, free the session. LOCKSTEP poses not yet sent are discarded. Frames still acquired
 * stay readable until released. Safe on NULL. The handle is invalid afterwards (LS_CLOSED). */
LS_API ls_status ls_session_close(ls_session* session);

typedef enum ls_rotation_form {
  LS_ROTATION_ROTATOR = 1,    /* Unreal FRotator: rotator = {pitch, yaw, roll} degrees */
  LS_ROTATION_QUATERNION = 2, /* quaternion = {x, y, z, w} in the convention's axes
                                 (Unreal FQuat, Unity Quaternion) */
  LS_ROTATION_MATRIX = 3,     /* matrix = 3x3 row-major, column-vector; not for Unreal */
  LS_ROTATION_UNITY_EULER = 4 /* Unity Quaternion.Euler(x, y, z) degrees: rotator = {x, y, z} */
} ls_rotation_form;

typedef struct ls_pose {
  uint32_t struct_size;       /* sizeof(ls_pose) (set by _init) */
  uint64_t frame_id;          /* the engine's frame number; echoed; selects the frame noise */
  int64_t capture_time_ns;    /* monotonic capture time; 0 = now (the library's steady clock) */
  ls_timecode timecode;       /* optional SMPTE label; echoed */
  double position[3];         /* in the session's convention units (cm Unreal, m Unity) */
  int32_t rotation_form;      /* ls_rotation_form */
  double rotator[3];          /* ROTATOR / UNITY_EULER, degrees */
  double quaternion[4];       /* QUATERNION, x y z w */
  double matrix[9];           /* MATRIX, row-major */
  ls_lens lens;               /* kind NONE = the session's current lens */
} ls_pose;

LS_API void ls_pose_init(ls_pose* pose);

/* Submit a pose. Never blocks on the network: REALTIME keeps only the newest unsent pose
 * (replaced ones are counted in stats.poses_replaced); LOCKSTEP queues up to 64 poses and
 * returns LS_BUSY when full. Fails with LS_DISCONNECTED / LS_CLOSED on a dead session, and
 * LS_FAILED_PRECONDITION on a session watching a tracked camera. */
LS_API ls_status ls_session_submit_pose(ls_session* session, const ls_pose* pose);

/* Convenience forms of ls_session_submit_pose for the engines' own types. */
LS_API ls_status ls_session_submit_unreal(ls_session* session, uint64_t frame_id,
                                          int64_t capture_time_ns, const double location_cm[3],
                                          const double rotator_pyr_deg[3]);
LS_API ls_status ls_session_submit_unreal_quat(ls_session* session, uint64_t frame_id,
                                               int64_t capture_time_ns,
                                               const double location_cm[3],
                                               const double quat_xyzw[4]);
LS_API ls_status ls_session_submit_unity(ls_session* session, uint64_t frame_id,
                                         int64_t capture_time_ns, const double position_m[3],
                                         const double quat_xyzw[4]);
/* A 4x4 camera-to-world in the session's convention: ROW-MAJOR, column vectors (translation
 * in m[3], m[7], m[11]; last row 0 0 0 1, else LS_INVALID_ARGUMENT). With LS_CONVENTION_OPENCV
 * this is the canonical pose. Refused for Unreal (an FMatrix in memory order is the
 * transpose). Added in 0.2.0 (ABI 1). */
LS_API ls_status ls_session_submit_matrix4(ls_session* session, uint64_t frame_id,
                                           int64_t capture_time_ns, const double m[16]);

/* A received frame. Everything it points to is owned by the library and stays valid until
 * ls_session_release_frame; the pixels are never written while the frame is acquired. */
typedef struct ls_frame {
  const uint8_t* pixels;      /* raw rows (stride bytes apart) or a JPEG file */
  size_t size_bytes;          /* bytes at pixels */
  uint32_t width, height;     /* pixels, exactly the size asked for */
  uint32_t stride;            /* raw: bytes per row; JPEG: 0 */
  int32_t encoding;           /* ls_encoding */
  int32_t bottom_up;          /* raw: the first row is the image's bottom row */
  uint64_t frame_id;          /* echoed */
  int64_t capture_time_ns;    /* echoed */
  ls_timecode timecode;       /* echoed (valid = 0 if the pose had none) */
  double rendered_c2w[16];    /* canonical camera-to-world rendered, row-major */
  double fx, fy, cx, cy;      /* intrinsics rendered, pixels */
  int32_t rung;               /* ls_rung */
  uint32_t sampler_steps;     /* steps run */
  int32_t memory_written;
  uint64_t sequence;          /* 1, 2, 3... frames the server rendered for this session */
  uint64_t poses_skipped;     /* server side, this session so far */
  uint64_t frames_dropped_server; /* dropped by the server for a slow reader, so far */
  double predicted_ms;        /* pose extrapolation horizon */
  /* timing, milliseconds */
  double queue_ms, readout_ms, generate_ms, decode_ms, write_ms, encode_ms, total_ms;
  /* the world's memory after this frame */
  uint64_t memory_points, memory_capacity, memory_bytes, memory_used_bytes;
  uint64_t memory_evictions, memory_writes;
  double memory_coverage;     /* 0..1 of this frame's latent pixels */
  int64_t received_ns;        /* the library's steady clock when the frame arrived */
} ls_frame;

/* The newest frame not yet acquired, waiting up to timeout_ms (0 = poll). Older frames the
 * caller never acquired are dropped and counted (stats.frames_dropped). Returns LS_TIMEOUT
 * when none arrives, LS_DISCONNECTED / LS_CLOSED when none will. At most frame_buffers - 1
 * frames may be acquired at once (LS_BUSY beyond). */
LS_API ls_status ls_session_acquire_frame(ls_session* session, uint32_t timeout_ms,
                                          const ls_frame** out);
/* Give a frame's buffer back to the ring. A frame released twice, or not from this session,
 * is LS_INVALID_ARGUMENT. Allowed after ls_session_close / ls_client_destroy (frees it). */
LS_API ls_status ls_session_release_frame(ls_session* session, const ls_frame* frame);

typedef struct ls_session_stats {
  int32_t state;              /* ls_session_state */
  uint64_t poses_submitted;   /* accepted by ls_session_submit_* */
  uint64_t poses_sent;        /* written to the stream */
  uint64_t poses_replaced;    /* REALTIME: replaced before they were sent */
  uint64_t frames_received;
  uint64_t frames_dropped;    /* received but replaced before the caller acquired them */
  uint64_t frames_dropped_server;  /* the server's count (slow reader) */
  uint64_t poses_skipped_server;   /* the server's count (latest pose wins) */
  uint64_t server_errors;     /* Error messages (a bad pose; the stream carried on) */
  uint64_t reconnects;        /* successful ls_session_reopen calls */
  double latency_p50_ms;      /* pose submitted -> its frame received, over the last 256 */
  double latency_p95_ms;
  double latency_p99_ms;
  uint64_t frame_allocations; /* buffer (re)allocations since open: flat in steady state */
  char last_server_error[256];/* the last Error's message ("" if none) */
  char session_id[64];        /* the server's id for this session */
  char world_id[136];         /* the world it is attached to */
} ls_session_stats;

LS_API ls_status ls_session_get_stats(ls_session* session, ls_session_stats* out);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* LATENTSTAGE_H */
