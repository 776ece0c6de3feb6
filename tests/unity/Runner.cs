// A tiny self-contained test runner (no NuGet here, so no NUnit): named cases, a few asserts,
// one line per case and a closing "N passed, M failed"; the exit status is 1 on any failure.
using System;
using System.Collections.Generic;
using LatentStage.Native;

namespace LatentStage.Tests
{
    sealed class AssertionFailed : Exception
    {
        public AssertionFailed(string message) : base(message) { }
    }

    static class Check
    {
        public static void True(bool condition, string what)
        {
            if (!condition)
                throw new AssertionFailed(what);
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
                throw new AssertionFailed(what + ": expected " + expected + ", got " + actual);
        }

        /// <summary>Runs <paramref name="action"/>, which must throw LatentStageException with
        /// <paramref name="status"/> and a message containing each of <paramref name="parts"/>.</summary>
        public static LatentStageException Throws(LsStatus status, Action action,
                                                  params string[] parts)
        {
            try
            {
                action();
            }
            catch (LatentStageException e)
            {
                Equal(status, e.Status, "status of \"" + e.Message + "\"");
                True(e.Detail.Length > 0, "an empty message in " + e.Function);
                foreach (var part in parts)
                    True(e.Message.Contains(part), "\"" + part + "\" missing from \"" + e.Message + "\"");
                return e;
            }
            throw new AssertionFailed("no LatentStageException (" + status + ") was thrown");
        }
    }

    sealed class Runner
    {
        readonly List<KeyValuePair<string, Action>> cases = new List<KeyValuePair<string, Action>>();

        public void Add(string name, Action body)
        {
            cases.Add(new KeyValuePair<string, Action>(name, body));
        }

        public int Run()
        {
            int passed = 0, failed = 0;
            foreach (var c in cases)
            {
                try
                {
                    c.Value();
                    passed++;
                    Console.WriteLine("ok   " + c.Key);
                }
                catch (Exception e)
                {
                    failed++;
                    Console.WriteLine("FAIL " + c.Key + ": " + e.GetType().Name + ": " + e.Message);
                    if (!(e is AssertionFailed))
                        Console.WriteLine(e.StackTrace);
                }
            }
            Console.WriteLine(passed + " passed, " + failed + " failed");
            return failed == 0 ? 0 : 1;
        }
    }
}
