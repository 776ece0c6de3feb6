// P/Invoke declarations for every function of latentstage.h, one to one.
//
// Rules that keep them valid under Mono, IL2CPP and .NET alike:
//  - static extern, CallingConvention.Cdecl, only blittable arguments (primitives, pointers,
//    blittable structs by pointer or ref, SafeHandles); no callbacks, so no
//    MonoPInvokeCallback is needed;
//  - strings go in as NUL-terminated UTF-8 byte pointers made by Utf8 (no marshaller
//    conversion, which would assume the platform's ANSI code page on Windows);
//  - strings come out as IntPtr (owned by the library) and are decoded by Utf8.FromPointer.
// iOS and WebGL link the library statically, so the import name is "__Internal" there.
using System;
using System.Runtime.InteropServices;

namespace LatentStage.Native
{
    public static unsafe class NativeMethods
    {
#if (UNITY_IOS || UNITY_WEBGL) && !UNITY_EDITOR
        public const string Library = "__Internal";
#else
        /// <summary>liblatentstage_client.so / .dylib, latentstage_client.dll.</summary>
        public const string Library = "latentstage_client";
#endif
        /// <summary>LS_ABI_VERSION of the header these declarations mirror.</summary>
        public const uint AbiVersion = 1;
        /// <summary>LS_PROTOCOL_REVISION of that header.</summary>
        public const uint ProtocolRevision = 2;

        const CallingConvention Cdecl = CallingConvention.Cdecl;

        // ----- status, errors, versions -----
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern IntPtr ls_status_name(LsStatus status);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern IntPtr ls_last_error();
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern IntPtr ls_version();
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern uint ls_abi_version();
        /// <summary>sizeof(the named struct) in the loaded library ("ls_frame", ...); 0 if unknown.</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern UIntPtr ls_struct_size(byte* name);

        // ----- client -----
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern void ls_connect_options_init(LsConnectOptions* options);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_client_connect(LsConnectOptions* options, out IntPtr client);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_client_destroy(IntPtr client);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_client_server_info(ClientHandle client, LsServerInfo* info);

        // ----- worlds -----
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_world_create_procedural(
            ClientHandle client, ulong seed, LsWorldKind kind, byte* name, LsWorldInfo* info);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_world_create_empty(
            ClientHandle client, byte* name, LsWorldInfo* info);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_world_create_from_image(
            ClientHandle client, byte* image, UIntPtr imageSize, float* depth, uint depthWidth,
            uint depthHeight, LsLens* lens, byte* name, LsWorldInfo* info);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_world_save(
            ClientHandle client, byte* worldId, byte* name, byte* outName, UIntPtr outNameSize,
            ulong* outBytes);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_world_load(
            ClientHandle client, byte* snapshotName, byte* label, LsWorldInfo* info);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_world_delete(ClientHandle client, byte* worldId, int force);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_world_list(
            ClientHandle client, LsWorldInfo* worlds, UIntPtr capacity, UIntPtr* count);

        // ----- sessions -----
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern void ls_session_options_init(LsSessionOptions* options);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_open(
            ClientHandle client, LsSessionOptions* options, out IntPtr session);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsSessionState ls_session_get_state(SessionHandle session);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_reopen(SessionHandle session);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_close(IntPtr session);

        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern void ls_pose_init(LsPose* pose);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_submit_pose(SessionHandle session, LsPose* pose);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_submit_unreal(
            SessionHandle session, ulong frameId, long captureTimeNs, double* locationCm,
            double* rotatorPyrDeg);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_submit_unreal_quat(
            SessionHandle session, ulong frameId, long captureTimeNs, double* locationCm,
            double* quatXyzw);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_submit_unity(
            SessionHandle session, ulong frameId, long captureTimeNs, double* positionM,
            double* quatXyzw);

        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_submit_matrix4(
            SessionHandle session, ulong frameId, long captureTimeNs, double* matrixRowMajor16);

        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_acquire_frame(
            SessionHandle session, uint timeoutMs, out IntPtr frame);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_release_frame(IntPtr session, IntPtr frame);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern LsStatus ls_session_get_stats(SessionHandle session, LsSessionStats* stats);

        // Raw-handle overloads, for callers (and tests) that hold a bare ls_session*.
        [DllImport(Library, CallingConvention = Cdecl, EntryPoint = "ls_session_get_stats")]
        public static extern LsStatus ls_session_get_stats_raw(IntPtr session, LsSessionStats* stats);
        [DllImport(Library, CallingConvention = Cdecl, EntryPoint = "ls_session_get_state")]
        public static extern LsSessionState ls_session_get_state_raw(IntPtr session);
        [DllImport(Library, CallingConvention = Cdecl, EntryPoint = "ls_session_submit_pose")]
        public static extern LsStatus ls_session_submit_pose_raw(IntPtr session, LsPose* pose);
        [DllImport(Library, CallingConvention = Cdecl, EntryPoint = "ls_client_server_info")]
        public static extern LsStatus ls_client_server_info_raw(IntPtr client, LsServerInfo* info);
    }
}
