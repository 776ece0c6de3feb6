// The binding layer (Runtime/Native) against the native library and a real server started by
// tests/engine_bridge/test_unity_bindings.py: the Python client's frames for the same Unity
// poses are the reference, compared byte for byte.
using System;
using LatentStage.Native;

namespace LatentStage.Tests
{
    static unsafe class BindingTests
    {
        public static void AddAll(Runner run, string target, References refs)
        {
            // Without a server.
            run.Add("library_reports_the_header_abi", LibraryAbi);
            run.Add("null_handles_are_invalid_arguments", NullHandles);
            run.Add("connect_without_a_target_names_the_field", ConnectWithoutTarget);
            run.Add("connect_to_nothing_is_unavailable", ConnectToNothing);
            run.Add("strings_with_nul_are_refused", StringsWithNul);
            run.Add("unity_gate_fit_resolves_fill_and_overscan", GateFit);
            run.Add("lens_values_are_checked", LensChecks);
            run.Add("frame_table_releases_each_acquisition_once", FrameTableUnderContention);
            // Against the server.
            run.Add("server_info", () => ServerInfo(target));
            run.Add("session_matches_python_frames", () => MatchesPython(target, refs));
            run.Add("bad_sizes_are_refused", () => BadSizes(target));
            run.Add("double_release_throws", () => DoubleRelease(target));
            run.Add("disposed_handles_throw", () => DisposedHandles(target));
            run.Add("session_keeps_its_client_alive", () => SessionKeepsClient(target));
            run.Add("worlds_save_load_list_delete", () => Worlds(target));
            run.Add("connection_opens_switches_worlds_and_cleans_up", () => Connection(target));
            run.Add("watching_a_tracked_camera", () => Watching(target, refs));
        }

        // ----- without a server ------------------------------------------------------------
        static void LibraryAbi()
        {
            Check.Equal(NativeMethods.AbiVersion, NativeMethods.ls_abi_version(), "ls_abi_version");
            Check.True(LatentStageClient.LibraryVersion.Split('.').Length == 3,
                       "ls_version \"" + LatentStageClient.LibraryVersion + "\" is MAJOR.MINOR.PATCH");
            Check.Equal("LS_INVALID_ARGUMENT", Utf8.FromPointer(NativeMethods.ls_status_name(LsStatus.InvalidArgument)),
                        "ls_status_name");
            Check.Equal(LatentStageException.StatusName(LsStatus.Busy),
                        Utf8.FromPointer(NativeMethods.ls_status_name(LsStatus.Busy)), "status names agree");
            LatentStageClient.CheckAbi();  // every mirrored struct has the library's size
            fixed (byte* frame = Utf8.Bytes("ls_frame", "name"), other = Utf8.Bytes("ls_nothing", "name"))
            {
                Check.Equal((ulong)System.Runtime.InteropServices.Marshal.SizeOf(typeof(LsFrame)),
                            NativeMethods.ls_struct_size(frame).ToUInt64(), "ls_struct_size(ls_frame)");
                Check.Equal(0UL, NativeMethods.ls_struct_size(other).ToUInt64(), "an unknown struct");
            }
        }

        static void NullHandles()
        {
            LsSessionStats stats;
            ExpectNative(LsStatus.InvalidArgument, NativeMethods.ls_session_get_stats_raw(IntPtr.Zero, &stats));
            LsServerInfo info;
            ExpectNative(LsStatus.InvalidArgument, NativeMethods.ls_client_server_info_raw(IntPtr.Zero, &info));
            LsPose pose;
            NativeMethods.ls_pose_init(&pose);
            ExpectNative(LsStatus.InvalidArgument, NativeMethods.ls_session_submit_pose_raw(IntPtr.Zero, &pose));
            ExpectNative(LsStatus.InvalidArgument, NativeMethods.ls_session_release_frame(IntPtr.Zero, IntPtr.Zero));
            Check.Equal(LsStatus.Ok, NativeMethods.ls_client_destroy(IntPtr.Zero), "ls_client_destroy(NULL)");
            Check.Equal(LsStatus.Ok, NativeMethods.ls_session_close(IntPtr.Zero), "ls_session_close(NULL)");
        }

        static void ExpectNative(LsStatus expected, LsStatus actual)
        {
            string message = Utf8.FromPointer(NativeMethods.ls_last_error());
            Check.Equal(expected, actual, "status (" + message + ")");
            Check.True(message.Length > 0, "ls_last_error() is empty after " + actual);
        }

