// The one exception type of the binding: the ls_status of the failed call and the message the
// library gave for it (ls_last_error, which names the field, the value and what was expected).
using System;

namespace LatentStage.Native
{
    public sealed class LatentStageException : Exception
    {
        /// <summary>The status of the failed call.</summary>
        public LsStatus Status { get; }
        /// <summary>The function (or managed member) that failed, e.g. "ls_session_open".</summary>
        public string Function { get; }
        /// <summary>ls_last_error() of the failed call, or the binding's own message.</summary>
        public string Detail { get; }

        public LatentStageException(LsStatus status, string function, string detail)
            : base(function + ": " + StatusName(status) + ": " + detail)
        {
            Status = status;
            Function = function;
            Detail = detail;
        }

        /// <summary>"LS_INVALID_ARGUMENT", ... as ls_status_name spells them.</summary>
        public static string StatusName(LsStatus status)
        {
            switch (status)
            {
                case LsStatus.Ok: return "LS_OK";
                case LsStatus.Cancelled: return "LS_CANCELLED";
                case LsStatus.InvalidArgument: return "LS_INVALID_ARGUMENT";
                case LsStatus.DeadlineExceeded: return "LS_DEADLINE_EXCEEDED";
                case LsStatus.NotFound: return "LS_NOT_FOUND";
                case LsStatus.AlreadyExists: return "LS_ALREADY_EXISTS";
                case LsStatus.ResourceExhausted: return "LS_RESOURCE_EXHAUSTED";
                case LsStatus.FailedPrecondition: return "LS_FAILED_PRECONDITION";
                case LsStatus.Unimplemented: return "LS_UNIMPLEMENTED";
                case LsStatus.Internal: return "LS_INTERNAL";
                case LsStatus.Unavailable: return "LS_UNAVAILABLE";
                case LsStatus.Unauthenticated: return "LS_UNAUTHENTICATED";
                case LsStatus.Timeout: return "LS_TIMEOUT";
                case LsStatus.Disconnected: return "LS_DISCONNECTED";
                case LsStatus.Closed: return "LS_CLOSED";
                case LsStatus.Busy: return "LS_BUSY";
                default: return "LS_UNKNOWN";
            }
        }

        /// <summary>Throws for any status but Ok, with this thread's ls_last_error().
        /// Call it right after the native call, on the same thread.</summary>
        public static void Check(LsStatus status, string function)
        {
            if (status != LsStatus.Ok)
                throw FromLastError(status, function);
        }

        /// <summary>The exception for a failed native call (reads ls_last_error now).</summary>
        public static LatentStageException FromLastError(LsStatus status, string function)
        {
            string detail = Utf8.FromPointer(NativeMethods.ls_last_error());
            return new LatentStageException(status, function,
                detail.Length > 0 ? detail : "(the library gave no message)");
        }
    }
}
