// UTF-8 strings across the C boundary, converted once per call that takes them (never per
// frame): managed strings to NUL-terminated bytes, and library-owned char* back to strings.
using System;
using System.Text;

namespace LatentStage.Native
{
    public static unsafe class Utf8
    {
        static readonly UTF8Encoding Strict = new UTF8Encoding(false, true);

        /// <summary>NUL-terminated UTF-8 bytes of <paramref name="value"/>, or null for null.
        /// A string holding NUL is refused: C would silently cut it there.</summary>
        public static byte[] Bytes(string value, string field)
        {
            if (value == null)
                return null;
            if (value.IndexOf('\0') >= 0)
                throw new LatentStageException(LsStatus.InvalidArgument, field,
                    "\"" + value.Replace("\0", "\\0") + "\": a string without NUL characters");
            var bytes = new byte[Strict.GetByteCount(value) + 1];
            Strict.GetBytes(value, 0, value.Length, bytes, 0);
            return bytes;
        }

        /// <summary>The string at a library-owned char* (NULL gives "").</summary>
        public static string FromPointer(IntPtr text)
        {
            if (text == IntPtr.Zero)
                return "";
            var p = (byte*)text;
            int n = 0;
            while (p[n] != 0)
                n++;
            return Encoding.UTF8.GetString(p, n);
        }

        /// <summary>The string in a char[capacity] field, up to its first NUL.</summary>
        public static string FromBuffer(byte* buffer, int capacity)
        {
            int n = 0;
            while (n < capacity && buffer[n] != 0)
                n++;
            return Encoding.UTF8.GetString(buffer, n);
        }
    }
}
