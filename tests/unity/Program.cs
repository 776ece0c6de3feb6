// Entry point of the mono test program for the Unity package's binding layer.
//   layout                          struct layouts and enum values (no native call)
//   test TARGET REFS_DIR            the binding tests against a server (TARGET host:port)
//   bench TARGET WIDTH HEIGHT N     the per-frame overhead benchmark (see Bench.cs)
using System;

namespace LatentStage.Tests
{
    static class Program
    {
        static int Main(string[] args)
        {
            string mode = args.Length > 0 ? args[0] : "";
            if (mode == "layout")
                return Layout.Print();
            if (mode == "test" && args.Length == 3)
            {
                var run = new Runner();
                BindingTests.AddAll(run, args[1], References.Load(args[2]));
                return run.Run();
            }
            if (mode == "bench" && args.Length == 5)
                return Bench.Run(args[1], uint.Parse(args[2]), uint.Parse(args[3]), int.Parse(args[4]));
            Console.Error.WriteLine("usage: LatentStageTests.exe layout | test TARGET REFS_DIR"
                                    + " | bench TARGET WIDTH HEIGHT ITERATIONS");
            return 2;
        }
    }
}
