// Inspector of LatentStageCamera: its settings, then its live status (connected, fps, drops,
// rung, latency) and the world buttons. NOT COMPILED IN THIS REPOSITORY'S CI (needs UnityEditor).
using System;
using System.Threading.Tasks;
using LatentStage.Native;
using UnityEditor;
using UnityEngine;

namespace LatentStage.Editor
{
    [CustomEditor(typeof(LatentStageCamera))]
    public sealed class LatentStageCameraEditor : UnityEditor.Editor
    {
        string snapshotName = "";
        string message = "";

        public override bool RequiresConstantRepaint()
        {
            return Application.isPlaying;
        }

        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var camera = (LatentStageCamera)target;
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Status", EditorStyles.boldLabel);
            if (!Application.isPlaying || !camera.isActiveAndEnabled)
            {
                EditorGUILayout.HelpBox("Enter Play mode with `latentstage serve` running at "
                                        + camera.target + " to stream frames.", MessageType.Info);
                return;
            }
            StatusBlock(camera.Status);
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("World", EditorStyles.boldLabel);
            snapshotName = EditorGUILayout.TextField("Snapshot name", snapshotName);
            using (new EditorGUILayout.HorizontalScope())
            {
                if (GUILayout.Button("Save world"))
                    Run(() => camera.SaveWorld(snapshotName), "saved as ");
                if (GUILayout.Button("Load world"))
                    Guard(() => camera.LoadWorld(snapshotName), "loading " + snapshotName);
                if (GUILayout.Button("Reconnect"))
                    Guard(camera.Reconnect, "reconnecting");
            }
            if (GUILayout.Button("Open the Worlds window"))
                LatentStageWorldsWindow.Open(camera.target);
            if (message.Length > 0)
                EditorGUILayout.HelpBox(message, MessageType.None);
        }

        static void StatusBlock(LatentStageStatus s)
        {
            EditorGUILayout.LabelField("Connected", s.Connected ? "yes (" + s.State + ")" : "no");
            EditorGUILayout.LabelField("Frames per second", s.Fps.ToString("0.0"));
            EditorGUILayout.LabelField("Rung", s.Rung.ToString());
            EditorGUILayout.LabelField("Last frame id", s.LastFrameId.ToString());
            EditorGUILayout.LabelField("Frames received", s.FramesReceived.ToString());
            EditorGUILayout.LabelField("Dropped (client / server)",
                                       s.FramesDropped + " / " + s.FramesDroppedServer);
            EditorGUILayout.LabelField("Poses skipped (server)", s.PosesSkipped.ToString());
            EditorGUILayout.LabelField("Latency p50 / p99",
                                       s.LatencyP50Ms.ToString("0.0") + " / " + s.LatencyP99Ms.ToString("0.0") + " ms");
            EditorGUILayout.LabelField("Reconnects", s.Reconnects.ToString());
            EditorGUILayout.LabelField("World", s.WorldId);
            if (s.LastError.Length > 0)
                EditorGUILayout.HelpBox(s.LastError, MessageType.Warning);
            if (s.LastServerError.Length > 0)
                EditorGUILayout.HelpBox("Server: " + s.LastServerError, MessageType.Warning);
        }

        void Run(Func<Task<string>> start, string prefix)
        {
            try
            {
                message = "working...";
                start().ContinueWith(t => message = t.IsFaulted
                    ? t.Exception.GetBaseException().Message : prefix + t.Result);
            }
            catch (LatentStageException e)
            {
                message = e.Message;
            }
        }

        void Guard(Action action, string doing)
        {
            try
            {
                action();
                message = doing;
            }
            catch (LatentStageException e)
            {
                message = e.Message;
            }
        }
    }
}
