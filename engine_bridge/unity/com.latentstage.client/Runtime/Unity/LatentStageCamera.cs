// The Unity side, kept thin: read the Camera's transform and lens, hand them to the binding,
// and upload the latest frame into one Texture2D. Connecting, reconnecting and world switches
// are LatentStageConnection's (plain C#, tested under mono); the conventions (left-handed,
// Y up, metres, Quaternion, vertical fieldOfView) are converted by the server.
//
// NOT COMPILED IN THIS REPOSITORY'S CI: it needs UnityEngine (see Documentation~/index.md).
using System;
using System.Threading.Tasks;
using LatentStage.Native;
using UnityEngine;

namespace LatentStage
{
    /// <summary>Where a LatentStageCamera's frames come from.</summary>
    public enum LatentStageWorldSource
    {
        /// <summary>A new world of worldKind / worldSeed, deleted when the component stops
        /// unless keepWorld.</summary>
        NewWorld = 0,
        /// <summary>Attach to the world worldId (created by the Worlds window or a script).</summary>
        ExistingWorld = 1,
        /// <summary>Watch the server's FreeD-tracked camera trackedCamera: display only, the
        /// tracker drives the pose and this camera's transform is not sent.</summary>
        TrackedCamera = 2,
    }

    /// <summary>Streams this Camera's pose and lens to a LatentStage server in LateUpdate and
    /// shows the generated frames in <see cref="Texture"/> (BGRA32, uploaded as it arrives:
    /// the server sends rows bottom-up, Unity's texture origin, so nothing is flipped).</summary>
    [AddComponentMenu("LatentStage/LatentStage Camera")]
    [DisallowMultipleComponent]
    public sealed class LatentStageCamera : MonoBehaviour
    {
        [Header("Server")]
        [Tooltip("host:port of `latentstage serve`")]
        public string target = "127.0.0.1:50051";
        [Tooltip("Bearer token; empty for none")]
        public string token = "";
        public bool useTls;
        [Tooltip("Connect and world-call deadline, milliseconds")]
        public int timeoutMs = 10000;

        [Header("World")]
        public LatentStageWorldSource source = LatentStageWorldSource.NewWorld;
        public LsWorldKind worldKind = LsWorldKind.Outdoor;
        public long worldSeed = 7;
        [Tooltip("Keep the world this component creates or loads after it stops")]
        public bool keepWorld;
        [Tooltip("ExistingWorld: the world id")]
        public string worldId = "";
        [Tooltip("TrackedCamera: the server's tracked camera name")]
        public string trackedCamera = "";

        [Header("Frames")]
        public int width = 1280;
        public int height = 720;
        [Tooltip("Frame budget 1/targetFps; the server degrades to keep it. 0 = none")]
        public float targetFps = 30;
        [Range(0, 4), Tooltip("Sampler steps; 0 = the model's default")]
        public int samplerSteps;
        public long noiseSeed;
        [Tooltip("Extrapolate the pose to display time on the server")]
        public bool predictPose = true;
        [Tooltip("Display pipeline latency the prediction covers, milliseconds")]
        public float displayLatencyMs;

        [Header("Output")]
        [Tooltip("Optional: also shown on this material under textureProperty")]
        public Material targetMaterial;
        public string textureProperty = "_MainTex";

        /// <summary>The generated frames (one texture, created at the first frame). Assign it
        /// to a RawImage's texture or a material.</summary>
        public Texture2D Texture { get { return texture; } }
        /// <summary>Raised when <see cref="Texture"/> is created.</summary>
        public event Action<Texture2D> TextureCreated;
        /// <summary>What the inspector shows.</summary>
        public LatentStageStatus Status { get { return status; } }
        /// <summary>The connection (null while disabled), for scripts that need the session.</summary>
        public LatentStageConnection Connection { get { return connection; } }

        Camera cam;
        LatentStageConnection connection;
        Texture2D texture;
        byte[] staging;  // only for frames whose rows are padded (stride > width * 4)
        readonly LatentStageStatus status = new LatentStageStatus();
        double fpsWindowStart, nextStatsAt;
        int fpsFrames;

        void OnEnable()
        {
            cam = GetComponent<Camera>();
            if (cam == null && source != LatentStageWorldSource.TrackedCamera)
            {
                Debug.LogError("LatentStageCamera needs a Camera on the same GameObject, unless "
                               + "source is TrackedCamera (display only).", this);
                enabled = false;
                return;
            }
            connection = new LatentStageConnection(ConnectOptions(), SessionOptions());
            connection.Start();
        }

        void OnDisable()
        {
            if (connection != null)
                connection.Dispose();  // closes the session; deletes its world unless keepWorld
            connection = null;
            status.Connected = false;
        }

        void OnDestroy()
        {
            if (texture != null)
                Destroy(texture);
        }

        void LateUpdate()
        {
            if (connection == null)
                return;
            double now = Time.realtimeSinceStartupAsDouble;
            LatentStageSession session = connection.Update(now);
            status.Connected = session != null;
            status.WorldId = connection.WorldId;
            status.LastError = connection.LastError;
            if (session == null)
                return;
            try
            {
                if (!session.IsWatching)
                    SubmitPose(session);
                LatentStageFrame frame;
                if (session.TryAcquireFrame(0, out frame))
                {
                    try
                    {
                        Upload(frame, now);
                    }
                    finally
                    {
                        frame.Release();
                    }
                }
                if (now >= nextStatsAt)
                {
                    status.Update(session.GetStats());
                    nextStatsAt = now + 0.5;
                }
            }
            catch (LatentStageException e)
            {
                status.LastError = e.Message;  // e.g. the stream broke; Update reopens it
            }
        }

