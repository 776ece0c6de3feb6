// Per-frame cost of the C# binding, the same loop as bench_c.c does through the C library
// alone (tests/unity/bench_unity.py runs both against one server and compares them).
//
// One frame is what LatentStageCamera does in LateUpdate: build a Unity pose with a physical
// lens and submit it; once its frame is there, acquire it and read its header; copy the
// pixels; release it. Waiting for the server is not timed: after submitting, the loop polls
// the stats (untimed) until the frame has arrived, so "acquire" never waits. A second loop
// times an idle LateUpdate: a poll that finds no frame, and a state read.
//
// Output: "sample OP NANOSECONDS" per timed call, and "alloc BYTES FRAMES GEN0" for the
// managed bytes allocated and gen-0 collections over the timed frames.
using System;
using System.Diagnostics;
using System.Threading;
using LatentStage.Native;

namespace LatentStage.Tests
{
    static class Bench
    {
        const int WarmUp = 10;
        const int PollBatch = 1000;

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
            var samples = new long[4, frames];
            long allocated = 0;
            int gen0 = 0;
            using (var client = LatentStageClient.Connect(target))
            using (var session = client.OpenSession(options))
            {
                for (int i = 0; i < WarmUp + frames; i++)
                {
                    int gen0Before = GC.CollectionCount(0);
                    long bytesBefore = GC.GetAllocatedBytesForCurrentThread();
                    long t0 = Stopwatch.GetTimestamp();
                    double a = 0.01 * i;
                    LsPose pose = session.UnityPose((ulong)i + 1, 0, new Vector3d(Math.Sin(a), 1.6, a),
                        new QuaternionD(0, Math.Sin(a / 2), 0, Math.Cos(a / 2)),
                        Lenses.UnityPhysical(35, 36, 24, 0, 0, UnityGateFit.Fill, width, height));
                    session.Submit(ref pose);
                    long t1 = Stopwatch.GetTimestamp();
                    long bytesMid = GC.GetAllocatedBytesForCurrentThread();
                    WaitForFrame(session, (ulong)i + 1);
                    long bytesWait = GC.GetAllocatedBytesForCurrentThread();
                    long t2 = Stopwatch.GetTimestamp();
                    LatentStageFrame frame;
                    if (!session.TryAcquireFrame(0, out frame))
                        throw new InvalidOperationException("frame " + (i + 1) + " not ready");
                    ulong id = frame.FrameId;
                    int w = frame.Width, h = frame.Height;
                    LsRung rung = frame.Rung;
                    IntPtr data = frame.PixelData;
                    long t3 = Stopwatch.GetTimestamp();
                    frame.CopyPixelsTo(pixels);
                    long t4 = Stopwatch.GetTimestamp();
                    frame.Release();
                    long t5 = Stopwatch.GetTimestamp();
                    long bytesAfter = GC.GetAllocatedBytesForCurrentThread();
                    if (id != (ulong)i + 1 || w != width || h != height || rung == 0 || data == IntPtr.Zero)
                        throw new InvalidOperationException("frame " + id + " is not the one submitted");
                    if (i < WarmUp)
                        continue;
                    samples[0, i - WarmUp] = Ns(t1 - t0);
                    samples[1, i - WarmUp] = Ns(t3 - t2);
                    samples[2, i - WarmUp] = Ns(t4 - t3);
                    samples[3, i - WarmUp] = Ns(t5 - t4);
                    allocated += (bytesMid - bytesBefore) + (bytesAfter - bytesWait);
                    gen0 += GC.CollectionCount(0) - gen0Before;
                }
                string[] names = { "submit", "acquire", "copy", "release" };
                for (int op = 0; op < 4; op++)
                    for (int i = 0; i < frames; i++)
                        Console.WriteLine("sample " + names[op] + " " + samples[op, i]);
                Console.WriteLine("alloc " + allocated + " " + frames + " " + gen0);
                Poll(session, frames);
            }
            return 0;
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