        static void ConnectWithoutTarget()
        {
            Check.Throws(LsStatus.InvalidArgument, () => LatentStageClient.Connect((string)null),
                         "ls_client_connect", "target");
            Check.Throws(LsStatus.InvalidArgument, () => LatentStageClient.Connect((ConnectOptions)null),
                         "options");
        }

        static void ConnectToNothing()
        {
            var options = new ConnectOptions("127.0.0.1:1") { TimeoutMs = 1000 };
            Check.Throws(LsStatus.Unavailable, () => LatentStageClient.Connect(options), "ls_client_connect");
        }

        static void StringsWithNul()
        {
            Check.Throws(LsStatus.InvalidArgument, () => LatentStageClient.Connect("127.0.0.1\0:1"),
                         "connect_options.target", "\\0");
        }

        static void GateFit()
        {
            // A 36x24 mm sensor (1.5) on a 64x48 image (1.33): the sensor is wider.
            Check.Equal(2, Lenses.GateFit(UnityGateFit.Fill, 36, 24, 64, 48), "Fill, wider sensor: vertical");
            Check.Equal(1, Lenses.GateFit(UnityGateFit.Overscan, 36, 24, 64, 48), "Overscan, wider sensor: horizontal");
            Check.Equal(1, Lenses.GateFit(UnityGateFit.Fill, 36, 24, 160, 48), "Fill, narrower sensor: horizontal");
            Check.Equal(2, Lenses.GateFit(UnityGateFit.Overscan, 36, 24, 160, 48), "Overscan, narrower sensor: vertical");
            Check.Equal(1, Lenses.GateFit(UnityGateFit.Horizontal, 36, 24, 64, 48), "Horizontal");
            Check.Equal(2, Lenses.GateFit(UnityGateFit.Vertical, 36, 24, 64, 48), "Vertical");
            Check.Equal(3, Lenses.GateFit(UnityGateFit.None, 36, 24, 64, 48), "None");
            Check.Throws(LsStatus.InvalidArgument, () => Lenses.GateFit(UnityGateFit.Fill, 36, 0, 64, 48),
                         "lens.gate_fit", "positive sizes");
            Check.Throws(LsStatus.InvalidArgument, () => Lenses.GateFit((UnityGateFit)9, 36, 24, 64, 48), "9");
        }

        static void LensChecks()
        {
            var lens = Lenses.FieldOfView(60);
            Check.Equal((int)LsLensKind.Fov, lens.kind, "kind");
            Check.Equal(0, lens.fov_axis, "axis: the convention's own");
            Check.Throws(LsStatus.InvalidArgument, () => Lenses.FieldOfView(180), "lens.fov_deg", "180");
            Check.Throws(LsStatus.InvalidArgument, () => Lenses.FieldOfView(60, 4), "lens.fov_axis");
        }

        static void FrameTableUnderContention()
        {
            var table = new FrameTable();
            var slots = new int[FrameTable.Capacity];
            var tokens = new long[FrameTable.Capacity];
            for (int round = 0; round < 200; round++)
            {
                for (int i = 0; i < FrameTable.Capacity; i++)
                {
                    slots[i] = table.Add((IntPtr)(0x1000 + i), out tokens[i]);
                    Check.True(slots[i] >= 0, "slot for frame " + i);
                }
                long extra;
                Check.Equal(-1, table.Add((IntPtr)0x9999, out extra), "a full table");
                int released = 0;
                var threads = new System.Threading.Thread[4];
                for (int t = 0; t < threads.Length; t++)
                {
                    threads[t] = new System.Threading.Thread(() =>
                    {
                        for (int i = 0; i < FrameTable.Capacity; i++)
                        {
                            IntPtr frame;
                            if (table.Remove(slots[i], tokens[i], out frame))
                            {
                                System.Threading.Interlocked.Increment(ref released);
                                if (frame != (IntPtr)(0x1000 + i))
                                    throw new InvalidOperationException("slot " + slots[i] + " gave " + frame);
                            }
                        }
                    });
                    threads[t].Start();
                }
                foreach (var thread in threads)
                    thread.Join();
                Check.Equal(FrameTable.Capacity, released, "releases that succeeded, round " + round);
                for (int i = 0; i < FrameTable.Capacity; i++)
                    Check.True(!table.IsCurrent(slots[i], tokens[i]), "a released token is stale");
            }
        }

