// An acquired frame: a view of a library-owned ls_frame, valid until it is released. Reading
// it allocates nothing; every member checks that the frame is still acquired, so a released
// frame (or a copy of one) throws instead of reading a buffer the ring has reused.
using System;

namespace LatentStage.Native
{
    public readonly unsafe struct LatentStageFrame : IDisposable
    {
        readonly LatentStageSession session;
        readonly IntPtr native;  // const ls_frame*
        readonly int slot;
        readonly long token;

        internal LatentStageFrame(LatentStageSession session, IntPtr native, int slot, long token)
        {
            this.session = session;
            this.native = native;
            this.slot = slot;
            this.token = token;
        }

        /// <summary>Whether this frame is still acquired (not released, session open).</summary>
        public bool IsAcquired
        {
            get { return session != null && session.IsCurrent(slot, token); }
        }

        LsFrame* F(string member)
        {
            if (!IsAcquired)
                throw new LatentStageException(LsStatus.InvalidArgument, "LatentStageFrame." + member,
                    "the frame was released (or its session disposed): acquire another");
            return (LsFrame*)native;
        }

        /// <summary>A copy of the whole native header (timing, memory stats, ...).</summary>
        public LsFrame Header { get { return *F("Header"); } }
        /// <summary>The pose's frame_id, echoed.</summary>
        public ulong FrameId { get { return F("FrameId")->frame_id; } }
        /// <summary>The pose's capture_time_ns, echoed.</summary>
        public long CaptureTimeNs { get { return F("CaptureTimeNs")->capture_time_ns; } }
        /// <summary>The pose's timecode, echoed (valid = 0 if it had none).</summary>
        public LsTimecode Timecode { get { return F("Timecode")->timecode; } }
        /// <summary>Width, pixels: exactly the size asked for.</summary>
        public int Width { get { return (int)F("Width")->width; } }
        /// <summary>Height, pixels.</summary>
        public int Height { get { return (int)F("Height")->height; } }
        /// <summary>Raw: bytes per row; JPEG: 0.</summary>
        public int Stride { get { return (int)F("Stride")->stride; } }
        /// <summary>How the pixels are encoded.</summary>
        public LsEncoding Encoding { get { return (LsEncoding)F("Encoding")->encoding; } }
        /// <summary>Raw: the first row is the image's bottom row (Unity's texture origin).</summary>
        public bool BottomUp { get { return F("BottomUp")->bottom_up != 0; } }
        /// <summary>The degradation rung that produced the frame.</summary>
        public LsRung Rung { get { return (LsRung)F("Rung")->rung; } }
        /// <summary>1, 2, 3... frames the server rendered for this session.</summary>
        public ulong Sequence { get { return F("Sequence")->sequence; } }
        /// <summary>Bytes at PixelData.</summary>
        public int SizeBytes { get { return (int)F("SizeBytes")->size_bytes.ToUInt64(); } }
        /// <summary>The pixels (raw rows Stride bytes apart, or a JPEG file). Library memory:
        /// valid until Release, never written while acquired.</summary>
        public IntPtr PixelData { get { return F("PixelData")->pixels; } }

        /// <summary>The canonical camera-to-world rendered, row-major, element i of 16.</summary>
        public double RenderedC2W(int i)
        {
            if ((uint)i >= 16)
                throw new LatentStageException(LsStatus.InvalidArgument, "LatentStageFrame.RenderedC2W",
                    "index " + i + ": 0..15 expected");
            return F("RenderedC2W")->rendered_c2w[i];
        }

        /// <summary>The pixels as a span over library memory, valid until Release.</summary>
        public ReadOnlySpan<byte> Pixels
        {
            get
            {
                LsFrame* f = F("Pixels");
                return new ReadOnlySpan<byte>((void*)f->pixels, (int)f->size_bytes.ToUInt64());
            }
        }

        /// <summary>Bytes per pixel of a raw encoding, 0 for JPEG.</summary>
        public static int BytesPerPixel(LsEncoding encoding)
        {
            switch (encoding)
            {
                case LsEncoding.RawRgb8: return 3;
                case LsEncoding.RawRgba8:
                case LsEncoding.RawBgra8: return 4;
                default: return 0;
            }
        }

        /// <summary>Bytes CopyPixelsTo writes: width * height * bytes per pixel for raw frames
        /// (rows packed, no stride padding), the file size for JPEG.</summary>
        public int PackedSize
        {
            get
            {
                LsFrame* f = F("PackedSize");
                int bpp = BytesPerPixel((LsEncoding)f->encoding);
                return bpp == 0 ? (int)f->size_bytes.ToUInt64() : (int)(f->width * f->height) * bpp;
            }
        }

        /// <summary>Copies the pixels into <paramref name="destination"/> with rows packed
        /// (stride padding dropped), in the frame's row order. Returns the bytes written.</summary>
        public int CopyPixelsTo(byte[] destination)
        {
            if (destination == null)
                throw new LatentStageException(LsStatus.InvalidArgument, "LatentStageFrame.CopyPixelsTo",
                    "destination: null: a byte array of PackedSize bytes expected");
            fixed (byte* d = destination)
                return Copy((IntPtr)d, destination.Length, "CopyPixelsTo");
        }

        /// <summary>As CopyPixelsTo(byte[]), into native memory (e.g. a NativeArray's pointer)
        /// of <paramref name="capacity"/> bytes.</summary>
        public int CopyPixelsTo(IntPtr destination, int capacity)
        {
            if (destination == IntPtr.Zero)
                throw new LatentStageException(LsStatus.InvalidArgument, "LatentStageFrame.CopyPixelsTo",
                    "destination: null pointer: " + capacity + " writable bytes expected");
            return Copy(destination, capacity, "CopyPixelsTo");
        }

        int Copy(IntPtr destination, int capacity, string member)
        {
            LsFrame* f = F(member);
            int packed = PackedSize;
            if (capacity < packed)
                throw new LatentStageException(LsStatus.InvalidArgument, "LatentStageFrame." + member,
                    "destination: " + capacity + " bytes: at least " + packed + " expected ("
                    + f->width + "x" + f->height + " " + (LsEncoding)f->encoding + ")");
            int row = BytesPerPixel((LsEncoding)f->encoding) * (int)f->width;
            byte* src = (byte*)f->pixels;
            byte* dst = (byte*)destination;
            if (row == 0 || f->stride == row)
            {
                Buffer.MemoryCopy(src, dst, capacity, packed);
                return packed;
            }
            for (int y = 0; y < (int)f->height; y++)
                Buffer.MemoryCopy(src + (long)y * f->stride, dst + (long)y * row, row, row);
            return packed;
        }

        /// <summary>Gives the buffer back to the session's ring. A second release throws
        /// LatentStageException (LS_INVALID_ARGUMENT).</summary>
        public void Release()
        {
            if (session == null)
                throw new LatentStageException(LsStatus.InvalidArgument, "LatentStageFrame.Release",
                    "a default frame: only frames from TryAcquireFrame can be released");
            ulong id = IsAcquired ? ((LsFrame*)native)->frame_id : 0;
            session.Release(slot, token, id, true);
        }

        /// <summary>Releases the frame if it is still acquired; never throws for a released one.</summary>
        public void Dispose()
        {
            if (session != null)
                session.Release(slot, token, 0, false);
        }
    }
}
