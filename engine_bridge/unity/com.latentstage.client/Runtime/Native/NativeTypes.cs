// Blittable mirrors of the types in latentstage.h (engine_bridge/native/include/latentstage).
//
// Every struct here is LayoutKind.Sequential with the header's field order, names and C types
// (int32_t -> int, uint32_t -> uint, uint64_t -> ulong, size_t -> UIntPtr, pointers -> IntPtr,
// char[N] / double[N] -> fixed buffers), so the runtime lays it out exactly as a C compiler
// does on the 64-bit targets the package supports. tests/unity checks every offset and size
// against the header with a C compiler. Field names keep the header's spelling on purpose:
// these structs are the raw ABI; LatentStageClient / LatentStageSession are the managed API.
using System;
using System.Runtime.InteropServices;

namespace LatentStage.Native
{
    /// <summary>ls_status: server failures keep their gRPC numbers; library ones start at 100.</summary>
    public enum LsStatus
    {
        Ok = 0,
        Cancelled = 1,           // the call was cancelled (client or session destroyed)
        InvalidArgument = 3,     // a bad argument, here or at the server (field named)
        DeadlineExceeded = 4,    // a unary call outlived the client's timeout
        NotFound = 5,            // unknown world id, snapshot or tracked camera
        AlreadyExists = 6,       // e.g. a snapshot name that exists
        ResourceExhausted = 8,   // server caps or message size limits
        FailedPrecondition = 9,  // e.g. a snapshot of another model; a closed session
        Unimplemented = 12,      // the server lacks the RPC
        Internal = 13,           // a bug: report the message
        Unavailable = 14,        // no server at the target, or it is shutting down
        Unauthenticated = 16,    // a missing or wrong bearer token
        Timeout = 100,           // no frame arrived within the timeout (not an error)
        Disconnected = 101,      // the session's stream broke; Reopen() it
        Closed = 102,            // the session was closed (by the caller or the server)
        Busy = 103,              // LOCKSTEP: the pose queue is full; submit again later
    }

    /// <summary>ls_convention: the convention of submitted poses (values equal the proto's).</summary>
    public enum LsConvention
    {
        OpenCV = 1,   // canonical: RH, Z up, metres; camera x right, y down, z forward
        OpenGL = 2,   // RH, Y up; camera looks down -Z
        Unreal = 3,   // LH, Z up, centimetres; FRotator / FQuat
        Unity = 4,    // LH, Y up, metres; Quaternion; fieldOfView is vertical
        Usd = 5,      // as OpenGL, stage upAxis and metersPerUnit
        Blender = 6,  // RH, Z up; camera looks down -Z
    }

    /// <summary>ls_encoding: how frame pixels are sent.</summary>
    public enum LsEncoding
    {
        RawRgb8 = 1,   // 3 bytes/pixel R, G, B
        RawRgba8 = 2,  // 4 bytes/pixel R, G, B, A=255
        Jpeg = 3,      // a JPEG file (not decoded by the library)
        RawBgra8 = 4,  // 4 bytes/pixel B, G, R, A=255: Unity TextureFormat.BGRA32
    }

    /// <summary>ls_pacing.</summary>
    public enum LsPacing
    {
        Realtime = 1,  // latest pose wins; frames may degrade to fit target_fps
        Lockstep = 2,  // every pose rendered in order at full quality
    }

    /// <summary>ls_rung: which rung of the degradation ladder produced a frame.</summary>
    public enum LsRung
    {
        Full = 1,        // the requested sampler steps, memory written
        FewerSteps = 2,  // fewer sampler steps, memory written
        SkipWrite = 3,   // one sampler step, memory not written
        MemoryOnly = 4,  // no generator: the memory readout decoded
    }

    /// <summary>ls_world_kind.</summary>
    public enum LsWorldKind
    {
        Empty = 0,    // nothing yet: the first frames generate from scratch
        Indoor = 1,   // procedural rooms
        Outdoor = 2,  // procedural ground, objects, mountains and sky
    }

    /// <summary>ls_session_state.</summary>
    public enum LsSessionState
    {
        Opening = 0,       // Open sent, waiting for the server
        Open = 1,          // streaming
        Disconnected = 2,  // the stream broke; Reopen() to resume
        Closed = 3,        // closed by the caller or by the server
    }

    /// <summary>ls_lens_kind.</summary>
    public enum LsLensKind
    {
        None = 0,      // no lens here (a pose uses the session's)
        Fov = 1,       // fov_deg about fov_axis
        Physical = 2,  // focal length and sensor, mm
        Pixels = 3,    // calibrated pinhole fx, fy, cx, cy in pixels
    }

