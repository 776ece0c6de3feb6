// Per-frame cost of the C# binding, the same loop as bench_c.c does through the C library
// alone (tests/unity/bench_unity.py runs both against one server and compares them).
//
// One frame is what LatentStageCamera does in LateUpdate: build a Unity pose with a physical
// lens and submit it; once its frame is there, acquire it and read its header; copy the
// pixels; release it. Waiting for the server is not timed: after submitting, the loop polls
// the stats (untimed) until the frame has arrived, so "acquire" never waits. Frames alternate
// between the LatentStage API (LatentStageSession, LatentStageFrame) and raw P/Invoke
// (NativeMethods with the same SafeHandle), to split the binding's cost into the interop
// transition and the managed wrapper. A last loop times an idle LateUpdate: a poll that finds
// no frame, and a state read.
//
// Output: "sample OP NANOSECONDS" per timed call (OP ends in "_raw" for the P/Invoke frames),
// and "alloc BYTES FRAMES GEN0" for the managed bytes and gen-0 collections over the timed frames.
using System;
using System.Diagnostics;
using System.Threading;
using LatentStage.Native;

namespace LatentStage.Tests
{
    static unsafe class Bench
    {
        const int WarmUp = 10;
        const int PollBatch = 1000;
        static readonly string[] Ops = { "submit", "acquire", "copy", "release" };

        static long Ns(long ticks)
        {
            return ticks * 1000000000L / Stopwatch.Frequency;
        }

        public static int Run(string target, uint width, uint height, int frames)
        {
            var options = new SessionOptions
            {
                Width = width, Height = height, Pacing = LsPacing.Lockstep, Prediction = 0,
                NewWorldKind = LsWorldKind.Outdoor, NewWorldSeed = 7, Lens = Lenses.FieldOfView(60),
            };
            var pixels = new byte[width * height * 4];
            var samples = new long[8, frames];  // API ops 0..3, raw ops 4..7
            var times = new long[6];  // start, submitted, acquire, header read, copied, released
            long allocated = 0;
            int gen0 = 0;
            using (var client = LatentStageClient.Connect(target))
            using (var session = client.OpenSession(options))
            {
                SessionHandle handle = session.Handle;
                for (int i = 0; i < WarmUp + frames; i++)
                {
                    bool raw = i % 2 == 1;
                    int gen0Before = GC.CollectionCount(0);
                    long bytesBefore = GC.GetAllocatedBytesForCurrentThread();
                    times[0] = Stopwatch.GetTimestamp();
                    double a = 0.01 * i;
                    LsPose pose = session.UnityPose((ulong)i + 1, 0, new Vector3d(Math.Sin(a), 1.6, a),
                        new QuaternionD(0, Math.Sin(a / 2), 0, Math.Cos(a / 2)),
                        Lenses.UnityPhysical(35, 36, 24, 0, 0, UnityGateFit.Fill, width, height));
                    if (raw)
                        LatentStageException.Check(NativeMethods.ls_session_submit_pose(handle, &pose),
                                                   "ls_session_submit_pose");
                    else
                        session.Submit(ref pose);
                    times[1] = Stopwatch.GetTimestamp();
                    long bytesMid = GC.GetAllocatedBytesForCurrentThread();
                    WaitForFrame(session, (ulong)i + 1);
                    long bytesWait = GC.GetAllocatedBytesForCurrentThread();
                    ulong id = raw ? RawFrame(handle, pixels, times) : ApiFrame(session, pixels, times);
                    long bytesAfter = GC.GetAllocatedBytesForCurrentThread();
                    if (id != (ulong)i + 1)
                        throw new InvalidOperationException("frame " + id + " is not the one submitted");
                    if (i < WarmUp)
                        continue;
                    int k = i - WarmUp, set = raw ? 4 : 0;
                    samples[set, k] = Ns(times[1] - times[0]);
                    for (int op = 1; op < 4; op++)
                        samples[set + op, k] = Ns(times[op + 2] - times[op + 1]);
                    allocated += (bytesMid - bytesBefore) + (bytesAfter - bytesWait);
                    gen0 += GC.CollectionCount(0) - gen0Before;
                }
                for (int op = 0; op < 8; op++)
                    for (int k = op < 4 ? 0 : 1; k < frames; k += 2)
                        Console.WriteLine("sample " + Ops[op % 4] + (op < 4 ? "" : "_raw") + " "
                                          + samples[op, k]);
                Console.WriteLine("alloc " + allocated + " " + frames + " " + gen0);
                Poll(session, frames);
            }
            return 0;
        }

