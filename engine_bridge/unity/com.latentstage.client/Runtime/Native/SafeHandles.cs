// SafeHandles for ls_client* and ls_session*: released deterministically by Dispose (or, if the
// caller forgets, by the finalizer), never twice, and never while a native call is using them
// (P/Invoke holds a reference on a SafeHandle argument for the call's duration).
using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace LatentStage.Native
{
    /// <summary>An ls_client*. Destroyed with ls_client_destroy once the handle is closed and
    /// no session still holds it.</summary>
    public sealed class ClientHandle : SafeHandle
    {
        /// <summary>ls_client_destroy's status, once released.</summary>
        public LsStatus ReleaseStatus { get; private set; }
        /// <summary>Whether the native client was destroyed (closed and no session left).</summary>
        public bool IsReleased { get; private set; }

        internal ClientHandle(IntPtr client) : base(IntPtr.Zero, true)
        {
            SetHandle(client);
        }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            ReleaseStatus = NativeMethods.ls_client_destroy(handle);
            IsReleased = true;
            return true;
        }
    }

    /// <summary>An ls_session*. It holds a reference on its client's handle (DangerousAddRef)
    /// so the client is destroyed only after its last session closed, whatever order the
    /// caller disposes them in. Closing releases the frames the caller still holds.</summary>
    public sealed class SessionHandle : SafeHandle
    {
        readonly ClientHandle client;
        internal readonly FrameTable Frames = new FrameTable();

        /// <summary>ls_session_close's status, once released.</summary>
        public LsStatus ReleaseStatus { get; private set; }

        /// <summary>Takes over one reference the caller added on <paramref name="client"/>.</summary>
        internal SessionHandle(IntPtr session, ClientHandle client) : base(IntPtr.Zero, true)
        {
            this.client = client;
            SetHandle(session);
        }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            Frames.ReleaseAll(handle);
            ReleaseStatus = NativeMethods.ls_session_close(handle);
            client.DangerousRelease();
            return true;
        }
    }

    /// <summary>The frames a session has handed out and not yet taken back. A slot and a token
    /// name each acquisition, so a stale copy of a frame (released, or from before a ring slot
    /// was reused) is recognised instead of touching another frame. Fixed size: the library
    /// lets at most frame_buffers - 1 (&lt;= 15) frames be acquired at once. Lock-free: a
    /// slot is claimed by a compare-exchange on its frame, and released by one on its token,
    /// so two threads never both release one acquisition.</summary>
    internal sealed class FrameTable
    {
        public const int Capacity = 16;
        readonly IntPtr[] frames = new IntPtr[Capacity];
        readonly long[] tokens = new long[Capacity];  // 0 = free (or being filled)
        long lastToken;

        /// <summary>Records an acquired frame; returns its slot and token (-1 when full).</summary>
        public int Add(IntPtr frame, out long token)
        {
            for (int slot = 0; slot < Capacity; slot++)
            {
                if (Interlocked.CompareExchange(ref frames[slot], frame, IntPtr.Zero) != IntPtr.Zero)
                    continue;
                token = Interlocked.Increment(ref lastToken);
                Volatile.Write(ref tokens[slot], token);
                return slot;
            }
            token = 0;
            return -1;
        }

        /// <summary>Whether (slot, token) still names an acquired frame.</summary>
        public bool IsCurrent(int slot, long token)
        {
            return (uint)slot < Capacity && token != 0 && Volatile.Read(ref tokens[slot]) == token;
        }

        /// <summary>Forgets (slot, token); false if it was not current.</summary>
        public bool Remove(int slot, long token, out IntPtr frame)
        {
            frame = IntPtr.Zero;
            if ((uint)slot >= Capacity || token == 0
                || Interlocked.CompareExchange(ref tokens[slot], 0, token) != token)
                return false;
            frame = Volatile.Read(ref frames[slot]);
            Volatile.Write(ref frames[slot], IntPtr.Zero);
            return true;
        }

        /// <summary>Releases every frame still acquired (the session is closing).</summary>
        public void ReleaseAll(IntPtr session)
        {
            for (int slot = 0; slot < Capacity; slot++)
            {
                long token = Volatile.Read(ref tokens[slot]);
                IntPtr frame;
                if (token != 0 && Remove(slot, token, out frame))
                    NativeMethods.ls_session_release_frame(session, frame);
            }
        }
    }
}