    /// <summary>ls_rotation_form.</summary>
    public enum LsRotationForm
    {
        Rotator = 1,     // Unreal FRotator {pitch, yaw, roll} degrees
        Quaternion = 2,  // {x, y, z, w} in the convention's axes (Unity Quaternion)
        Matrix = 3,      // 3x3 row-major, column-vector; not for Unreal
        UnityEuler = 4,  // Unity Quaternion.Euler(x, y, z) degrees in rotator
    }

    /// <summary>ls_lens: one lens form, chosen by <c>kind</c> (<see cref="LsLensKind"/>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LsLens
    {
        public int kind;                // LsLensKind
        public double fov_deg;          // FOV: full angle, degrees, (0, 180)
        public int fov_axis;            // FOV: 0 convention's own (Unity vertical), 1 h, 2 v, 3 diagonal
        public double focal_length_mm;  // PHYSICAL: > 0
        public double sensor_width_mm;  // PHYSICAL: Camera.sensorSize.x, > 0
        public double sensor_height_mm; // PHYSICAL: Camera.sensorSize.y, > 0
        public double offset_x;         // PHYSICAL: Unity lensShift.x (fraction of the gate)
        public double offset_y;         // PHYSICAL: Unity lensShift.y
        public int gate_fit;            // PHYSICAL, Unity: 0/1 horizontal, 2 vertical, 3 none
        public double fx, fy, cx, cy;   // PIXELS: pixels, OpenCV pixel centres
        public uint calib_width;        // PIXELS: calibration size; 0 = the output size
        public uint calib_height;
    }

    /// <summary>ls_timecode: an optional SMPTE label, echoed with the frame.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LsTimecode
    {
        public int valid;                       // 0 = no timecode
        public uint hours, minutes, seconds, frames;
        public uint rate_num, rate_den;         // frame rate, e.g. 30000/1001
        public int drop_frame;                  // only with 30000/1001 or 60000/1001
    }

    /// <summary>ls_connect_options (initialise with ls_connect_options_init).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LsConnectOptions
    {
        public uint struct_size;       // sizeof(ls_connect_options)
        public IntPtr target;          // const char*: "host:port", UTF-8
        public IntPtr token;           // const char*: bearer token or NULL
        public int use_tls;            // 0 plaintext, 1 TLS
        public IntPtr tls_roots_pem;   // const char*: PEM roots or NULL (system roots)
        public uint timeout_ms;        // connect and unary-call deadline; default 10000
    }

    /// <summary>ls_server_info.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct LsServerInfo
    {
        public fixed byte model_id[128];        // weights id, UTF-8, NUL-terminated
        public fixed byte backend[32];          // "torch", "onnxruntime", "tensorrt"
        public fixed byte device[128];          // e.g. "cpu"
        public fixed byte server_version[32];   // latentstage version of the server
        public uint protocol_revision;
        public uint max_width, max_height;      // pixels
        public uint max_sessions, max_worlds;
        public ulong max_send_bytes;            // largest message the server sends
        public ulong max_receive_bytes;         // largest message the server accepts
        public double max_fps;
        public uint latent_stride;              // image pixels per latent pixel
        public uint native_width, native_height;  // the model's training size
        public uint default_sampler_steps;
        public uint sessions, worlds;           // open / held now
        public int auth_required;

        public string ModelId { get { fixed (byte* p = model_id) return Utf8.FromBuffer(p, 128); } }
        public string Backend { get { fixed (byte* p = backend) return Utf8.FromBuffer(p, 32); } }
        public string Device { get { fixed (byte* p = device) return Utf8.FromBuffer(p, 128); } }
        public string ServerVersion
        {
            get { fixed (byte* p = server_version) return Utf8.FromBuffer(p, 32); }
        }
    }

    /// <summary>ls_world_info.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct LsWorldInfo
    {
        public fixed byte world_id[136];   // use in SessionOptions.WorldId
        public fixed byte name[136];       // label
        public fixed byte source[256];     // e.g. "procedural seed=7 kind=outdoor"
        public uint sessions;              // attached now
        public int keep;                   // stays after its last session leaves
        public ulong points, capacity;     // memory points stored / maximum
        public ulong bytes;                // memory bytes held
        public ulong evictions, writes;
        public long created_unix_ms;

        public string WorldId { get { fixed (byte* p = world_id) return Utf8.FromBuffer(p, 136); } }
        public string Name { get { fixed (byte* p = name) return Utf8.FromBuffer(p, 136); } }
        public string Source { get { fixed (byte* p = source) return Utf8.FromBuffer(p, 256); } }
    }

