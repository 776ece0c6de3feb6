// LatentStage Unreal plug-in: the native client library as an external (prebuilt) module.
//
// Where the files go (README.md next to this file says how to build them):
//   header   Source/ThirdParty/LatentStageLibrary/include/latentstage/latentstage.h
//            (or, inside the LatentStage repository, engine_bridge/native/include is used as is)
//   Win64    Source/ThirdParty/LatentStageLibrary/lib/Win64/latentstage_client.lib        (import library)
//            Binaries/ThirdParty/LatentStageLibrary/Win64/latentstage_client.dll          (delay-loaded)
//   Linux    Binaries/ThirdParty/LatentStageLibrary/Linux/liblatentstage_client.so (+ its SONAME file)
//   Mac      Binaries/ThirdParty/LatentStageLibrary/Mac/liblatentstage_client.dylib       (delay-loaded)
using System.IO;
using UnrealBuildTool;

public class LatentStageLibrary : ModuleRules
{
	public LatentStageLibrary(ReadOnlyTargetRules Target) : base(Target)
	{
		Type = ModuleType.External;

		string IncludeDir = Path.Combine(ModuleDirectory, "include");
		string RepoIncludeDir = Path.GetFullPath(Path.Combine(PluginDirectory, "..", "..", "native", "include"));
		if (File.Exists(Path.Combine(IncludeDir, "latentstage", "latentstage.h")))
		{
			PublicIncludePaths.Add(IncludeDir);
		}
		else if (File.Exists(Path.Combine(RepoIncludeDir, "latentstage", "latentstage.h")))
		{
			PublicIncludePaths.Add(RepoIncludeDir);
		}
		else
		{
			throw new BuildException(
				"LatentStageLibrary: latentstage.h not found in {0}: copy include/latentstage/ from the native " +
				"library's install prefix there (see {1})", IncludeDir, Path.Combine(ModuleDirectory, "README.md"));
		}

		string PlatformDir = Target.Platform.ToString();
		string BinaryDir = Path.Combine(PluginDirectory, "Binaries", "ThirdParty", "LatentStageLibrary", PlatformDir);
		string StagedDir = "$(PluginDir)/Binaries/ThirdParty/LatentStageLibrary/" + PlatformDir;

		if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			// latentstage.h declares the functions __declspec(dllimport) with this.
			PublicDefinitions.Add("LATENTSTAGE_USE_SHARED=1");
			PublicAdditionalLibraries.Add(Path.Combine(ModuleDirectory, "lib", "Win64", "latentstage_client.lib"));
			// Loaded by FLatentStageModule::StartupModule from BinaryDir before the first call.
			PublicDelayLoadDLLs.Add("latentstage_client.dll");
			RuntimeDependencies.Add(StagedDir + "/latentstage_client.dll");
			// With a dynamic vcpkg triplet the gRPC / protobuf / abseil DLLs sit next to it: stage them too.
			if (Directory.Exists(BinaryDir))
			{
				foreach (string Dll in Directory.GetFiles(BinaryDir, "*.dll"))
				{
					string Name = Path.GetFileName(Dll);
					if (Name != "latentstage_client.dll")
					{
						RuntimeDependencies.Add(StagedDir + "/" + Name);
					}
				}
			}
		}
		else if (Target.Platform == UnrealTargetPlatform.Linux)
		{
			// Linked directly; the rpath lets the loader find it in BinaryDir.
			PublicAdditionalLibraries.Add(Path.Combine(BinaryDir, "liblatentstage_client.so"));
			PublicRuntimeLibraryPaths.Add(BinaryDir);
			RuntimeDependencies.Add(StagedDir + "/liblatentstage_client.so");
			if (Directory.Exists(BinaryDir))
			{
				foreach (string Versioned in Directory.GetFiles(BinaryDir, "liblatentstage_client.so.*"))
				{
					RuntimeDependencies.Add(StagedDir + "/" + Path.GetFileName(Versioned));
				}
			}
		}
		else if (Target.Platform == UnrealTargetPlatform.Mac)
		{
			// Loaded by FLatentStageModule::StartupModule from BinaryDir before the first call.
			PublicDelayLoadDLLs.Add(Path.Combine(BinaryDir, "liblatentstage_client.dylib"));
			RuntimeDependencies.Add(StagedDir + "/liblatentstage_client.dylib");
		}
	}
}
