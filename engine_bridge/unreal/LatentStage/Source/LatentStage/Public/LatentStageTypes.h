// LatentStage Unreal plug-in: the enums and structs Blueprints see.
#pragma once

#include "CoreMinimal.h"

#include "LatentStageTypes.generated.h"

/** Where the session's world comes from. */
UENUM(BlueprintType)
enum class ELatentStageWorldMode : uint8
{
	/** A new world made for this session (empty or procedural), freed when it ends unless kept. */
	NewWorld UMETA(DisplayName = "New world"),
	/** An existing world on the server, by its id (several cameras may share one). */
	ExistingWorld UMETA(DisplayName = "Existing world (id)"),
	/** Watch a FreeD-tracked camera on the server: frames only, no poses are sent. */
	WatchTrackedCamera UMETA(DisplayName = "Watch tracked camera"),
};

/** What a new world starts from (values equal ls_world_kind). */
UENUM(BlueprintType)
enum class ELatentStageWorldKind : uint8
{
	Empty = 0 UMETA(DisplayName = "Empty"),
	Indoor = 1 UMETA(DisplayName = "Procedural indoor"),
	Outdoor = 2 UMETA(DisplayName = "Procedural outdoor"),
};

/** Pixel layout of the frames (uploaded as they arrive; no CPU swizzle). */
UENUM(BlueprintType)
enum class ELatentStageEncoding : uint8
{
	/** B, G, R, A bytes: PF_B8G8R8A8, Unreal's native 8-bit format. */
	BGRA8 UMETA(DisplayName = "BGRA8 (PF_B8G8R8A8)"),
	/** R, G, B, A bytes: PF_R8G8B8A8. */
	RGBA8 UMETA(DisplayName = "RGBA8 (PF_R8G8B8A8)"),
};

/** How the server paces frames (mapped to ls_pacing). */
UENUM(BlueprintType)
enum class ELatentStagePacing : uint8
{
	/** Latest pose wins; frames may degrade to fit the target fps. For live camera work. */
	Realtime UMETA(DisplayName = "Realtime"),
	/** Every pose rendered in order at full quality (LS_BUSY when 64 are queued). For renders. */
	Lockstep UMETA(DisplayName = "Lockstep"),
};

/** Which rung of the degradation ladder produced a frame (values equal ls_rung). */
UENUM(BlueprintType)
enum class ELatentStageRung : uint8
{
	None = 0 UMETA(DisplayName = "No frame yet"),
	Full = 1 UMETA(DisplayName = "Full"),
	FewerSteps = 2 UMETA(DisplayName = "Fewer sampler steps"),
	SkipWrite = 3 UMETA(DisplayName = "Memory write skipped"),
	MemoryOnly = 4 UMETA(DisplayName = "Memory only"),
};

/** The component's link to the server, as the editor shows it. */
UENUM(BlueprintType)
enum class ELatentStageConnectionState : uint8
{
	/** Not playing, or the component is inactive. */
	Idle UMETA(DisplayName = "Idle"),
	/** The native library did not load, or its ABI differs from the plug-in's (see the log). */
	LibraryMissing UMETA(DisplayName = "Native library missing"),
	/** Connecting and opening the session (on a worker thread). */
	Connecting UMETA(DisplayName = "Connecting"),
	/** Streaming. */
	Open UMETA(DisplayName = "Open"),
	/** The stream broke or a try failed; another try follows after the backoff delay. */
	Reconnecting UMETA(DisplayName = "Reconnecting"),
	/** Stopped on an error a person must fix (token, settings, world id); see StatusMessage. */
	Failed UMETA(DisplayName = "Failed"),
};

/** What came with the frame just uploaded (a copy of the native frame's metadata). */
USTRUCT(BlueprintType)
struct LATENTSTAGE_API FLatentStageFrameInfo
{
	GENERATED_BODY()

	/** The engine frame number (GFrameCounter) of the pose this frame answers. */
	UPROPERTY(BlueprintReadOnly, Category = "LatentStage")
	int64 FrameId = 0;

	/** 1, 2, 3... frames the server rendered for this session. */
	UPROPERTY(BlueprintReadOnly, Category = "LatentStage")
	int64 Sequence = 0;

	/** Degradation rung that produced it. */
	UPROPERTY(BlueprintReadOnly, Category = "LatentStage")
	ELatentStageRung Rung = ELatentStageRung::None;

	/** Sampler steps run. */
	UPROPERTY(BlueprintReadOnly, Category = "LatentStage")
	int32 SamplerSteps = 0;

	/** Server time for the frame, milliseconds (queue + readout + generate + decode + encode). */
	UPROPERTY(BlueprintReadOnly, Category = "LatentStage")
	float ServerTotalMs = 0.f;

	/** Latent memory points the world holds after this frame. */
	UPROPERTY(BlueprintReadOnly, Category = "LatentStage")
	int64 MemoryPoints = 0;

	/** Share of this frame's latent pixels the memory covered, 0..1. */
	UPROPERTY(BlueprintReadOnly, Category = "LatentStage")
	float MemoryCoverage = 0.f;
};