        // ----- against the server ----------------------------------------------------------
        static SessionOptions Small(uint width = 64, uint height = 48)
        {
            return new SessionOptions
            {
                Width = width, Height = height, Pacing = LsPacing.Lockstep, Prediction = 0,
                Lens = Lenses.FieldOfView(60),
            };
        }

        static void ServerInfo(string target)
        {
            using (var client = LatentStageClient.Connect(target))
            {
                var info = client.GetServerInfo();
                Check.Equal(NativeMethods.ProtocolRevision, info.protocol_revision, "protocol_revision");
                Check.Equal("torch", info.Backend, "backend");
                Check.True(info.max_width >= 64 && info.max_height >= 48, "max size " + info.max_width);
                Check.True(info.latent_stride > 0, "latent_stride " + info.latent_stride);
                Check.Equal(target, client.Target, "target");
            }
        }

        static void MatchesPython(string target, References refs)
        {
            var options = Small((uint)refs.Width, (uint)refs.Height);
            options.NewWorldKind = LsWorldKind.Outdoor;
            options.NewWorldSeed = refs.WorldSeed;
            options.Seed = refs.NoiseSeed;
            options.Lens = Lenses.FieldOfView(refs.FovDeg);
            int w = refs.Width, h = refs.Height;
            var pixels = new byte[w * h * 4];
            long allocated = 0;
            ulong allocationsAfterWarmUp = 0;
            using (var client = LatentStageClient.Connect(target))
            using (var session = client.OpenSession(options))
            {
                Check.Equal(LsSessionState.Open, session.State, "state");
                for (int i = 0; i < refs.Poses.Length; i++)
                {
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    if (!Submit(session, refs.Poses[i]))  // no message string inside the window
                        throw new AssertionFailed("pose " + i + ": LS_BUSY");
                    LatentStageFrame frame = session.AcquireFrame(60000);
                    LsFrame header = frame.Header;
                    int copied = frame.CopyPixelsTo(pixels);
                    frame.Release();
                    if (i >= 10)  // after the JIT and the ring's first fills
                        allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                    if (i == 10)
                        allocationsAfterWarmUp = session.GetStats().frame_allocations;
                    Check.Equal(w * h * 4, copied, "bytes copied");
                    CompareFrame(i, header, pixels, refs.Frames[i]);
                }
                var stats = session.GetStats();
                Check.Equal((ulong)refs.Poses.Length, stats.frames_received, "frames_received");
                Check.Equal((ulong)refs.Poses.Length, stats.poses_submitted, "poses_submitted");
                Check.Equal(0UL, stats.server_errors, "server_errors (" + stats.LastServerError + ")");
                Check.Equal(allocationsAfterWarmUp, stats.frame_allocations, "ring allocations after frame 10");
                Check.True(stats.WorldId.Length > 0 && stats.SessionId.Length > 0, "session and world ids");
            }
            Check.Equal(0L, allocated, "managed bytes allocated by the binding over frames 10.."
                        + (refs.Poses.Length - 1));
        }

        static bool Submit(LatentStageSession session, RefPose p)
        {
            var position = new Vector3d(p.Position[0], p.Position[1], p.Position[2]);
            if (p.Form == "unity")
                return session.TrySubmitUnity(p.FrameId, p.CaptureTimeNs, position,
                    new QuaternionD(p.Rotation[0], p.Rotation[1], p.Rotation[2], p.Rotation[3]));
            LsPose pose = session.UnityPose(p.FrameId, p.CaptureTimeNs, position,
                new QuaternionD(p.Rotation[0], p.Rotation[1], p.Rotation[2], p.Rotation[3]), p.Lens);
            if (p.Form == "pose_euler")
            {
                pose.rotation_form = (int)LsRotationForm.UnityEuler;
                for (int k = 0; k < 3; k++)
                    pose.rotator[k] = p.Rotation[k];
            }
            pose.timecode = p.Timecode;
            return session.TrySubmit(ref pose);
        }

