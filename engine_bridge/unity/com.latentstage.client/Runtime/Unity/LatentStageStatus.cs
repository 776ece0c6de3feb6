// What a LatentStageCamera shows in the inspector: connection, frame rate, drops, rung.
// Refreshed by the component (the counters twice a second), read by the editor.
using LatentStage.Native;

namespace LatentStage
{
    public sealed class LatentStageStatus
    {
        /// <summary>A session is open and streaming.</summary>
        public bool Connected;
        /// <summary>Frames shown per second over the last second.</summary>
        public float Fps;
        /// <summary>frame_id of the last frame shown (the Time.frameCount it was posed at).</summary>
        public ulong LastFrameId;
        /// <summary>The degradation rung of the last frame shown.</summary>
        public LsRung Rung;
        /// <summary>The session's state when the counters were last read.</summary>
        public LsSessionState State;
        /// <summary>Frames received by the library.</summary>
        public ulong FramesReceived;
        /// <summary>Frames the library replaced before this component took them.</summary>
        public ulong FramesDropped;
        /// <summary>Frames the server dropped for a slow reader.</summary>
        public ulong FramesDroppedServer;
        /// <summary>Poses the server skipped (latest pose wins).</summary>
        public ulong PosesSkipped;
        /// <summary>Pose submitted to its frame received, milliseconds (last 256 frames).</summary>
        public double LatencyP50Ms, LatencyP99Ms;
        /// <summary>Successful reconnects of the stream.</summary>
        public ulong Reconnects;
        /// <summary>The world the session is attached to.</summary>
        public string WorldId = "";
        /// <summary>The last failure ("" when none since the last success).</summary>
        public string LastError = "";
        /// <summary>The last Error message from the server (a pose it could not use).</summary>
        public string LastServerError = "";
        ulong serverErrors;

        internal void Update(LsSessionStats stats)
        {
            State = (LsSessionState)stats.state;
            FramesReceived = stats.frames_received;
            FramesDropped = stats.frames_dropped;
            FramesDroppedServer = stats.frames_dropped_server;
            PosesSkipped = stats.poses_skipped_server;
            LatencyP50Ms = stats.latency_p50_ms;
            LatencyP99Ms = stats.latency_p99_ms;
            Reconnects = stats.reconnects;
            if (stats.server_errors != serverErrors)  // decode the string only when it changed
            {
                serverErrors = stats.server_errors;
                LastServerError = stats.LastServerError;
            }
        }
    }
}
