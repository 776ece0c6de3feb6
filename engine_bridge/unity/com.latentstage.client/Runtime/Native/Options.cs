// Managed options for connecting and opening a session. They become the C structs once per
// call (starting from the library's own *_init defaults), with their strings as UTF-8.
namespace LatentStage.Native
{
    /// <summary>How to reach a server (ls_connect_options).</summary>
    public sealed class ConnectOptions
    {
        /// <summary>"host:port", e.g. "127.0.0.1:50051". Required.</summary>
        public string Target;
        /// <summary>Bearer token, or null for none.</summary>
        public string Token;
        /// <summary>TLS instead of plaintext.</summary>
        public bool UseTls;
        /// <summary>TLS: PEM root certificates, or null for the system roots.</summary>
        public string TlsRootsPem;
        /// <summary>Connect and unary-call deadline, milliseconds; 0 = the library's (10000).</summary>
        public uint TimeoutMs;

        public ConnectOptions(string target)
        {
            Target = target;
        }
    }

    /// <summary>What a session renders and how (ls_session_options). The defaults are a Unity
    /// camera's: Unity convention, BGRA8 rows bottom-up (TextureFormat.BGRA32 uploads them
    /// as they are), realtime pacing, a new empty world.</summary>
    public sealed class SessionOptions
    {
        /// <summary>Attach to this world (an id from the world calls), or null.</summary>
        public string WorldId;
        /// <summary>Watch this FreeD-tracked camera (frames only, no poses), or null.</summary>
        public string TrackedCamera;
        /// <summary>Neither of the above: a new world of this kind.</summary>
        public LsWorldKind NewWorldKind = LsWorldKind.Empty;
        /// <summary>Procedural seed of the new world.</summary>
        public ulong NewWorldSeed;
        /// <summary>Keep the new world after the session ends.</summary>
        public bool NewWorldKeep;
        /// <summary>Output size, pixels (any size within the server's limits). Required.</summary>
        public uint Width, Height;
        /// <summary>Frame encoding; BGRA8 is Unity's TextureFormat.BGRA32.</summary>
        public LsEncoding Encoding = LsEncoding.RawBgra8;
        /// <summary>JPEG quality 1..100; 0 = the library's default (90).</summary>
        public uint JpegQuality;
        /// <summary>Raw rows bottom to top, Unity's texture origin.</summary>
        public bool BottomUp = true;
        /// <summary>Convention of submitted poses.</summary>
        public LsConvention Convention = LsConvention.Unity;
        /// <summary>Lens for poses that carry none (kind None: every pose carries one).</summary>
        public LsLens Lens;
        /// <summary>Frame budget 1/TargetFps; 0 = none.</summary>
        public double TargetFps;
        /// <summary>Sampler steps 1..4; 0 = the model's default.</summary>
        public uint SamplerSteps;
        /// <summary>Noise seed.</summary>
        public ulong Seed;
        /// <summary>Realtime (latest pose wins) or Lockstep (every pose, in order).</summary>
        public LsPacing Pacing = LsPacing.Realtime;
        /// <summary>Pose prediction: -1 default (on for realtime), 0 off, 1 on.</summary>
        public int Prediction = -1;
        /// <summary>Display pipeline latency the prediction covers, milliseconds 0..1000.</summary>
        public double DisplayLatencyMs;
        /// <summary>Name in the server's logs.</summary>
        public string ClientName = "latentstage-unity";
        /// <summary>Frames in the reused ring, 2..16; 0 = the library's default (3).</summary>
        public uint FrameBuffers;

        /// <summary>A copy (strings are immutable, so a shallow copy is a full one).</summary>
        public SessionOptions Clone()
        {
            return (SessionOptions)MemberwiseClone();
        }

        /// <summary>The C struct: the library's defaults, then every field set here. The
        /// string pointers are the caller's pinned UTF-8 bytes.</summary>
        internal unsafe LsSessionOptions ToNative(byte* worldId, byte* trackedCamera,
                                                   byte* clientName)
        {
            LsSessionOptions o;
            NativeMethods.ls_session_options_init(&o);
            o.reconnect_timeout_ms = 0;  // LatentStageConnection reopens the session itself
            o.world_id = (System.IntPtr)worldId;
            o.tracked_camera = (System.IntPtr)trackedCamera;
            o.new_world_kind = (int)NewWorldKind;
            o.new_world_seed = NewWorldSeed;
            o.new_world_keep = NewWorldKeep ? 1 : 0;
            o.width = Width;
            o.height = Height;
            o.encoding = (int)Encoding;
            if (JpegQuality != 0)
                o.jpeg_quality = JpegQuality;
            o.bottom_up = BottomUp ? 1 : 0;
            o.convention = (int)Convention;
            o.lens = Lens;
            o.target_fps = TargetFps;
            o.sampler_steps = SamplerSteps;
            o.seed = Seed;
            o.pacing = (int)Pacing;
            o.prediction = Prediction;
            o.display_latency_ms = DisplayLatencyMs;
            if (clientName != null)
                o.client_name = (System.IntPtr)clientName;
            if (FrameBuffers != 0)
                o.frame_buffers = FrameBuffers;
            return o;
        }
    }
}