        static void CompareFrame(int i, LsFrame f, byte[] bgra, RefFrame e)
        {
            string at = "frame " + i + ": ";
            Check.Equal(e.FrameId, f.frame_id, at + "frame_id echo");
            Check.Equal(e.CaptureTimeNs, f.capture_time_ns, at + "capture_time_ns echo");
            Check.Equal(e.Timecode.valid, f.timecode.valid, at + "timecode.valid");
            if (e.Timecode.valid != 0)
                Check.Equal(e.Timecode.seconds * 100 + e.Timecode.frames,
                            f.timecode.seconds * 100 + f.timecode.frames, at + "timecode ss:ff");
            Check.Equal((uint)e.Width, f.width, at + "width");
            Check.Equal((uint)e.Height, f.height, at + "height");
            Check.Equal((int)LsEncoding.RawBgra8, f.encoding, at + "encoding");
            Check.Equal(1, f.bottom_up, at + "bottom_up");
            Check.Equal(f.width * 4, f.stride, at + "stride");
            Check.Equal((int)LsRung.Full, f.rung, at + "rung (lockstep renders every pose in full)");
            Check.Equal((ulong)(i + 1), f.sequence, at + "sequence");
            for (int k = 0; k < 16; k++)
                Check.Equal(e.C2WBits[k], BitConverter.DoubleToInt64Bits(f.rendered_c2w[k]),
                            at + "rendered_c2w[" + k + "] bits");
            double[] intrinsics = { f.fx, f.fy, f.cx, f.cy };
            for (int k = 0; k < 4; k++)
                Check.Equal(e.KBits[k], BitConverter.DoubleToInt64Bits(intrinsics[k]), at + "intrinsics[" + k + "] bits");
            // Bottom-up BGRA against top-down RGB: output row r is the reference's row h-1-r.
            int w = e.Width, h = e.Height;
            for (int r = 0; r < h; r++)
                for (int c = 0; c < w; c++)
                {
                    int o = (r * w + c) * 4, s = ((h - 1 - r) * w + c) * 3;
                    if (bgra[o] != e.Rgb[s + 2] || bgra[o + 1] != e.Rgb[s + 1] || bgra[o + 2] != e.Rgb[s]
                        || bgra[o + 3] != 255)
                        throw new AssertionFailed(at + "pixel (row " + r + " from the bottom, col " + c
                            + ") BGRA " + bgra[o] + "," + bgra[o + 1] + "," + bgra[o + 2] + "," + bgra[o + 3]
                            + " but the Python client's RGB is " + e.Rgb[s] + "," + e.Rgb[s + 1] + "," + e.Rgb[s + 2]);
                }
        }

        static LatentStageFrame Render(LatentStageSession session, ulong frameId)
        {
            Check.True(session.TrySubmitUnity(frameId, 0, new Vector3d(0, 1.6, 0), new QuaternionD(0, 0, 0, 1)),
                       "LS_BUSY");
            return session.AcquireFrame(60000);
        }

        static void BadSizes(string target)
        {
            using (var client = LatentStageClient.Connect(target))
            {
                Check.Throws(LsStatus.InvalidArgument, () => client.OpenSession(Small(0, 48)).Dispose(),
                             "ls_session_open", "width");
                Check.Throws(LsStatus.InvalidArgument, () => client.OpenSession(null), "options");
                using (var session = client.OpenSession(Small()))
                {
                    var frame = Render(session, 1);
                    Check.Equal(64 * 48 * 4, frame.PackedSize, "PackedSize");
                    Check.Throws(LsStatus.InvalidArgument, () => frame.CopyPixelsTo(new byte[100]),
                                 "CopyPixelsTo", "100 bytes", "at least 12288");
                    Check.Throws(LsStatus.InvalidArgument, () => frame.CopyPixelsTo(null), "destination");
                    Check.Throws(LsStatus.InvalidArgument, () => frame.CopyPixelsTo(IntPtr.Zero, 12288),
                                 "null pointer");
                    Check.Throws(LsStatus.InvalidArgument, () => frame.RenderedC2W(16), "index 16");
                    Check.Equal(64 * 48 * 4, frame.Pixels.Length, "Pixels span length");
                    frame.Release();
                }
            }
        }

        static void DoubleRelease(string target)
        {
            using (var client = LatentStageClient.Connect(target))
            using (var session = client.OpenSession(Small()))
            {
                var frame = Render(session, 7);
                var copy = frame;
                Check.Equal(7UL, frame.FrameId, "frame_id");
                frame.Release();
                Check.True(!copy.IsAcquired, "a copy of a released frame is not acquired");
                Check.Throws(LsStatus.InvalidArgument, () => copy.Release(), "Release", "already released");
                Check.Throws(LsStatus.InvalidArgument, () => { var unused = copy.FrameId; }, "FrameId", "released");
                Check.Throws(LsStatus.InvalidArgument, () => default(LatentStageFrame).Release(), "default frame");
                copy.Dispose();  // Dispose never throws
                // The ring slot is reused by the next frame; the stale copy must not release it.
                var next = Render(session, 8);
                Check.Throws(LsStatus.InvalidArgument, () => copy.Release(), "already released");
                Check.Equal(8UL, next.FrameId, "the next frame is intact");
                next.Dispose();
                Check.True(!next.IsAcquired, "Dispose released it");
            }
        }

