// LatentStage Unreal plug-in: what one ULatentStageComponent session holds beyond its UPROPERTYs.
#pragma once

#include "CoreMinimal.h"
#include "Engine/Texture2D.h"
#include "LatentStageGlue.h"
#include "LatentStageLink.h"
#include "RHITypes.h"

/**
 * Staging buffers shared by the game thread, which fills a free slot, and the render thread, which
 * copies it into the texture. Sized once, in the constructor; never reallocated.
 */
struct FLatentStageStaging
{
	FLatentStageStaging(uint32 NumSlots, int32 Width, int32 Height)
		: Slots(NumSlots)
	{
		for (uint32 Slot = 0; Slot < Slots.Count(); ++Slot)
		{
			Buffers[Slot].SetNumZeroed(Width * Height * int32(latentstage_glue::kBytesPerPixel));
			Regions[Slot] = FUpdateTextureRegion2D(0, 0, 0, 0, uint32(Width), uint32(Height));
		}
	}

	latentstage_glue::StagingSlots Slots;                               // which slots the render thread still reads
	TArray<uint8> Buffers[latentstage_glue::kMaxStagingSlots];           // width * height * 4 bytes each
	FUpdateTextureRegion2D Regions[latentstage_glue::kMaxStagingSlots];  // the whole texture; read by the render thread
};

using FLatentStageStagingPtr = TSharedPtr<FLatentStageStaging, ESPMode::ThreadSafe>;

/**
 * Enqueues the copy of a filled staging slot into mip 0 of Texture (which has a resource). The
 * render thread's cleanup callback holds the staging ring and frees the slot after the copy, so
 * the buffer outlives the copy even if the component does not.
 */
inline void UploadStagingSlot(UTexture2D& Texture, const FLatentStageStagingPtr& Staging, int32 Slot, int32 Width)
{
	FLatentStageStagingPtr Keep = Staging;
	Texture.UpdateTextureRegions(0, 1, &Keep->Regions[Slot], uint32(Width) * latentstage_glue::kBytesPerPixel,
		latentstage_glue::kBytesPerPixel, Keep->Buffers[Slot].GetData(),
		[Keep, Slot](uint8*, const FUpdateTextureRegion2D*) { Keep->Slots.Release(Slot); });
}

/** Everything one BeginPlay..EndPlay needs that Unreal's reflection does not see. Game thread. */
struct FLatentStageRuntime
{
	FLatentStageLinkPtr Link;                                                   // native client + session
	TSharedPtr<const latentstage_glue::SessionSettings, ESPMode::ThreadSafe> Settings;  // what jobs open
	FLatentStageStagingPtr Staging;                                             // the upload ring
	latentstage_glue::Backoff Backoff{0.5, 10.0};                               // reconnect delays, seconds
	ELatentStageJob NextJob = ELatentStageJob::Open;  // what the next worker job does
	double NextAttemptSeconds = 0.0;                   // FPlatformTime::Seconds() of the next try
	bool bSessionLive = false;                         // the game thread streams from a Ready link
	bool bEverOpened = false;                          // a session was open once (later ones are reconnects)
	int32 ExpectedEncoding = LS_ENCODING_RAW_BGRA8;    // what the texture was created for
	int32 Width = 0;                                   // texture size, pixels
	int32 Height = 0;
	double FpsWindowStart = 0.0;     // FPlatformTime::Seconds() the fps window began
	int32 FpsWindowFrames = 0;       // frames uploaded in that window
	double NextStatsSeconds = 0.0;   // next ls_session_get_stats
	ls_status LastSubmitStatus = LS_OK;  // log a refused pose once per distinct status
	bool bLoggedNoCamera = false;
	latentstage_glue::CopyResult LastCopyResult = latentstage_glue::CopyResult::kOk;  // log once per reason

	/** True while the game thread may use the session (the link is Ready). */
	bool IsStreaming() const { return Link.IsValid() && Link->GetPhase() == ELatentStageLinkPhase::Ready; }
};

/** "LS_STATUS: the library's message" for the calling thread's last failed call. */
inline FString LatentStageLastError(ls_status Status)
{
	return FString::Printf(TEXT("%s: %s"), UTF8_TO_TCHAR(ls_status_name(Status)), UTF8_TO_TCHAR(ls_last_error()));
}
