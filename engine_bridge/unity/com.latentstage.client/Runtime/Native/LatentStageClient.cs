// A connection to a LatentStage server: server info, worlds, and sessions. Every call maps to
// one function of latentstage.h; failures throw LatentStageException with the library's status
// and message. Thread-safe, like the library.
using System;

namespace LatentStage.Native
{
    public sealed unsafe class LatentStageClient : IDisposable
    {
        readonly ClientHandle handle;
        volatile bool disposed;  // the handle may stay open for this client's sessions

        /// <summary>The "host:port" this client connected to.</summary>
        public string Target { get; }

        /// <summary>The native handle (for the raw NativeMethods calls).</summary>
        public ClientHandle Handle { get { return Live("Handle"); } }

        LatentStageClient(ClientHandle handle, string target)
        {
            this.handle = handle;
            Target = target;
        }

        /// <summary>ls_version() of the loaded library, e.g. "0.2.0".</summary>
        public static string LibraryVersion
        {
            get { return Utf8.FromPointer(NativeMethods.ls_version()); }
        }

        static readonly Type[] Mirrored =
        {
            typeof(LsLens), typeof(LsTimecode), typeof(LsConnectOptions), typeof(LsServerInfo),
            typeof(LsWorldInfo), typeof(LsSessionOptions), typeof(LsPose), typeof(LsFrame),
            typeof(LsSessionStats),
        };
        static volatile bool abiChecked;

        /// <summary>Fails unless the loaded library speaks the ABI these bindings mirror: the
        /// same LS_ABI_VERSION, and every struct the same size as its mirror here (a plug-in
        /// built for another architecture or from another header would corrupt memory). Runs
        /// once per process, at the first Connect.</summary>
        public static void CheckAbi()
        {
            if (abiChecked)
                return;
            uint abi = NativeMethods.ls_abi_version();
            if (abi != NativeMethods.AbiVersion)
                throw new LatentStageException(LsStatus.FailedPrecondition, "ls_abi_version",
                    "library ABI " + abi + " (" + LibraryVersion + "): ABI "
                    + NativeMethods.AbiVersion + " expected; use the library built with this package");
            foreach (var type in Mirrored)
            {
                string name = "ls" + System.Text.RegularExpressions.Regex.Replace(
                    type.Name.Substring(2), "[A-Z]", m => "_" + m.Value.ToLowerInvariant());
                ulong native;
                fixed (byte* n = Utf8.Bytes(name, "name"))
                    native = NativeMethods.ls_struct_size(n).ToUInt64();
                int managed = System.Runtime.InteropServices.Marshal.SizeOf(type);
                if (native != (ulong)managed)
                    throw new LatentStageException(LsStatus.FailedPrecondition, "ls_struct_size",
                        name + ": " + native + " bytes in the library (" + LibraryVersion + "), "
                        + managed + " in these bindings: the same header and a "
                        + (IntPtr.Size * 8) + "-bit library expected");
            }
            abiChecked = true;
        }

        /// <summary>Connects with default options (plaintext, 10 s timeout).</summary>
        public static LatentStageClient Connect(string target)
        {
            return Connect(new ConnectOptions(target));
        }

        /// <summary>Connects and reads the server's info (ls_client_connect).</summary>
        public static LatentStageClient Connect(ConnectOptions options)
        {
            if (options == null)
                throw new LatentStageException(LsStatus.InvalidArgument, "ls_client_connect",
                    "options: null: ConnectOptions expected");
            CheckAbi();
            byte[] target = Utf8.Bytes(options.Target, "connect_options.target");
            byte[] token = Utf8.Bytes(options.Token, "connect_options.token");
            byte[] roots = Utf8.Bytes(options.TlsRootsPem, "connect_options.tls_roots_pem");
            LsConnectOptions o;
            NativeMethods.ls_connect_options_init(&o);
            IntPtr client;
            LsStatus status;
            fixed (byte* t = target, k = token, r = roots)
            {
                o.target = (IntPtr)t;
                o.token = (IntPtr)k;
                o.use_tls = options.UseTls ? 1 : 0;
                o.tls_roots_pem = (IntPtr)r;
                if (options.TimeoutMs != 0)
                    o.timeout_ms = options.TimeoutMs;
                status = NativeMethods.ls_client_connect(&o, out client);
            }
            LatentStageException.Check(status, "ls_client_connect");
            return new LatentStageClient(new ClientHandle(client), options.Target);
        }

        /// <summary>A fresh GetServerInfo.</summary>
        public LsServerInfo GetServerInfo()
        {
            LsServerInfo info;
            var status = NativeMethods.ls_client_server_info(Live("GetServerInfo"), &info);
            LatentStageException.Check(status, "ls_client_server_info");
            return info;
        }

        // ----- worlds -----
        /// <summary>A procedural world (kind Indoor or Outdoor) from a seed.</summary>
        public LsWorldInfo CreateProceduralWorld(ulong seed, LsWorldKind kind, string name = null)
        {
            var h = Live("CreateProceduralWorld");
            LsWorldInfo info;
            LsStatus status;
            fixed (byte* n = Utf8.Bytes(name, "name"))
                status = NativeMethods.ls_world_create_procedural(h, seed, kind, n, &info);
            LatentStageException.Check(status, "ls_world_create_procedural");
            return info;
        }

        /// <summary>An empty world: the first frames generate from scratch.</summary>
        public LsWorldInfo CreateEmptyWorld(string name = null)
        {
            var h = Live("CreateEmptyWorld");
            LsWorldInfo info;
            LsStatus status;
            fixed (byte* n = Utf8.Bytes(name, "name"))
                status = NativeMethods.ls_world_create_empty(h, n, &info);
            LatentStageException.Check(status, "ls_world_create_empty");
            return info;
        }