        void SubmitPose(LatentStageSession session)
        {
            Transform t = cam.transform;
            Vector3 p = t.position;
            Quaternion q = t.rotation;
            LsPose pose = session.UnityPose((ulong)Time.frameCount, 0, new Vector3d(p.x, p.y, p.z),
                                            new QuaternionD(q.x, q.y, q.z, q.w), CameraLens());
            session.TrySubmit(ref pose);  // realtime pacing: the newest pose wins, never LS_BUSY
        }

        /// <summary>The Camera's lens: the physical camera when enabled, else the vertical
        /// fieldOfView (the Unity convention's own axis).</summary>
        LsLens CameraLens()
        {
            if (!cam.usePhysicalProperties)
                return Lenses.FieldOfView(cam.fieldOfView);
            Vector2 sensor = cam.sensorSize, shift = cam.lensShift;
            return Lenses.UnityPhysical(cam.focalLength, sensor.x, sensor.y, shift.x, shift.y,
                                        (UnityGateFit)(int)cam.gateFit, (uint)width, (uint)height);
        }

        void Upload(LatentStageFrame frame, double now)
        {
            int w = frame.Width, h = frame.Height, packed = w * h * 4;
            if (frame.Encoding != LsEncoding.RawBgra8 || !frame.BottomUp)
                throw new LatentStageException(LsStatus.FailedPrecondition, "LatentStageCamera",
                    "frame encoding " + frame.Encoding + ": BGRA8 rows bottom-up expected");
            if (texture == null || texture.width != w || texture.height != h)
                CreateTexture(w, h);
            if (frame.Stride == w * 4)
            {
                texture.LoadRawTextureData(frame.PixelData, packed);
            }
            else
            {
                if (staging == null || staging.Length != packed)
                    staging = new byte[packed];
                frame.CopyPixelsTo(staging);
                texture.LoadRawTextureData(staging);
            }
            texture.Apply(false);
            status.LastFrameId = frame.FrameId;
            status.Rung = frame.Rung;
            fpsFrames++;
            if (now - fpsWindowStart >= 1.0)
            {
                status.Fps = (float)(fpsFrames / (now - fpsWindowStart));
                fpsFrames = 0;
                fpsWindowStart = now;
            }
        }

        void CreateTexture(int w, int h)
        {
            if (texture != null)
                Destroy(texture);
            // sRGB (linear: false): the frames are 8-bit sRGB images.
            texture = new Texture2D(w, h, TextureFormat.BGRA32, false, false)
            {
                name = "LatentStage " + w + "x" + h,
                wrapMode = TextureWrapMode.Clamp,
                filterMode = FilterMode.Bilinear,
            };
            if (targetMaterial != null)
                targetMaterial.SetTexture(textureProperty, texture);
            if (TextureCreated != null)
                TextureCreated(texture);
        }

        // ----- worlds, from scripts or the inspector -------------------------------------------
        /// <summary>Saves the current world as a snapshot on the server (null or "" = the
        /// server's choice); the task gives the snapshot's name.</summary>
        public Task<string> SaveWorld(string snapshotName)
        {
            return Live().SaveWorldAsync(snapshotName);
        }

        /// <summary>Loads a snapshot as a new world and moves this camera onto it.</summary>
        public void LoadWorld(string snapshotName)
        {
            Live().LoadWorld(snapshotName, name);
        }

        /// <summary>Closes the session and connects again with the current settings.</summary>
        public void Reconnect()
        {
            if (!isActiveAndEnabled)
                return;
            OnDisable();
            OnEnable();
        }

        LatentStageConnection Live()
        {
            if (connection == null)
                throw new LatentStageException(LsStatus.FailedPrecondition, "LatentStageCamera",
                    "not running: enable the component (in Play mode) first");
            return connection;
        }

        ConnectOptions ConnectOptions()
        {
            return new ConnectOptions(target)
            {
                Token = string.IsNullOrEmpty(token) ? null : token,
                UseTls = useTls,
                TimeoutMs = (uint)Mathf.Max(0, timeoutMs),
            };
        }

        SessionOptions SessionOptions()
        {
            var o = new SessionOptions
            {
                Width = (uint)Mathf.Max(1, width),
                Height = (uint)Mathf.Max(1, height),
                TargetFps = targetFps,
                SamplerSteps = (uint)Mathf.Clamp(samplerSteps, 0, 4),
                Seed = (ulong)noiseSeed,
                Prediction = predictPose ? 1 : 0,
                DisplayLatencyMs = displayLatencyMs,
                NewWorldKind = worldKind,
                NewWorldSeed = (ulong)worldSeed,
                NewWorldKeep = keepWorld,
                ClientName = "latentstage-unity " + Application.productName,
            };
            if (source == LatentStageWorldSource.ExistingWorld)
                o.WorldId = worldId;
            else if (source == LatentStageWorldSource.TrackedCamera)
                o.TrackedCamera = trackedCamera;
            if (cam != null)
                o.Lens = CameraLens();
            return o;
        }
    }
}
