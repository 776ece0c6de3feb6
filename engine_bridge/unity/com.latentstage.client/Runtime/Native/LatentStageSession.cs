// One session stream: submit poses, acquire frames, read stats. The per-frame calls (submit,
// acquire, release, state) allocate no managed memory: poses are structs on the stack, frames
// are library-owned buffers read through a struct, and failures are the only thing that
// allocates (the exception).
using System;

namespace LatentStage.Native
{
    public sealed unsafe class LatentStageSession : IDisposable
    {
        readonly SessionHandle handle;
        volatile bool disposed;
        readonly LsPose poseTemplate;  // ls_pose_init's defaults, copied for each new pose

        /// <summary>The client that opened this session.</summary>
        public LatentStageClient Client { get; }
        /// <summary>Output width, pixels.</summary>
        public uint Width { get; }
        /// <summary>Output height, pixels.</summary>
        public uint Height { get; }
        /// <summary>Frame encoding asked for.</summary>
        public LsEncoding Encoding { get; }
        /// <summary>Whether this session watches a tracked camera (it sends no poses).</summary>
        public bool IsWatching { get; }

        /// <summary>The native handle (for the raw NativeMethods calls).</summary>
        public SessionHandle Handle { get { return Live("Handle"); } }

        internal LatentStageSession(SessionHandle handle, LatentStageClient client,
                                    SessionOptions options)
        {
            this.handle = handle;
            Client = client;
            Width = options.Width;
            Height = options.Height;
            Encoding = options.Encoding;
            IsWatching = !string.IsNullOrEmpty(options.TrackedCamera);
            LsPose pose;
            NativeMethods.ls_pose_init(&pose);
            poseTemplate = pose;
        }

        /// <summary>Current state; never blocks.</summary>
        public LsSessionState State
        {
            get { return NativeMethods.ls_session_get_state(Live("State")); }
        }

        /// <summary>After Disconnected: a new stream with the same options, on the same world.</summary>
        public void Reopen()
        {
            LatentStageException.Check(NativeMethods.ls_session_reopen(Live("Reopen")),
                                       "ls_session_reopen");
        }

        // ----- poses -----
        /// <summary>A pose with the library's defaults (no rotation, lens None = the
        /// session's): fill it and pass it to Submit / TrySubmit.</summary>
        public LsPose NewPose()
        {
            return poseTemplate;
        }

        /// <summary>A Unity camera pose: position in metres, a Quaternion, and a lens (kind None
        /// = the session's lens). capture_time_ns 0 = now on the library's clock.</summary>
        public LsPose UnityPose(ulong frameId, long captureTimeNs, Vector3d position,
                                QuaternionD rotation, LsLens lens)
        {
            LsPose pose = poseTemplate;
            pose.frame_id = frameId;
            pose.capture_time_ns = captureTimeNs;
            pose.position[0] = position.X;
            pose.position[1] = position.Y;
            pose.position[2] = position.Z;
            pose.rotation_form = (int)LsRotationForm.Quaternion;
            pose.quaternion[0] = rotation.X;
            pose.quaternion[1] = rotation.Y;
            pose.quaternion[2] = rotation.Z;
            pose.quaternion[3] = rotation.W;
            pose.lens = lens;
            return pose;
        }

        /// <summary>Submits a pose; false when a LOCKSTEP queue is full (LS_BUSY: submit it
        /// again later). Never blocks on the network.</summary>
        public bool TrySubmit(ref LsPose pose)
        {
            LsStatus status;
            fixed (LsPose* p = &pose)
                status = NativeMethods.ls_session_submit_pose(Live("TrySubmit"), p);
            return Submitted(status, "ls_session_submit_pose");
        }

        /// <summary>Submits a pose; LS_BUSY throws like any other failure.</summary>
        public void Submit(ref LsPose pose)
        {
            if (!TrySubmit(ref pose))
                throw LatentStageException.FromLastError(LsStatus.Busy, "ls_session_submit_pose");
        }

