// LatentStage Unreal plug-in: the runtime module. It loads the native client library (Win64, Mac:
// from the plug-in's Binaries/ThirdParty folder; Linux: linked) and checks its ABI version.
#pragma once

#include "CoreMinimal.h"
#include "Modules/ModuleInterface.h"

class LATENTSTAGE_API FLatentStageModule : public IModuleInterface
{
public:
	virtual void StartupModule() override;
	virtual void ShutdownModule() override;

	/** True when the native library is loaded and its ABI equals the one the plug-in was built against. */
	static bool IsLibraryReady();

	/** Why the library is not ready, for the log and the editor ("" when it is ready). */
	static FString GetLibraryError();

	/**
	 * A worker job that may call into the library starts / ends. ShutdownModule waits (bounded) for
	 * running jobs before it unloads the library, so no thread is left inside an unloaded DLL.
	 */
	static void BeginLibraryJob();
	static void EndLibraryJob();

private:
	/** The library's handle where it is loaded explicitly (Win64, Mac); null elsewhere. */
	void* LibraryHandle = nullptr;
};
