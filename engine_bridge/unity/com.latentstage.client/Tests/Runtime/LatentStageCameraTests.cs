// Play-mode checks of LatentStageCamera. The second needs a server: set LATENTSTAGE_TARGET to
// the host:port of `latentstage serve` before starting the Editor. NOT RUN IN THIS
// REPOSITORY'S CI (needs the Unity Editor and the native plug-in).
using System;
using System.Collections;
using NUnit.Framework;
using UnityEngine;
using UnityEngine.TestTools;
using Object = UnityEngine.Object;

namespace LatentStage.Tests
{
    public sealed class LatentStageCameraTests
    {
        static LatentStageCamera Make(string target, int width, int height)
        {
            var go = new GameObject("LatentStage test camera", typeof(Camera));
            go.SetActive(false);
            var camera = go.AddComponent<LatentStageCamera>();
            camera.target = target;
            camera.timeoutMs = 2000;
            camera.width = width;
            camera.height = height;
            camera.targetFps = 0;
            go.SetActive(true);
            return camera;
        }

        static IEnumerator Until(Func<bool> done, float seconds)
        {
            float end = Time.realtimeSinceStartup + seconds;
            while (!done() && Time.realtimeSinceStartup < end)
                yield return null;
        }

        [UnityTest]
        public IEnumerator ReportsAnUnreachableServer()
        {
            var camera = Make("127.0.0.1:1", 64, 48);
            yield return Until(() => camera.Status.LastError.Length > 0, 10);
            StringAssert.Contains("LS_UNAVAILABLE", camera.Status.LastError);
            Assert.IsFalse(camera.Status.Connected);
            Assert.IsNull(camera.Texture);
            Object.Destroy(camera.gameObject);
        }

        [UnityTest]
        public IEnumerator ShowsFramesFromAServer()
        {
            string target = Environment.GetEnvironmentVariable("LATENTSTAGE_TARGET");
            if (string.IsNullOrEmpty(target))
                Assert.Ignore("set LATENTSTAGE_TARGET to the host:port of `latentstage serve`");
            var camera = Make(target, 256, 144);
            yield return Until(() => camera.Status.LastFrameId > 0, 60);
            Assert.IsTrue(camera.Status.Connected, camera.Status.LastError);
            Assert.IsNotNull(camera.Texture);
            Assert.AreEqual(TextureFormat.BGRA32, camera.Texture.format);
            Assert.AreEqual(256, camera.Texture.width);
            Assert.AreEqual(144, camera.Texture.height);
            Texture2D first = camera.Texture;
            camera.transform.position += Vector3.forward;
            ulong seen = camera.Status.LastFrameId;
            yield return Until(() => camera.Status.LastFrameId > seen, 30);
            Assert.AreSame(first, camera.Texture, "one persistent texture");
            Object.Destroy(camera.gameObject);
        }
    }
}