        static void DisposedHandles(string target)
        {
            var client = LatentStageClient.Connect(target);
            var session = client.OpenSession(Small());
            var frame = Render(session, 1);
            session.Dispose();
            session.Dispose();  // twice is fine
            Check.True(session.IsDisposed, "IsDisposed");
            Check.True(!frame.IsAcquired, "disposing the session released its frames");
            Check.Throws(LsStatus.InvalidArgument, () => { var unused = frame.Width; }, "Width");
            frame.Dispose();
            Check.Throws(LsStatus.Closed, () => session.TrySubmitUnity(2, 0, new Vector3d(), new QuaternionD(0, 0, 0, 1)),
                         "LatentStageSession.TrySubmitUnity", "disposed");
            Check.Throws(LsStatus.Closed, () => { var unused = session.State; }, "LatentStageSession.State");
            LatentStageFrame f;
            Check.Throws(LsStatus.Closed, () => session.TryAcquireFrame(0, out f), "TryAcquireFrame");
            Check.Throws(LsStatus.Closed, () => session.GetStats(), "GetStats");
            Check.Throws(LsStatus.Closed, () => { var unused = session.Handle; }, "Handle");
            client.Dispose();
            client.Dispose();
            Check.Throws(LsStatus.Closed, () => client.OpenSession(Small()), "LatentStageClient.OpenSession");
        }

        static void SessionKeepsClient(string target)
        {
            var client = LatentStageClient.Connect(target);
            var session = client.OpenSession(Small());
            ClientHandle handle = client.Handle;
            client.Dispose();
            Check.Throws(LsStatus.Closed, () => client.GetServerInfo(), "LatentStageClient.GetServerInfo", "disposed");
            Check.True(client.IsDisposed && !handle.IsClosed, "disposed, while the session holds the handle");
            // The native client lives on while its session is open: the session still renders.
            var frame = Render(session, 3);
            Check.Equal(3UL, frame.FrameId, "frame from a session whose client was disposed");
            frame.Release();
            Check.True(!handle.IsReleased, "the native client is not destroyed while its session is open");
            session.Dispose();
            Check.True(handle.IsReleased, "the native client is destroyed with its last session");
            Check.Equal(LsStatus.Ok, handle.ReleaseStatus, "ls_client_destroy status");
        }

        static void Worlds(string target)
        {
            using (var client = LatentStageClient.Connect(target))
            {
                var world = client.CreateProceduralWorld(11, LsWorldKind.Indoor, "unity-test");
                Check.True(world.WorldId.Length > 0, "world id");
                Check.Equal("unity-test", world.Name, "name");
                Check.True(Array.Exists(client.ListWorlds(), x => x.WorldId == world.WorldId), "listed");
                ulong bytes;
                string snapshot = client.SaveWorld(world.WorldId, "unity-snap", out bytes);
                Check.Equal("unity-snap", snapshot, "snapshot name");
                Check.True(bytes > 0, "snapshot bytes " + bytes);
                var loaded = client.LoadWorld(snapshot, "unity-loaded");
                Check.True(loaded.WorldId != world.WorldId, "a new world from the snapshot");
                client.DeleteWorld(loaded.WorldId, true);
                client.DeleteWorld(world.WorldId, true);
                Check.True(!Array.Exists(client.ListWorlds(), x => x.WorldId == world.WorldId), "deleted");
                Check.Throws(LsStatus.NotFound, () => client.DeleteWorld(world.WorldId), "ls_world_delete");
                Check.Throws(LsStatus.NotFound, () => client.LoadWorld("no-such-snapshot"), "ls_world_load");
            }
        }
    
