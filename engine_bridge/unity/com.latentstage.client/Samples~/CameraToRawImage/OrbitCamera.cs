// Moves its GameObject around a circle at eye height, looking along the path: enough motion to
// see the world being generated and, on the way back, remembered.
using UnityEngine;

namespace LatentStage.Samples
{
    public sealed class OrbitCamera : MonoBehaviour
    {
        public Vector3 centre = new Vector3(0, 1.6f, 0);
        public float radius = 2f;
        public float degreesPerSecond = 10f;

        void Update()
        {
            float a = Time.time * degreesPerSecond * Mathf.Deg2Rad;
            transform.position = centre + new Vector3(Mathf.Sin(a), 0, Mathf.Cos(a)) * radius;
            transform.rotation = Quaternion.LookRotation(new Vector3(Mathf.Cos(a), 0, -Mathf.Sin(a)), Vector3.up);
        }
    }
}
