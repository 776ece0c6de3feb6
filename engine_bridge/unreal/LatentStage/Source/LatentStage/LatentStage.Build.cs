// LatentStage Unreal plug-in: the runtime module's build rules.
using UnrealBuildTool;

public class LatentStage : ModuleRules
{
	public LatentStage(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;

		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core",
			"CoreUObject",
			"Engine",
		});

		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"CinematicCamera",     // UCineCameraComponent: filmback and focal length
			"Projects",            // IPluginManager: where the plug-in (and its native library) is
			"RHI",                 // FUpdateTextureRegion2D
			"LatentStageLibrary",  // the native client: header, import library, runtime binary
		});

		// Define LATENTSTAGE_HAS_FILMBACK_OFFSET=1 here on an engine older than 5.5 whose
		// FCameraFilmbackSettings already has SensorHorizontalOffset / SensorVerticalOffset
		// (LatentStageComponent.cpp decides from the engine version otherwise):
		// PrivateDefinitions.Add("LATENTSTAGE_HAS_FILMBACK_OFFSET=1");
	}
}