        /// <summary>ls_session_submit_unity: position in metres and a Quaternion, with the
        /// session's lens. False when a LOCKSTEP queue is full.</summary>
        public bool TrySubmitUnity(ulong frameId, long captureTimeNs, Vector3d position,
                                   QuaternionD rotation)
        {
            double* p = stackalloc double[3];
            double* q = stackalloc double[4];
            p[0] = position.X;
            p[1] = position.Y;
            p[2] = position.Z;
            q[0] = rotation.X;
            q[1] = rotation.Y;
            q[2] = rotation.Z;
            q[3] = rotation.W;
            var status = NativeMethods.ls_session_submit_unity(Live("TrySubmitUnity"), frameId,
                                                              captureTimeNs, p, q);
            return Submitted(status, "ls_session_submit_unity");
        }

        static bool Submitted(LsStatus status, string function)
        {
            if (status == LsStatus.Ok)
                return true;
            if (status == LsStatus.Busy)
                return false;
            throw LatentStageException.FromLastError(status, function);
        }

        // ----- frames -----
        /// <summary>The newest frame not yet acquired, waiting up to timeoutMs (0 = poll).
        /// False when none arrived in time (LS_TIMEOUT); throws when none will (disconnected,
        /// closed). Release the frame (or Dispose it) to give its buffer back.</summary>
        public bool TryAcquireFrame(uint timeoutMs, out LatentStageFrame frame)
        {
            IntPtr native;
            var status = NativeMethods.ls_session_acquire_frame(Live("TryAcquireFrame"), timeoutMs,
                                                                out native);
            frame = default(LatentStageFrame);
            if (status == LsStatus.Timeout)
                return false;
            LatentStageException.Check(status, "ls_session_acquire_frame");
            long token;
            int slot = handle.Frames.Add(native, out token);
            if (slot < 0)
            {
                ReleaseNative(native);
                throw new LatentStageException(LsStatus.Busy, "ls_session_acquire_frame",
                    FrameTable.Capacity + " frames acquired at once: release one first");
            }
            frame = new LatentStageFrame(this, native, slot, token);
            return true;
        }

        /// <summary>As TryAcquireFrame, but LS_TIMEOUT throws too.</summary>
        public LatentStageFrame AcquireFrame(uint timeoutMs)
        {
            LatentStageFrame frame;
            if (!TryAcquireFrame(timeoutMs, out frame))
                throw new LatentStageException(LsStatus.Timeout, "ls_session_acquire_frame",
                    "no frame within " + timeoutMs + " ms");
            return frame;
        }

        internal bool IsCurrent(int slot, long token)
        {
            return handle.Frames.IsCurrent(slot, token);
        }

        /// <summary>Releases (slot, token); false (or, with throwIfReleased, an exception) if
        /// it was released already.</summary>
        internal bool Release(int slot, long token, ulong frameId, bool throwIfReleased)
        {
            IntPtr native;
            if (!handle.Frames.Remove(slot, token, out native))
            {
                if (!throwIfReleased)
                    return false;
                throw new LatentStageException(LsStatus.InvalidArgument, "LatentStageFrame.Release",
                    "frame " + frameId + ": already released (or its session disposed): "
                    + "each acquired frame is released once");
            }
            ReleaseNative(native);
            return true;
        }

        void ReleaseNative(IntPtr native)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                var status = NativeMethods.ls_session_release_frame(handle.DangerousGetHandle(),
                                                                    native);
                LatentStageException.Check(status, "ls_session_release_frame");
            }
            finally
            {
                if (added)
                    handle.DangerousRelease();
            }
        }

        // ----- stats -----
        /// <summary>Counters, latency percentiles and ids (ls_session_get_stats).</summary>
        public LsSessionStats GetStats()
        {
            LsSessionStats stats;
            var status = NativeMethods.ls_session_get_stats(Live("GetStats"), &stats);
            LatentStageException.Check(status, "ls_session_get_stats");
            return stats;
        }

        /// <summary>Closes the session (Close sent, in-flight frame awaited, reader joined) and
        /// releases the frames still acquired. Safe to call twice.</summary>
        public void Dispose()
        {
            disposed = true;
            handle.Dispose();
        }

        /// <summary>Whether Dispose was called.</summary>
        public bool IsDisposed { get { return disposed; } }

        SessionHandle Live(string member)
        {
            if (disposed)
                throw new LatentStageException(LsStatus.Closed, "LatentStageSession." + member,
                    "the session was disposed; open a new one");
            return handle;
        }
    }
}
