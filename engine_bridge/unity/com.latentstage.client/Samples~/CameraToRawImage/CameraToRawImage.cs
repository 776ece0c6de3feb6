// Put this on any GameObject in a scene with a main camera, press Play with `latentstage serve`
// running: it adds a LatentStageCamera to the main camera and shows its frames full screen on
// a RawImage (needs the Unity UI package, com.unity.ugui). Fly the camera with OrbitCamera or
// your own controller.
using UnityEngine;
using UnityEngine.UI;

namespace LatentStage.Samples
{
    public sealed class CameraToRawImage : MonoBehaviour
    {
        public string target = "127.0.0.1:50051";
        public int width = 640;
        public int height = 360;
        public LatentStage.Native.LsWorldKind worldKind = LatentStage.Native.LsWorldKind.Outdoor;

        void Start()
        {
            Camera cam = Camera.main;
            if (cam == null)
            {
                Debug.LogError("CameraToRawImage: no camera tagged MainCamera in the scene", this);
                return;
            }
            // Set the fields before the component's OnEnable connects.
            cam.gameObject.SetActive(false);
            var stage = cam.GetComponent<LatentStageCamera>();
            if (stage == null)
                stage = cam.gameObject.AddComponent<LatentStageCamera>();
            stage.target = target;
            stage.width = width;
            stage.height = height;
            stage.worldKind = worldKind;
            cam.gameObject.SetActive(true);

            var canvas = new GameObject("LatentStage Canvas", typeof(Canvas)).GetComponent<Canvas>();
            canvas.renderMode = RenderMode.ScreenSpaceOverlay;
            var image = new GameObject("LatentStage Frames", typeof(RawImage), typeof(AspectRatioFitter));
            image.transform.SetParent(canvas.transform, false);
            var fitter = image.GetComponent<AspectRatioFitter>();
            fitter.aspectMode = AspectRatioFitter.AspectMode.FitInParent;
            fitter.aspectRatio = (float)width / height;
            var raw = image.GetComponent<RawImage>();
            stage.TextureCreated += texture => raw.texture = texture;
        }
    }
}
