// Shows the frames of a FreeD-tracked camera of the server (`latentstage serve --freed ...`):
// the tracker drives the pose, this viewer only displays (no Camera needed, no poses sent).
// Needs the Unity UI package (com.unity.ugui).
using UnityEngine;
using UnityEngine.UI;

namespace LatentStage.Samples
{
    public sealed class TrackedCameraViewer : MonoBehaviour
    {
        public string target = "127.0.0.1:50051";
        [Tooltip("The tracked camera's name on the server")]
        public string trackedCamera = "stage-a";
        public int width = 1280;
        public int height = 720;

        void Start()
        {
            var holder = new GameObject("LatentStage Tracked Camera");
            holder.SetActive(false);
            var stage = holder.AddComponent<LatentStageCamera>();
            stage.source = LatentStageWorldSource.TrackedCamera;
            stage.trackedCamera = trackedCamera;
            stage.target = target;
            stage.width = width;
            stage.height = height;
            holder.SetActive(true);

            var canvas = new GameObject("LatentStage Canvas", typeof(Canvas)).GetComponent<Canvas>();
            canvas.renderMode = RenderMode.ScreenSpaceOverlay;
            var image = new GameObject("Tracked Frames", typeof(RawImage), typeof(AspectRatioFitter));
            image.transform.SetParent(canvas.transform, false);
            var fitter = image.GetComponent<AspectRatioFitter>();
            fitter.aspectMode = AspectRatioFitter.AspectMode.FitInParent;
            fitter.aspectRatio = (float)width / height;
            var raw = image.GetComponent<RawImage>();
            stage.TextureCreated += texture => raw.texture = texture;
        }
    }
}
