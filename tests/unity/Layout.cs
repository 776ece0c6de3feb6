// Prints the managed layout of every ABI struct and the values of every ABI enum, for the
// harness to compare with a C compiler's view of latentstage.h. Calls nothing native.
using System;
using System.Reflection;
using System.Runtime.InteropServices;
using LatentStage.Native;

namespace LatentStage.Tests
{
    static class Layout
    {
        static readonly Type[] Structs =
        {
            typeof(LsLens), typeof(LsTimecode), typeof(LsConnectOptions), typeof(LsServerInfo),
            typeof(LsWorldInfo), typeof(LsSessionOptions), typeof(LsPose), typeof(LsFrame),
            typeof(LsSessionStats),
        };

        static readonly Type[] Enums =
        {
            typeof(LsStatus), typeof(LsConvention), typeof(LsEncoding), typeof(LsPacing),
            typeof(LsRung), typeof(LsWorldKind), typeof(LsSessionState), typeof(LsLensKind),
            typeof(LsRotationForm),
        };

        /// <summary>"struct NAME SIZE", "field NAME FIELD OFFSET" and "enum NAME MEMBER VALUE".</summary>
        public static int Print()
        {
            foreach (var t in Structs)
            {
                Console.WriteLine("struct " + t.Name + " " + Marshal.SizeOf(t));
                foreach (var f in t.GetFields(BindingFlags.Public | BindingFlags.Instance))
                    Console.WriteLine("field " + t.Name + " " + f.Name + " " + Marshal.OffsetOf(t, f.Name));
            }
            foreach (var t in Enums)
                foreach (var name in Enum.GetNames(t))
                    Console.WriteLine("enum " + t.Name + " " + name + " "
                                      + Convert.ToInt32(Enum.Parse(t, name)));
            return 0;
        }
    }
}
