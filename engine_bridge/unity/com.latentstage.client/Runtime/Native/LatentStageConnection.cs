// A session that looks after itself, for an engine's frame loop: it connects, creates or
// attaches to a world and opens the session on a worker thread, reopens the stream when it
// breaks, swaps to another world on request, and cleans up what it created. Update() never
// blocks, so LatentStageCamera can call it every LateUpdate; everything here is plain C# so
// the mono tests exercise it exactly as Unity runs it.
using System;
using System.Threading.Tasks;

namespace LatentStage.Native
{
    public sealed class LatentStageConnection : IDisposable
    {
        sealed class Opened
        {
            public LatentStageClient Client;
            public LatentStageSession Session;   // null after a failure
            public string WorldId;               // the world the session is attached to
            public string CreatedWorld;          // a world this connection made (deleted at the end)
            public Exception Error;
        }

        readonly ConnectOptions connect;
        readonly SessionOptions options;
        LatentStageClient client;
        LatentStageSession session;
        string createdWorld;
        Task<Opened> pending;
        double retryAt;
        bool disposed;

        /// <summary>Seconds between attempts after a failure or a broken stream.</summary>
        public double RetryIntervalSeconds = 2;
        /// <summary>The last failure, for people ("" when none since the last success).</summary>
        public string LastError { get; private set; } = "";
        /// <summary>The world the session is attached to ("" before the first open).</summary>
        public string WorldId { get; private set; } = "";
        /// <summary>The open session, or null (connecting, failed, or between worlds).</summary>
        public LatentStageSession Session { get { return session; } }
        /// <summary>Whether a connect, reopen or world switch is running on a worker.</summary>
        public bool Busy { get { return pending != null; } }

        /// <summary><paramref name="options"/> decides the world: WorldId attaches, TrackedCamera
        /// watches, neither creates a world of NewWorldKind / NewWorldSeed through the world
        /// calls (so it outlives a broken stream), deleted at Dispose unless NewWorldKeep.</summary>
        public LatentStageConnection(ConnectOptions connect, SessionOptions options)
        {
            this.connect = connect;
            this.options = options.Clone();
        }

        /// <summary>Starts connecting on a worker thread (Update picks up the result).</summary>
        public void Start()
        {
            if (pending == null && session == null && !disposed)
                pending = Task.Run(() => Open(client, null));
        }

        /// <summary>Call once per engine frame with a monotonic time in seconds. Never blocks.
        /// Returns the session when it is open (submit and acquire on it), else null.</summary>
        public LatentStageSession Update(double now)
        {
            if (disposed)
                return null;
            if (pending != null)
            {
                if (!pending.IsCompleted)
                    return null;
                Complete(pending.Result, now);
                pending = null;
            }
            if (session == null)
            {
                if (now >= retryAt)
                    Start();
                return null;
            }
            LsSessionState state = session.State;
            if (state == LsSessionState.Open)
                return session;
            if (state == LsSessionState.Closed)  // closed by the server: start again
            {
                Drop();
                return null;
            }
            if (state == LsSessionState.Disconnected && now >= retryAt)
            {
                retryAt = now + RetryIntervalSeconds;
                var broken = session;
                pending = Task.Run(() => Reopen(broken));
            }
            return null;
        }

        /// <summary>Saves the current world as a snapshot on the server (null or "" = the
        /// server's choice of name); the task gives the name used.</summary>
        public Task<string> SaveWorldAsync(string name)
        {
            var c = client;
            string world = WorldId;
            if (c == null || world.Length == 0)
                throw new LatentStageException(LsStatus.FailedPrecondition, "LatentStageConnection.SaveWorld",
                    "no world yet: wait until the session is open");
            return Task.Run(() =>
            {
                ulong bytes;
                return c.SaveWorld(world, name, out bytes);
            });
        }