        /// <summary>Acquire, read the header, copy, release through the LatentStage API;
        /// times[2..5] before each step and at the end.</summary>
        static ulong ApiFrame(LatentStageSession session, byte[] pixels, long[] times)
        {
            times[2] = Stopwatch.GetTimestamp();
            LatentStageFrame frame;
            if (!session.TryAcquireFrame(0, out frame))
                throw new InvalidOperationException("the frame is not ready");
            ulong id = frame.FrameId;
            int w = frame.Width, h = frame.Height;
            LsRung rung = frame.Rung;
            IntPtr data = frame.PixelData;
            times[3] = Stopwatch.GetTimestamp();
            frame.CopyPixelsTo(pixels);
            times[4] = Stopwatch.GetTimestamp();
            frame.Release();
            times[5] = Stopwatch.GetTimestamp();
            return w > 0 && h > 0 && rung != 0 && data != IntPtr.Zero ? id : 0;
        }

        /// <summary>The same through NativeMethods (P/Invoke only, no managed bookkeeping).</summary>
        static ulong RawFrame(SessionHandle handle, byte[] pixels, long[] times)
        {
            times[2] = Stopwatch.GetTimestamp();
            IntPtr native;
            LatentStageException.Check(NativeMethods.ls_session_acquire_frame(handle, 0, out native),
                                       "ls_session_acquire_frame");
            var f = (LsFrame*)native;
            ulong id = f->frame_id;
            uint w = f->width, h = f->height;
            int rung = f->rung;
            IntPtr data = f->pixels;
            times[3] = Stopwatch.GetTimestamp();
            int row = (int)w * 4;
            fixed (byte* dst = pixels)
                for (int y = 0; y < (int)h; y++)
                    Buffer.MemoryCopy((byte*)data + (long)y * f->stride, dst + (long)y * row, row, row);
            times[4] = Stopwatch.GetTimestamp();
            LatentStageException.Check(
                NativeMethods.ls_session_release_frame(handle.DangerousGetHandle(), native),
                "ls_session_release_frame");
            times[5] = Stopwatch.GetTimestamp();
            return w > 0 && h > 0 && rung != 0 ? id : 0;
        }

        /// <summary>Untimed: sleeps until the session has received frame <paramref name="n"/>.</summary>
        static void WaitForFrame(LatentStageSession session, ulong n)
        {
            var deadline = Stopwatch.StartNew();
            while (session.GetStats().frames_received < n)
            {
                if (deadline.ElapsedMilliseconds > 60000)
                    throw new TimeoutException("frame " + n + " did not arrive in 60 s");
                Thread.Sleep(1);
            }
        }

        /// <summary>An idle LateUpdate: acquire finds nothing (LS_TIMEOUT), then a state read.
        /// Timed in batches (Stopwatch ticks are 100 ns under mono).</summary>
        static void Poll(LatentStageSession session, int batches)
        {
            for (int b = 0; b < batches / 4 + 3; b++)
            {
                long t0 = Stopwatch.GetTimestamp();
                for (int k = 0; k < PollBatch; k++)
                {
                    LatentStageFrame frame;
                    if (session.TryAcquireFrame(0, out frame))
                        throw new InvalidOperationException("an unexpected frame");
                }
                long t1 = Stopwatch.GetTimestamp();
                for (int k = 0; k < PollBatch; k++)
                    if (session.State != LsSessionState.Open)
                        throw new InvalidOperationException("the session is not open");
                long t2 = Stopwatch.GetTimestamp();
                if (b < 3)
                    continue;
                Console.WriteLine("sample poll " + Ns(t1 - t0) / PollBatch);
                Console.WriteLine("sample state " + Ns(t2 - t1) / PollBatch);
            }
        }
    }
}