        /// <summary>A world seeded from a PNG or JPEG file's bytes, with optional depth
        /// (depthWidth * depthHeight float metres; null = estimated) and seed lens (null = 70
        /// degrees horizontal).</summary>
        public LsWorldInfo CreateWorldFromImage(byte[] image, float[] depth = null,
                                                uint depthWidth = 0, uint depthHeight = 0,
                                                LsLens? lens = null, string name = null)
        {
            var h = Live("CreateWorldFromImage");
            if (image == null || image.Length == 0)
                throw new LatentStageException(LsStatus.InvalidArgument, "image",
                    "empty: the bytes of a PNG or JPEG file expected");
            if (depth != null && (long)depth.Length != (long)depthWidth * depthHeight)
                throw new LatentStageException(LsStatus.InvalidArgument, "depth",
                    depth.Length + " values: depthWidth * depthHeight = "
                    + ((long)depthWidth * depthHeight) + " expected");
            LsLens l = lens.GetValueOrDefault();
            LsWorldInfo info;
            LsStatus status;
            fixed (byte* img = image, n = Utf8.Bytes(name, "name"))
            fixed (float* d = depth)
                status = NativeMethods.ls_world_create_from_image(h, img, (UIntPtr)image.Length,
                    d, depthWidth, depthHeight, lens.HasValue ? &l : null, n, &info);
            LatentStageException.Check(status, "ls_world_create_from_image");
            return info;
        }

        /// <summary>Saves a world's memory as a named snapshot on the server (null or "" =
        /// the server's choice); returns the name used and its size in bytes.</summary>
        public string SaveWorld(string worldId, string name, out ulong bytes)
        {
            var h = Live("SaveWorld");
            const int capacity = 256;
            byte* outName = stackalloc byte[capacity];
            outName[0] = 0;
            ulong size = 0;
            LsStatus status;
            fixed (byte* w = Utf8.Bytes(worldId, "world_id"), n = Utf8.Bytes(name, "name"))
                status = NativeMethods.ls_world_save(h, w, n, outName, (UIntPtr)capacity, &size);
            LatentStageException.Check(status, "ls_world_save");
            bytes = size;
            return Utf8.FromBuffer(outName, capacity);
        }

        /// <summary>A new world from a named snapshot on the server.</summary>
        public LsWorldInfo LoadWorld(string snapshotName, string label = null)
        {
            var h = Live("LoadWorld");
            LsWorldInfo info;
            LsStatus status;
            fixed (byte* s = Utf8.Bytes(snapshotName, "snapshot_name"), l = Utf8.Bytes(label, "label"))
                status = NativeMethods.ls_world_load(h, s, l, &info);
            LatentStageException.Check(status, "ls_world_load");
            return info;
        }

        /// <summary>Deletes a world; without force, one that sessions still use is refused.</summary>
        public void DeleteWorld(string worldId, bool force = false)
        {
            var h = Live("DeleteWorld");
            LsStatus status;
            fixed (byte* w = Utf8.Bytes(worldId, "world_id"))
                status = NativeMethods.ls_world_delete(h, w, force ? 1 : 0);
            LatentStageException.Check(status, "ls_world_delete");
        }

        /// <summary>Every world the server holds.</summary>
        public LsWorldInfo[] ListWorlds()
        {
            var h = Live("ListWorlds");
            var worlds = new LsWorldInfo[16];
            while (true)
            {
                UIntPtr count;
                LsStatus status;
                fixed (LsWorldInfo* w = worlds)
                    status = NativeMethods.ls_world_list(h, w, (UIntPtr)worlds.Length, &count);
                LatentStageException.Check(status, "ls_world_list");
                int n = (int)count.ToUInt64();
                if (n <= worlds.Length)
                {
                    Array.Resize(ref worlds, n);
                    return worlds;
                }
                worlds = new LsWorldInfo[n];
            }
        }

        // ----- sessions -----
        /// <summary>Opens a session and waits for the server to accept it (ls_session_open).
        /// The session keeps this client's native handle alive until it is disposed.</summary>
        public LatentStageSession OpenSession(SessionOptions options)
        {
            var h = Live("OpenSession");
            if (options == null)
                throw new LatentStageException(LsStatus.InvalidArgument, "ls_session_open",
                    "options: null: SessionOptions expected");
            byte[] worldId = Utf8.Bytes(options.WorldId, "session_options.world_id");
            byte[] tracked = Utf8.Bytes(options.TrackedCamera, "session_options.tracked_camera");
            byte[] name = Utf8.Bytes(options.ClientName, "session_options.client_name");
            bool added = false;
            IntPtr session = IntPtr.Zero;
            try
            {
                h.DangerousAddRef(ref added);
                LsStatus status;
                fixed (byte* w = worldId, t = tracked, n = name)
                {
                    LsSessionOptions o = options.ToNative(w, t, n);
                    status = NativeMethods.ls_session_open(h, &o, out session);
                }
                LatentStageException.Check(status, "ls_session_open");
                var result = new LatentStageSession(new SessionHandle(session, h), this, options);
                added = false;  // the session handle owns the reference now
                return result;
            }
            finally
            {
                if (added)
                    h.DangerousRelease();
            }
        }

        /// <summary>Closes this client's handle. Its native client is destroyed now, or when
        /// the last of its open sessions is disposed. Safe to call twice.</summary>
        public void Dispose()
        {
            disposed = true;
            handle.Dispose();
        }

        /// <summary>Whether Dispose was called.</summary>
        public bool IsDisposed { get { return disposed; } }

        ClientHandle Live(string member)
        {
            if (disposed)
                throw new LatentStageException(LsStatus.Closed, "LatentStageClient." + member,
                    "the client was disposed; connect a new one");
            return handle;
        }
    }
}
