// Edit-mode checks of the binding inside Unity: struct sizes as the C compiler lays them out on
// 64-bit targets (tests/unity checks every offset under mono), Unity's GateFitMode values,
// and that the native plug-in loads. NOT RUN IN THIS REPOSITORY'S CI (needs the Unity Editor).
using System;
using System.Runtime.InteropServices;
using LatentStage.Native;
using NUnit.Framework;
using UnityEngine;

namespace LatentStage.Tests
{
    public sealed class BindingTests
    {
        [TestCase(typeof(LsLens), 112)]
        [TestCase(typeof(LsTimecode), 32)]
        [TestCase(typeof(LsConnectOptions), 48)]
        [TestCase(typeof(LsServerInfo), 400)]
        [TestCase(typeof(LsWorldInfo), 584)]
        [TestCase(typeof(LsSessionOptions), 240)]
        [TestCase(typeof(LsPose), 328)]
        [TestCase(typeof(LsFrame), 416)]
        [TestCase(typeof(LsSessionStats), 568)]
        public void StructSizesMatchTheHeader(Type type, int bytes)
        {
            Assert.AreEqual(8, IntPtr.Size, "the package supports 64-bit players only");
            Assert.AreEqual(bytes, Marshal.SizeOf(type));
        }

        [Test]
        public void GateFitValuesAreUnitys()
        {
            Assert.AreEqual((int)Camera.GateFitMode.None, (int)UnityGateFit.None);
            Assert.AreEqual((int)Camera.GateFitMode.Vertical, (int)UnityGateFit.Vertical);
            Assert.AreEqual((int)Camera.GateFitMode.Horizontal, (int)UnityGateFit.Horizontal);
            Assert.AreEqual((int)Camera.GateFitMode.Fill, (int)UnityGateFit.Fill);
            Assert.AreEqual((int)Camera.GateFitMode.Overscan, (int)UnityGateFit.Overscan);
        }

        [Test]
        public void PluginLoadsWithTheHeadersAbi()
        {
            Assert.AreEqual(NativeMethods.AbiVersion, NativeMethods.ls_abi_version(),
                            "the latentstage_client plug-in in this project is another ABI");
            StringAssert.IsMatch(@"^\d+\.\d+\.\d+$", LatentStageClient.LibraryVersion);
        }

        [Test]
        public void UnreachableServerIsUnavailable()
        {
            var e = Assert.Throws<LatentStageException>(() =>
                LatentStageClient.Connect(new ConnectOptions("127.0.0.1:1") { TimeoutMs = 500 }));
            Assert.AreEqual(LsStatus.Unavailable, e.Status);
        }
    }
}
