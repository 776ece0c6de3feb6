// LatentStage Unreal plug-in: module startup and shutdown.
//
// Win64 and Mac delay-load the native library (LatentStageLibrary.Build.cs), so it is loaded here,
// by full path, from <plug-in>/Binaries/ThirdParty/LatentStageLibrary/<Platform>/ before any ls_*
// call. Linux links it (found through the rpath UnrealBuildTool records). Then the library's
// ls_abi_version() is compared with the LS_ABI_VERSION of the header the plug-in was compiled
// against: on a mismatch nothing calls into the library and the log says what to rebuild.
#include "LatentStageModule.h"

#include <atomic>

#include "HAL/PlatformProcess.h"
#include "HAL/PlatformTime.h"
#include "Interfaces/IPluginManager.h"
#include "LatentStageLog.h"
#include "Misc/Paths.h"
#include "Modules/ModuleManager.h"

#include "latentstage/latentstage.h"

DEFINE_LOG_CATEGORY(LogLatentStage);

namespace
{
// Written by StartupModule / ShutdownModule on the game thread; read from any thread.
std::atomic<bool> GLibraryReady{false};
// Written only by StartupModule on the game thread, before any component can run.
FString GLibraryError;
// Worker jobs that may still call into the library.
std::atomic<int32> GLibraryJobs{0};

// Seconds ShutdownModule waits for running worker jobs (each is bounded by the connect timeout).
constexpr double JobDrainSeconds = 15.0;

#if PLATFORM_WINDOWS
const TCHAR* const LibraryPlatformDir = TEXT("Win64");
const TCHAR* const LibraryFileName = TEXT("latentstage_client.dll");
#elif PLATFORM_MAC
const TCHAR* const LibraryPlatformDir = TEXT("Mac");
const TCHAR* const LibraryFileName = TEXT("liblatentstage_client.dylib");
#endif

void FailLibrary(const FString& Reason)
{
	GLibraryError = Reason;
	GLibraryReady.store(false);
	UE_LOG(LogLatentStage, Error, TEXT("LatentStage is disabled: %s"), *Reason);
}
}  // namespace

void FLatentStageModule::StartupModule()
{
	GLibraryError.Reset();
	GLibraryReady.store(false);

#if PLATFORM_WINDOWS || PLATFORM_MAC
	const TSharedPtr<IPlugin> Plugin = IPluginManager::Get().FindPlugin(TEXT("LatentStage"));
	if (!Plugin.IsValid())
	{
		FailLibrary(TEXT("the plug-in manager does not know a plug-in named LatentStage"));
		return;
	}
	const FString LibraryDir = FPaths::ConvertRelativePathToFull(FPaths::Combine(
		Plugin->GetBaseDir(), TEXT("Binaries"), TEXT("ThirdParty"), TEXT("LatentStageLibrary"),
		LibraryPlatformDir));
	const FString LibraryPath = FPaths::Combine(LibraryDir, LibraryFileName);
	if (!FPaths::FileExists(LibraryPath))
	{
		FailLibrary(FString::Printf(
			TEXT("native library not found at %s: build it with CMake and copy it there "
				 "(Source/ThirdParty/LatentStageLibrary/README.md)"),
			*LibraryPath));
		return;
	}
	// The library's own dependencies (gRPC DLLs from a dynamic vcpkg triplet) are looked up next to it.
	FPlatformProcess::PushDllDirectory(*LibraryDir);
	LibraryHandle = FPlatformProcess::GetDllHandle(*LibraryPath);
	FPlatformProcess::PopDllDirectory(*LibraryDir);
	if (LibraryHandle == nullptr)
	{
		FailLibrary(FString::Printf(
			TEXT("could not load %s (a dependency missing? With a dynamic vcpkg triplet the gRPC "
				 "and protobuf DLLs must sit next to it; the static triplet avoids that)"),
			*LibraryPath));
		return;
	}
#endif

	const uint32 LoadedAbi = ls_abi_version();
	if (LoadedAbi != LS_ABI_VERSION)
	{
		FailLibrary(FString::Printf(
			TEXT("ABI mismatch: the plug-in was compiled against latentstage.h ABI %d, the loaded "
				 "library %s reports ABI %u. Copy the header and the library from the same build "
				 "and rebuild the plug-in."),
			LS_ABI_VERSION, UTF8_TO_TCHAR(ls_version()), LoadedAbi));
		return;
	}
	GLibraryReady.store(true);
	UE_LOG(LogLatentStage, Log, TEXT("LatentStage native library %s loaded (ABI %u, protocol revision %d)"),
		UTF8_TO_TCHAR(ls_version()), LoadedAbi, LS_PROTOCOL_REVISION);
}

void FLatentStageModule::ShutdownModule()
{
	GLibraryReady.store(false);
	const double Deadline = FPlatformTime::Seconds() + JobDrainSeconds;
	while (GLibraryJobs.load() > 0 && FPlatformTime::Seconds() < Deadline)
	{
		FPlatformProcess::Sleep(0.01f);
	}
	if (LibraryHandle != nullptr)
	{
		if (GLibraryJobs.load() == 0)
		{
			FPlatformProcess::FreeDllHandle(LibraryHandle);
		}
		else
		{
			UE_LOG(LogLatentStage, Warning,
				TEXT("%d LatentStage worker jobs still running at shutdown: the native library stays loaded"),
				GLibraryJobs.load());
		}
		LibraryHandle = nullptr;
	}
}

bool FLatentStageModule::IsLibraryReady()
{
	return GLibraryReady.load();
}

FString FLatentStageModule::GetLibraryError()
{
	return GLibraryError;
}

void FLatentStageModule::BeginLibraryJob()
{
	GLibraryJobs.fetch_add(1);
}

void FLatentStageModule::EndLibraryJob()
{
	GLibraryJobs.fetch_sub(1);
}

IMPLEMENT_MODULE(FLatentStageModule, LatentStage)
