// The reference run written by tests/engine_bridge/test_unity_bindings.py: the poses it sent
// through the Python client and the frames it got back (RGB8, top row first). Every double is
// written as its IEEE bits in hex, so both clients send the same values and the comparison is
// bit for bit (Mono 6.8's double.Parse is not correctly rounded: "0.950319258" comes back one
// ulp off, and "-0.0" as +0).
using System;
using System.Globalization;
using System.IO;
using LatentStage.Native;

namespace LatentStage.Tests
{
    sealed class RefPose
    {
        public ulong FrameId;
        public long CaptureTimeNs;
        public string Form;                       // "unity", "pose_quat" or "pose_euler"
        public double[] Position = new double[3]; // Unity metres
        public double[] Rotation = new double[4]; // quaternion x y z w, or Euler x y z degrees
        public LsLens Lens;                       // kind None = the session's
        public LsTimecode Timecode;
    }

    sealed class RefFrame
    {
        public ulong FrameId;
        public long CaptureTimeNs;
        public LsTimecode Timecode;
        public int Width, Height;
        public long[] C2WBits = new long[16];     // rendered_c2w, row-major
        public long[] KBits = new long[4];        // fx, fy, cx, cy
        public byte[] Rgb;                        // [Height, Width, 3], top row first
    }

    sealed class References
    {
        public int Width, Height;
        public ulong WorldSeed, NoiseSeed;
        public double FovDeg;
        public RefPose[] Poses;
        public RefFrame[] Frames;
        /// <summary>A FreeD-tracked camera of the server ("" when it has none): its name, the
        /// UDP port it listens on, and D1 datagrams to send it.</summary>
        public string TrackedCamera = "";
        public int TrackedPort;
        public byte[][] FreedPackets = new byte[0][];

        static double D(string hexBits)
        {
            return BitConverter.Int64BitsToDouble(Bits(hexBits));
        }

        static long Bits(string hex)
        {
            return long.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }

        static LsTimecode Tc(string[] f, int at)
        {
            var tc = new LsTimecode();
            if (f[at] == "0")
                return tc;
            tc.valid = 1;
            tc.hours = uint.Parse(f[at + 1]);
            tc.minutes = uint.Parse(f[at + 2]);
            tc.seconds = uint.Parse(f[at + 3]);
            tc.frames = uint.Parse(f[at + 4]);
            tc.rate_num = uint.Parse(f[at + 5]);
            tc.rate_den = uint.Parse(f[at + 6]);
            return tc;
        }

        public static References Load(string dir)
        {
            var r = new References();
            var meta = File.ReadAllText(Path.Combine(dir, "meta.txt")).Trim().Split(' ');
            r.Width = int.Parse(meta[0]);
            r.Height = int.Parse(meta[1]);
            r.WorldSeed = ulong.Parse(meta[2]);
            r.NoiseSeed = ulong.Parse(meta[3]);
            r.FovDeg = double.Parse(meta[4], NumberStyles.Float, CultureInfo.InvariantCulture);
            string tracked = Path.Combine(dir, "tracked.txt");
            if (File.Exists(tracked))
            {
                var lines = File.ReadAllLines(tracked);
                var head = lines[0].Split(' ');
                r.TrackedCamera = head[0];
                r.TrackedPort = int.Parse(head[1]);
                r.FreedPackets = new byte[lines.Length - 1][];
                for (int i = 1; i < lines.Length; i++)
                {
                    var packet = new byte[lines[i].Length / 2];
                    for (int k = 0; k < packet.Length; k++)
                        packet[k] = byte.Parse(lines[i].Substring(2 * k, 2), NumberStyles.HexNumber);
                    r.FreedPackets[i - 1] = packet;
                }
            }
            var poses = File.ReadAllLines(Path.Combine(dir, "poses.txt"));
            r.Poses = new RefPose[poses.Length];
            for (int i = 0; i < poses.Length; i++)
                r.Poses[i] = ParsePose(poses[i].Split(' '));
            var frames = File.ReadAllLines(Path.Combine(dir, "expected.txt"));
            r.Frames = new RefFrame[frames.Length];
            for (int i = 0; i < frames.Length; i++)
            {
                var f = frames[i].Split(' ');
                var e = new RefFrame
                {
                    FrameId = ulong.Parse(f[0]), CaptureTimeNs = long.Parse(f[1]), Timecode = Tc(f, 2),
                    Width = int.Parse(f[9]), Height = int.Parse(f[10]),
                };
                for (int k = 0; k < 16; k++)
                    e.C2WBits[k] = Bits(f[11 + k]);
                for (int k = 0; k < 4; k++)
                    e.KBits[k] = Bits(f[27 + k]);
                e.Rgb = File.ReadAllBytes(Path.Combine(dir, "frame_" + i.ToString("D3") + ".rgb"));
                r.Frames[i] = e;
            }
            return r;
        }

        // frame_id capture_ns form px py pz r0 r1 r2 r3 lens l1..l6 tc_valid hh mm ss ff num den
        // (doubles px..r3 and l1..l6 as hex bits; fov axis and gate_fit are doubles too)
        static RefPose ParsePose(string[] f)
        {
            var p = new RefPose { FrameId = ulong.Parse(f[0]), CaptureTimeNs = long.Parse(f[1]), Form = f[2] };
            for (int k = 0; k < 3; k++)
                p.Position[k] = D(f[3 + k]);
            for (int k = 0; k < 4; k++)
                p.Rotation[k] = D(f[6 + k]);
            if (f[10] == "fov")
                p.Lens = Lenses.FieldOfView(D(f[11]), (int)D(f[12]));
            else if (f[10] == "physical")
                p.Lens = new LsLens
                {
                    kind = (int)LsLensKind.Physical, focal_length_mm = D(f[11]), sensor_width_mm = D(f[12]),
                    sensor_height_mm = D(f[13]), offset_x = D(f[14]), offset_y = D(f[15]),
                    gate_fit = (int)D(f[16]),
                };
            p.Timecode = Tc(f, 17);
            return p;
        }
    }
}