        static LatentStageSession Pump(LatentStageConnection connection, Func<bool> done)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < 60)
            {
                var session = connection.Update(clock.Elapsed.TotalSeconds);
                if (session != null && done())
                    return session;
                System.Threading.Thread.Sleep(5);
            }
            throw new AssertionFailed("no open session within 60 s (" + connection.LastError + ")");
        }

        static bool Listed(LatentStageClient client, string worldId)
        {
            return Array.Exists(client.ListWorlds(), x => x.WorldId == worldId);
        }

        static void Connection(string target)
        {
            var options = Small();
            options.NewWorldKind = LsWorldKind.Indoor;
            options.NewWorldSeed = 4;
            using (var observer = LatentStageClient.Connect(target))
            {
                string first, second;
                using (var connection = new LatentStageConnection(new ConnectOptions(target), options))
                {
                    Check.True(connection.Update(0) == null && connection.Busy, "connecting on a worker");
                    var session = Pump(connection, () => true);
                    first = connection.WorldId;
                    Check.True(Listed(observer, first), "the connection created its world " + first);
                    var frame = Render(session, 1);
                    frame.Release();
                    string snapshot = connection.SaveWorldAsync("connection-snap").Result;
                    Check.Equal("connection-snap", snapshot, "snapshot");
                    connection.LoadWorld(snapshot, "connection-loaded");
                    session = Pump(connection, () => connection.WorldId != first);
                    second = connection.WorldId;
                    Check.True(!Listed(observer, first), "the first world was deleted when the session moved");
                    Check.True(Listed(observer, second), "the loaded world is attached");
                    Check.Equal(second, session.GetStats().WorldId, "the session's world");
                    frame = Render(session, 2);
                    Check.Equal(2UL, frame.FrameId, "a frame from the loaded world");
                    frame.Release();
                    connection.LoadWorld("no-such-snapshot");
                    Pump(connection, () => !connection.Busy);
                    Check.True(connection.LastError.StartsWith("ls_world_load: LS_NOT_FOUND: "),
                               "LastError \"" + connection.LastError + "\"");
                    Check.Equal(second, connection.WorldId, "a failed load keeps the session where it was");
                }
                Check.True(!Listed(observer, second), "Dispose deleted the world the connection loaded");
            }
        }
    
        /// <summary>A session on the server's FreeD-tracked camera: it receives frames for the
        /// datagrams sent to the camera's UDP port and refuses poses; the connection (what
        /// LatentStageCamera uses in TrackedCamera mode) opens one too.</summary>
        static void Watching(string target, References refs)
        {
            Check.True(refs.TrackedCamera.Length > 0, "the reference run names no tracked camera");
            var options = new SessionOptions { Width = 64, Height = 48, TrackedCamera = refs.TrackedCamera };
            using (var client = LatentStageClient.Connect(target))
            {
                var unknown = options.Clone();
                unknown.TrackedCamera = "no-such-camera";
                Check.Throws(LsStatus.NotFound, () => client.OpenSession(unknown).Dispose(),
                             "ls_session_open", "no-such-camera");
                using (var session = client.OpenSession(options))
                using (var udp = new System.Net.Sockets.UdpClient())
                {
                    Check.True(session.IsWatching, "IsWatching");
                    Check.Throws(LsStatus.FailedPrecondition, () => session.TrySubmitUnity(
                        1, 0, new Vector3d(0, 1.6, 0), new QuaternionD(0, 0, 0, 1)), "ls_session_submit_unity");
                    int frames = 0;
                    ulong lastId = 0;
                    foreach (var packet in refs.FreedPackets)
                    {
                        udp.Send(packet, packet.Length, "127.0.0.1", refs.TrackedPort);
                        LatentStageFrame frame;
                        if (!session.TryAcquireFrame(40, out frame))  // the tracker runs at ~25 Hz here
                            continue;
                        Check.Equal(64, frame.Width, "width");
                        Check.True(frame.BottomUp && frame.Encoding == LsEncoding.RawBgra8, "BGRA bottom-up");
                        Check.True(frame.FrameId > lastId && frame.FrameId <= (ulong)refs.FreedPackets.Length,
                                   "frame_id " + frame.FrameId + " counts the tracker's packets");
                        lastId = frame.FrameId;
                        frame.Release();
                        frames++;
                    }
                    Check.True(frames > 0, "no frame for " + refs.FreedPackets.Length + " datagrams");
                }
            }
            using (var connection = new LatentStageConnection(new ConnectOptions(target), options))
            {
                var session = Pump(connection, () => true);
                Check.True(session.IsWatching, "the connection watches");
            }
        }
    }
}