        /// <summary>Loads a snapshot as a new world and moves the session onto it (on a worker;
        /// Update swaps when it is ready). The previous world is deleted if this connection
        /// created it, unless NewWorldKeep.</summary>
        public void LoadWorld(string snapshotName, string label = null)
        {
            var c = client;
            if (c == null || pending != null)
                throw new LatentStageException(LsStatus.FailedPrecondition, "LatentStageConnection.LoadWorld",
                    (c == null ? "not connected" : "busy connecting") + ": try again when the session is open");
            pending = Task.Run(() =>
            {
                try
                {
                    var world = c.LoadWorld(snapshotName, label);
                    return Open(c, world.WorldId, true);
                }
                catch (Exception e)
                {
                    return new Opened { Client = c, Error = e };
                }
            });
        }

        // ----- workers --------------------------------------------------------------------
        Opened Open(LatentStageClient c, string worldId, bool created = false)
        {
            var result = new Opened { Client = c };
            try
            {
                if (result.Client == null)
                    result.Client = LatentStageClient.Connect(connect);
                var o = options.Clone();
                if (worldId != null)
                    o.WorldId = worldId;
                else if (string.IsNullOrEmpty(o.WorldId) && string.IsNullOrEmpty(o.TrackedCamera))
                {
                    var world = o.NewWorldKind == LsWorldKind.Empty
                        ? result.Client.CreateEmptyWorld(o.ClientName)
                        : result.Client.CreateProceduralWorld(o.NewWorldSeed, o.NewWorldKind, o.ClientName);
                    o.WorldId = world.WorldId;
                    created = true;
                }
                result.CreatedWorld = created ? o.WorldId : null;
                result.WorldId = o.WorldId ?? "";
                result.Session = result.Client.OpenSession(o);
                if (string.IsNullOrEmpty(result.WorldId))
                    result.WorldId = result.Session.GetStats().WorldId;
            }
            catch (Exception e)
            {
                result.Error = e;
                if (result.CreatedWorld != null)
                    TryDelete(result.Client, result.CreatedWorld);
                result.CreatedWorld = null;
            }
            return result;
        }

        Opened Reopen(LatentStageSession broken)
        {
            try
            {
                broken.Reopen();
                return null;  // the same session, streaming again
            }
            catch (Exception e)
            {
                return new Opened { Client = client, Error = e, Session = broken, WorldId = WorldId };
            }
        }

        /// <summary>On the caller's thread (Update): takes a worker's result.</summary>
        void Complete(Opened r, double now)
        {
            if (r == null)  // reopened
            {
                LastError = "";
                return;
            }
            client = r.Client;
            if (r.Error != null)
            {
                LastError = r.Error.Message;
                retryAt = now + RetryIntervalSeconds;
                var failure = r.Error as LatentStageException;
                if (r.Session != null && failure != null && failure.Status == LsStatus.NotFound)
                    Drop();  // reopen found the world gone: start again with a new one
                return;
            }
            if (session != null && session != r.Session)
                Drop();
            session = r.Session;
            createdWorld = r.CreatedWorld;
            WorldId = r.WorldId;
            LastError = "";
        }

        /// <summary>Closes the session and deletes the world this connection created.</summary>
        void Drop()
        {
            if (session != null)
                session.Dispose();
            session = null;
            if (createdWorld != null && !options.NewWorldKeep)
                TryDelete(client, createdWorld);
            createdWorld = null;
        }

        static void TryDelete(LatentStageClient c, string worldId)
        {
            try
            {
                c.DeleteWorld(worldId, true);
            }
            catch (LatentStageException)
            {
                // Already gone or unreachable: the server frees unused worlds on its own terms.
            }
        }

        /// <summary>Waits for a running worker, closes the session, deletes the world it
        /// created (unless NewWorldKeep) and closes the client. Blocks up to about the
        /// client's timeout.</summary>
        public void Dispose()
        {
            if (disposed)
                return;
            disposed = true;
            if (pending != null)
            {
                Opened r = pending.Result;
                if (r != null && r.Session != null && r.Session != session)
                {
                    r.Session.Dispose();
                    if (r.CreatedWorld != null && !options.NewWorldKeep)
                        TryDelete(r.Client, r.CreatedWorld);
                }
                if (client == null && r != null)
                    client = r.Client;
                pending = null;
            }
            Drop();
            if (client != null)
                client.Dispose();
            client = null;
        }
    }
}