    /// <summary>ls_session_options (initialise with ls_session_options_init).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LsSessionOptions
    {
        public uint struct_size;          // sizeof(ls_session_options)
        public IntPtr world_id;           // const char*: attach to this world, or NULL
        public IntPtr tracked_camera;     // const char*: watch this tracked camera, or NULL
        public int new_world_kind;        // LsWorldKind; default Empty
        public ulong new_world_seed;      // procedural seed
        public int new_world_keep;        // keep the new world after the session
        public uint width, height;        // output size, pixels
        public int encoding;              // LsEncoding; default RawBgra8
        public uint jpeg_quality;         // 1..100; default 90
        public int bottom_up;             // raw rows bottom to top (Unity); default 0
        public int convention;            // LsConvention; default Unreal
        public LsLens lens;               // lens for poses that carry none
        public double target_fps;         // frame budget 1/target_fps; 0 = none
        public uint sampler_steps;        // 1..4; 0 = the model's default
        public ulong seed;                // noise seed
        public int pacing;                // LsPacing; default Realtime
        public int prediction;            // -1 default (on for realtime), 0 off, 1 on
        public double display_latency_ms; // client display pipeline latency, 0..1000
        public IntPtr client_name;        // const char*: for server logs
        public uint frame_buffers;        // frames in the reused ring, 2..16; default 3
        public IntPtr new_world_id;       // const char*: a new world's id chosen here, or NULL
        public uint reconnect_timeout_ms; // reopen by itself for up to this long; 0 = by hand
    }

    /// <summary>ls_pose (initialise with ls_pose_init).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct LsPose
    {
        public uint struct_size;          // sizeof(ls_pose)
        public ulong frame_id;            // the engine's frame number; echoed
        public long capture_time_ns;      // monotonic capture time; 0 = now (library clock)
        public LsTimecode timecode;       // optional SMPTE label; echoed
        public fixed double position[3];  // convention units (metres for Unity)
        public int rotation_form;         // LsRotationForm
        public fixed double rotator[3];   // ROTATOR / UNITY_EULER, degrees
        public fixed double quaternion[4];// QUATERNION, x y z w
        public fixed double matrix[9];    // MATRIX, row-major
        public LsLens lens;               // kind None = the session's current lens
    }

    /// <summary>ls_frame: owned by the library, valid until released.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct LsFrame
    {
        public IntPtr pixels;             // const uint8_t*: raw rows or a JPEG file
        public UIntPtr size_bytes;        // bytes at pixels
        public uint width, height;        // pixels, exactly the size asked for
        public uint stride;               // raw: bytes per row; JPEG: 0
        public int encoding;              // LsEncoding
        public int bottom_up;             // raw: the first row is the image's bottom row
        public ulong frame_id;            // echoed
        public long capture_time_ns;      // echoed
        public LsTimecode timecode;       // echoed
        public fixed double rendered_c2w[16]; // canonical camera-to-world, row-major
        public double fx, fy, cx, cy;     // intrinsics rendered, pixels
        public int rung;                  // LsRung
        public uint sampler_steps;        // steps run
        public int memory_written;
        public ulong sequence;            // 1, 2, 3... frames rendered for this session
        public ulong poses_skipped;       // server side, this session so far
        public ulong frames_dropped_server;
        public double predicted_ms;       // pose extrapolation horizon
        public double queue_ms, readout_ms, generate_ms, decode_ms, write_ms, encode_ms, total_ms;
        public ulong memory_points, memory_capacity, memory_bytes, memory_used_bytes;
        public ulong memory_evictions, memory_writes;
        public double memory_coverage;    // 0..1 of this frame's latent pixels
        public long received_ns;          // the library's steady clock at arrival
    }

    /// <summary>ls_session_stats.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct LsSessionStats
    {
        public int state;                   // LsSessionState
        public ulong poses_submitted;       // accepted by submit
        public ulong poses_sent;            // written to the stream
        public ulong poses_replaced;        // REALTIME: replaced before they were sent
        public ulong frames_received;
        public ulong frames_dropped;        // received but replaced before acquired
        public ulong frames_dropped_server; // the server's count (slow reader)
        public ulong poses_skipped_server;  // the server's count (latest pose wins)
        public ulong server_errors;         // Error messages (the stream carried on)
        public ulong reconnects;            // successful reopen calls
        public double latency_p50_ms;       // pose submitted -> its frame, last 256
        public double latency_p95_ms;
        public double latency_p99_ms;
        public ulong frame_allocations;     // ring (re)allocations since open: flat when steady
        public fixed byte last_server_error[256];
        public fixed byte session_id[64];
        public fixed byte world_id[136];

        public string LastServerError
        {
            get { fixed (byte* p = last_server_error) return Utf8.FromBuffer(p, 256); }
        }
        public string SessionId { get { fixed (byte* p = session_id) return Utf8.FromBuffer(p, 64); } }
        public string WorldId { get { fixed (byte* p = world_id) return Utf8.FromBuffer(p, 136); } }
    }
}
