// Window > LatentStage > Worlds: list the server's worlds, save one as a snapshot, load a
// snapshot as a new world, delete worlds, and attach the selected LatentStageCamera to a world.
// Each button is one short blocking call (bounded by the timeout). NOT COMPILED IN THIS
// REPOSITORY'S CI (needs UnityEditor).
using System;
using LatentStage.Native;
using UnityEditor;
using UnityEngine;

namespace LatentStage.Editor
{
    public sealed class LatentStageWorldsWindow : EditorWindow
    {
        string target = "127.0.0.1:50051";
        string token = "";
        int timeoutMs = 5000;
        string snapshotName = "";
        string loadLabel = "";
        string message = "";
        LsWorldInfo[] worlds = new LsWorldInfo[0];
        Vector2 scroll;

        [MenuItem("Window/LatentStage/Worlds")]
        static void OpenFromMenu()
        {
            Open(null);
        }

        /// <summary>Opens the window, pointed at <paramref name="serverTarget"/> if given.</summary>
        public static void Open(string serverTarget)
        {
            var window = GetWindow<LatentStageWorldsWindow>("LatentStage Worlds");
            if (!string.IsNullOrEmpty(serverTarget))
                window.target = serverTarget;
            window.Show();
        }

        void OnGUI()
        {
            target = EditorGUILayout.TextField("Server", target);
            token = EditorGUILayout.PasswordField("Token", token);
            timeoutMs = EditorGUILayout.IntField("Timeout (ms)", timeoutMs);
            if (GUILayout.Button("Refresh"))
                With(c => { worlds = c.ListWorlds(); return worlds.Length + " worlds"; });

            EditorGUILayout.Space();
            snapshotName = EditorGUILayout.TextField("Snapshot name", snapshotName);
            loadLabel = EditorGUILayout.TextField("Label for a loaded world", loadLabel);
            if (GUILayout.Button("Load snapshot as a new world"))
                With(c =>
                {
                    var w = c.LoadWorld(snapshotName, loadLabel);
                    worlds = c.ListWorlds();
                    return "loaded " + snapshotName + " as world " + w.WorldId;
                });

            EditorGUILayout.Space();
            scroll = EditorGUILayout.BeginScrollView(scroll);
            foreach (var w in worlds)
                WorldRow(w);
            EditorGUILayout.EndScrollView();
            if (message.Length > 0)
                EditorGUILayout.HelpBox(message, MessageType.None);
        }

        void WorldRow(LsWorldInfo w)
        {
            string id = w.WorldId;
            using (new EditorGUILayout.VerticalScope(EditorStyles.helpBox))
            {
                EditorGUILayout.LabelField(w.Name.Length > 0 ? w.Name : id, EditorStyles.boldLabel);
                EditorGUILayout.LabelField("id", id);
                EditorGUILayout.LabelField("source", w.Source);
                EditorGUILayout.LabelField("sessions / points / MiB",
                    w.sessions + " / " + w.points + " / " + (w.bytes / 1048576.0).ToString("0.0"));
                using (new EditorGUILayout.HorizontalScope())
                {
                    if (GUILayout.Button("Save as snapshot"))
                        With(c =>
                        {
                            ulong bytes;
                            string saved = c.SaveWorld(id, snapshotName, out bytes);
                            return "saved " + id + " as " + saved + " (" + bytes + " bytes)";
                        });
                    if (GUILayout.Button("Attach selected camera"))
                        Attach(id);
                    if (GUILayout.Button("Delete"))
                        With(c => { c.DeleteWorld(id, false); worlds = c.ListWorlds(); return "deleted " + id; });
                }
            }
        }

        void Attach(string worldId)
        {
            var go = Selection.activeGameObject;
            var camera = go != null ? go.GetComponent<LatentStageCamera>() : null;
            if (camera == null)
            {
                message = "select a GameObject with a LatentStageCamera first";
                return;
            }
            Undo.RecordObject(camera, "Attach LatentStageCamera to a world");
            camera.source = LatentStageWorldSource.ExistingWorld;
            camera.worldId = worldId;
            camera.target = target;
            EditorUtility.SetDirty(camera);
            camera.Reconnect();
            message = camera.name + " attached to " + worldId;
        }

        void With(Func<LatentStageClient, string> call)
        {
            try
            {
                var options = new ConnectOptions(target)
                {
                    Token = token.Length > 0 ? token : null, TimeoutMs = (uint)Mathf.Max(100, timeoutMs),
                };
                using (var client = LatentStageClient.Connect(options))
                    message = call(client);
            }
            catch (LatentStageException e)
            {
                message = e.Message;
            }
            catch (DllNotFoundException e)
            {
                message = "the native library latentstage_client is not in the project's plug-ins "
                          + "(see Documentation~): " + e.Message;
            }
        }
    }
}
