// LatentStage Unreal plug-in: ULatentStageComponent (see LatentStageComponent.h).
//
// Per tick, on the game thread: advance the connect/reconnect state machine (LatentStageLink),
// submit the camera pose (location cm + FRotator + physical lens; never an FMatrix), acquire the
// newest frame with timeout 0, copy it into a free staging buffer, release it, and enqueue
// UpdateTextureRegions from that buffer. The staging ring is shared with the render thread's
// cleanup callback, which frees the slot after the copy, so a buffer is never rewritten or freed
// while the render thread reads it, even after this component is gone.
#include "LatentStageComponent.h"

#include "Camera/CameraComponent.h"
#include "CineCameraComponent.h"
#include "CoreGlobals.h"
#include "Engine/Texture2D.h"
#include "GameFramework/Actor.h"
#include "HAL/PlatformMisc.h"
#include "HAL/PlatformTime.h"
#include "Materials/MaterialInstanceDynamic.h"
#include "Misc/App.h"
#include "Misc/FileHelper.h"
#include "Misc/QualifiedFrameTime.h"
#include "Misc/Timecode.h"
#include "RHITypes.h"
#include "Runtime/Launch/Resources/Version.h"
#include "UObject/Package.h"

#include "LatentStageGlue.h"
#include "LatentStageLink.h"
#include "LatentStageLog.h"
#include "LatentStageModule.h"
#include "LatentStageRuntime.h"

// FCameraFilmbackSettings gained SensorHorizontalOffset / SensorVerticalOffset in UE 5.x (present in
// the 5.5 API reference, absent from 5.3's). Define LATENTSTAGE_HAS_FILMBACK_OFFSET=1 in
// LatentStage.Build.cs on an engine that has them but is older than 5.5.
#ifndef LATENTSTAGE_HAS_FILMBACK_OFFSET
#define LATENTSTAGE_HAS_FILMBACK_OFFSET (ENGINE_MAJOR_VERSION > 5 || (ENGINE_MAJOR_VERSION == 5 && ENGINE_MINOR_VERSION >= 5))
#endif

namespace
{
std::string ToUtf8(const FString& Text)
{
	return std::string(TCHAR_TO_UTF8(*Text));
}

ELatentStageRung ToRung(int32 Rung)
{
	switch (Rung)
	{
	case LS_RUNG_FULL: return ELatentStageRung::Full;
	case LS_RUNG_FEWER_STEPS: return ELatentStageRung::FewerSteps;
	case LS_RUNG_SKIP_WRITE: return ELatentStageRung::SkipWrite;
	case LS_RUNG_MEMORY_ONLY: return ELatentStageRung::MemoryOnly;
	default: return ELatentStageRung::None;
	}
}

/** The camera's lens: physical (focal length + filmback, mm) for a CineCamera, else its horizontal FOV. */
bool FillLens(const UCameraComponent& Camera, ls_lens& Lens)
{
	if (const UCineCameraComponent* Cine = Cast<UCineCameraComponent>(&Camera))
	{
		latentstage_glue::Filmback CineLens;
		CineLens.focal_length_mm = Cine->CurrentFocalLength;
		CineLens.sensor_width_mm = Cine->Filmback.SensorWidth;
		CineLens.sensor_height_mm = Cine->Filmback.SensorHeight;
#if LATENTSTAGE_HAS_FILMBACK_OFFSET
		CineLens.offset_x_mm = Cine->Filmback.SensorHorizontalOffset;
		CineLens.offset_y_mm = Cine->Filmback.SensorVerticalOffset;
#endif
		return latentstage_glue::FillPhysicalLens(CineLens, &Lens);
	}
	return latentstage_glue::FillHorizontalFovLens(Camera.FieldOfView, &Lens);
}

/**
 * The settings a worker job opens the session with, from the component's UPROPERTYs and the
 * texture made for it. Null, with OutProblem naming the setting, when one is unusable.
 */
TSharedPtr<const latentstage_glue::SessionSettings, ESPMode::ThreadSafe> MakeSessionSettings(
	const ULatentStageComponent& C, const FLatentStageRuntime& R, FString& OutProblem)
{
	TSharedRef<latentstage_glue::SessionSettings, ESPMode::ThreadSafe> Settings =
		MakeShared<latentstage_glue::SessionSettings, ESPMode::ThreadSafe>();
	Settings->target = ToUtf8(C.Server.TrimStartAndEnd());
	const bool bTokenFromEnvironment = !C.TokenEnvironmentVariable.IsEmpty();
	Settings->token = ToUtf8(bTokenFromEnvironment ? FPlatformMisc::GetEnvironmentVariable(*C.TokenEnvironmentVariable) : C.Token);
	Settings->use_tls = C.bUseTls;
	Settings->timeout_ms = uint32(FMath::Clamp(C.ConnectTimeoutMs, 100, 60000));
	if (C.bUseTls && !C.TlsRootCertificatesFile.IsEmpty())
	{
		FString Pem;
		if (!FFileHelper::LoadFileToString(Pem, *C.TlsRootCertificatesFile))
		{
			OutProblem = FString::Printf(TEXT("TlsRootCertificatesFile: %s: cannot be read (a PEM file expected)"), *C.TlsRootCertificatesFile);
			return nullptr;
		}
		Settings->tls_roots_pem = ToUtf8(Pem);
	}
	if (Settings->target.empty())
	{
		OutProblem = TEXT("Server: empty: \"host:port\" expected");
		return nullptr;
	}
	switch (C.WorldMode)
	{
	case ELatentStageWorldMode::NewWorld:
		Settings->new_world_kind = int32(C.NewWorldKind);  // ELatentStageWorldKind values equal ls_world_kind
		Settings->new_world_seed = uint64(FMath::Max<int64>(C.NewWorldSeed, 0));
		Settings->keep_new_world = C.bKeepNewWorld;
		break;
	case ELatentStageWorldMode::ExistingWorld:
		Settings->world_id = ToUtf8(C.WorldId.TrimStartAndEnd());
		break;
	case ELatentStageWorldMode::WatchTrackedCamera:
		Settings->tracked_camera = ToUtf8(C.TrackedCamera.TrimStartAndEnd());
		break;
	}
	if ((C.WorldMode == ELatentStageWorldMode::ExistingWorld && Settings->world_id.empty()) ||
		(C.WorldMode == ELatentStageWorldMode::WatchTrackedCamera && Settings->tracked_camera.empty()))
	{
		OutProblem = C.WorldMode == ELatentStageWorldMode::ExistingWorld ? TEXT("WorldId: empty: the id of a world on the server expected")
																		 : TEXT("TrackedCamera: empty: a tracked camera's name expected");
		return nullptr;
	}
	Settings->width = uint32(R.Width);
	Settings->height = uint32(R.Height);
	Settings->encoding = R.ExpectedEncoding;
	Settings->target_fps = FMath::Max(0.0, double(C.TargetFps));
	Settings->sampler_steps = uint32(FMath::Clamp(C.SamplerSteps, 0, 4));
	Settings->noise_seed = uint64(FMath::Max<int64>(C.NoiseSeed, 0));
	Settings->pacing = C.Pacing == ELatentStagePacing::Lockstep ? LS_PACING_LOCKSTEP : LS_PACING_REALTIME;
	Settings->prediction = C.bPredictPoses ? -1 : 0;
	Settings->display_latency_ms = FMath::Clamp(double(C.DisplayLatencyMs), 0.0, 1000.0);
	Settings->frame_buffers = uint32(FMath::Clamp(C.NativeFrameBuffers, 2, 16));
	return Settings;
}
}  // namespace

ULatentStageComponent::ULatentStageComponent()
{
	PrimaryComponentTick.bCanEverTick = true;
	PrimaryComponentTick.bStartWithTickEnabled = true;
	// After cameras are updated (Sequencer, Live Link, player camera), so the pose sent is this frame's.
	PrimaryComponentTick.TickGroup = TG_PostUpdateWork;
}

void ULatentStageComponent::BeginPlay()
{
	Super::BeginPlay();
	StartSession();
}

void ULatentStageComponent::EndPlay(const EEndPlayReason::Type EndPlayReason)
{
	StopSession();
	Super::EndPlay(EndPlayReason);
}

void ULatentStageComponent::StartSession()
{
	StopSession();
	Runtime = MakeShared<FLatentStageRuntime>();
	if (!EnsureTexture())
	{
		return;
	}
	if (!FLatentStageModule::IsLibraryReady())
	{
		SetState(ELatentStageConnectionState::LibraryMissing, FLatentStageModule::GetLibraryError());
		return;
	}

	FString Problem;
	const TSharedPtr<const latentstage_glue::SessionSettings, ESPMode::ThreadSafe> Settings =
		MakeSessionSettings(*this, *Runtime, Problem);
	if (!Settings.IsValid())
	{
		SetState(ELatentStageConnectionState::Failed, Problem);
		return;
	}
	Runtime->Settings = Settings;
	Runtime->Backoff = latentstage_glue::Backoff(ReconnectInitialDelay, ReconnectMaxDelay);
	Runtime->Link = MakeShared<FLatentStageLink, ESPMode::ThreadSafe>();
	Runtime->NextJob = ELatentStageJob::Open;
	Runtime->NextAttemptSeconds = 0.0;  // the first tick launches it
	SetState(ELatentStageConnectionState::Connecting, FString::Printf(TEXT("connecting to %s"), *Server));
}

void ULatentStageComponent::StopSession()
{
	if (Runtime.IsValid() && Runtime->Link.IsValid())
	{
		Runtime->Link->Cancel();
	}
	// The last reference to the link closes the session and destroys the client: here, or at the
	// end of a job still running. Staging buffers live until the render thread's copies are done.
	Runtime.Reset();
	FramesPerSecond = 0.f;
	SetState(ELatentStageConnectionState::Idle, FString());
}

bool ULatentStageComponent::EnsureTexture()
{
	const bool bRgba = Encoding == ELatentStageEncoding::RGBA8;
	const EPixelFormat Format = bRgba ? PF_R8G8B8A8 : PF_B8G8R8A8;
	const int32 Width = FMath::Clamp(OutputWidth, 16, 8192);
	const int32 Height = FMath::Clamp(OutputHeight, 16, 8192);
	Runtime->ExpectedEncoding = bRgba ? LS_ENCODING_RAW_RGBA8 : LS_ENCODING_RAW_BGRA8;
	Runtime->Width = Width;
	Runtime->Height = Height;

	const bool bReuse = Texture != nullptr && Texture->GetSizeX() == Width && Texture->GetSizeY() == Height &&
		Texture->GetPixelFormat() == Format;
	if (!bReuse)
	{
		const FName Name = MakeUniqueObjectName(GetTransientPackage(), UTexture2D::StaticClass(), FName(TEXT("LatentStageFrame")));
		Texture = UTexture2D::CreateTransient(Width, Height, Format, Name);
		if (Texture == nullptr)
		{
			SetState(ELatentStageConnectionState::Failed,
				FString::Printf(TEXT("OutputWidth x OutputHeight: %dx%d: the engine could not create a texture that size"), Width, Height));
			return false;
		}
		Texture->SRGB = true;  // frames are 8-bit sRGB images
		Texture->Filter = TF_Bilinear;
		Texture->AddressX = TA_Clamp;
		Texture->AddressY = TA_Clamp;
		Texture->NeverStream = true;
		Texture->UpdateResource();
		for (const TPair<TWeakObjectPtr<UMaterialInstanceDynamic>, FName>& Binding : Bindings)
		{
			if (UMaterialInstanceDynamic* Material = Binding.Key.Get())
			{
				Material->SetTextureParameterValue(Binding.Value, Texture);
			}
		}
	}

	// The staging ring is made once per session, at the texture's size, and never resized.
	Runtime->Staging = MakeShared<FLatentStageStaging, ESPMode::ThreadSafe>(uint32(FMath::Clamp(StagingBuffers, 2, 8)), Width, Height);
	FLatentStageStaging& Staging = *Runtime->Staging;
	const int32 Slot = Staging.Slots.Acquire();
	if (Slot >= 0 && Texture->GetResource() != nullptr)
	{
		// Start opaque black rather than whatever the new texture holds.
		TArray<uint8>& Black = Staging.Buffers[Slot];
		for (int32 Alpha = 3; Alpha < Black.Num(); Alpha += 4)
		{
			Black[Alpha] = 255;
		}
		UploadStagingSlot(*Texture, Runtime->Staging, Slot, Width);
	}
	else if (Slot >= 0)
	{
		Staging.Slots.Release(Slot);
	}
	return true;
}

void ULatentStageComponent::TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
{
	Super::TickComponent(DeltaTime, TickType, ThisTickFunction);
	if (!Runtime.IsValid() || !Runtime->Link.IsValid())
	{
		return;
	}
	const double Now = FPlatformTime::Seconds();
	if (!UpdateLink(Now))
	{
		return;
	}
	if (WorldMode != ELatentStageWorldMode::WatchTrackedCamera)
	{
		SubmitPose();
	}
	PumpFrame(Now);
	// An OnFrame handler may have called Reconnect, LoadWorld or destroyed this component.
	if (Runtime.IsValid() && Runtime->IsStreaming() && Now >= Runtime->NextStatsSeconds)
	{
		RefreshStats();
		Runtime->NextStatsSeconds = Now + 0.25;
	}
}

bool ULatentStageComponent::UpdateLink(double NowSeconds)
{
	FLatentStageRuntime& R = *Runtime;
	FLatentStageLink& Link = *R.Link;
	switch (Link.GetPhase())
	{
	case ELatentStageLinkPhase::Working:
		return false;
	case ELatentStageLinkPhase::Failed:
		HandleJobFailure(NowSeconds);
		return false;
	case ELatentStageLinkPhase::Idle:
		if (ConnectionState != ELatentStageConnectionState::Failed && NowSeconds >= R.NextAttemptSeconds)
		{
			FLatentStageLink::Launch(R.Link.ToSharedRef(), R.NextJob, R.Settings.ToSharedRef());
		}
		return false;
	case ELatentStageLinkPhase::Ready:
		break;
	}

	if (!R.bSessionLive)
	{
		R.bSessionLive = true;
		R.Backoff.Reset();
		Reconnects += R.bEverOpened ? 1 : 0;
		R.bEverOpened = true;
		R.FpsWindowStart = NowSeconds;
		R.FpsWindowFrames = 0;
		RefreshStats();
		SetState(ELatentStageConnectionState::Open, FString::Printf(TEXT("streaming from %s"), *Server));
		UE_LOG(LogLatentStage, Log, TEXT("%s: session %s open on world %s (%dx%d)"), *GetNameSafe(GetOwner()), *SessionId,
			*ActiveWorldId, R.Width, R.Height);
	}

	const ls_session_state State = ls_session_get_state(Link.GetSession());
	if (State == LS_SESSION_DISCONNECTED || State == LS_SESSION_CLOSED)
	{
		R.bSessionLive = false;
		FramesPerSecond = 0.f;
		if (State == LS_SESSION_DISCONNECTED)
		{
			Link.Suspend();
			R.NextJob = ELatentStageJob::Reopen;
		}
		else
		{
			Link.CloseSession();  // the server ended it: open a new one
			R.NextJob = ELatentStageJob::Open;
		}
		const double Delay = R.Backoff.Next();
		R.NextAttemptSeconds = NowSeconds + Delay;
		const FString Why = State == LS_SESSION_DISCONNECTED ? TEXT("the stream broke (server lost?)") : TEXT("the server closed the session");
		SetState(ELatentStageConnectionState::Reconnecting, FString::Printf(TEXT("%s; retrying in %.1f s"), *Why, Delay));
		UE_LOG(LogLatentStage, Warning, TEXT("%s: %s"), *GetNameSafe(GetOwner()), *StatusMessage);
		return false;
	}
	return true;
}

void ULatentStageComponent::HandleJobFailure(double NowSeconds)
{
	FLatentStageRuntime& R = *Runtime;
	FLatentStageLink& Link = *R.Link;
	const ls_status Status = Link.GetLastStatus();
	const FString Error = Link.GetLastError();
	Link.AcknowledgeFailure();

	if (latentstage_glue::IsRetryable(Status))
	{
		const double Delay = R.Backoff.Next();
		R.NextAttemptSeconds = NowSeconds + Delay;
		SetState(ELatentStageConnectionState::Reconnecting, FString::Printf(TEXT("%s; retrying in %.1f s"), *Error, Delay));
		UE_LOG(LogLatentStage, Warning, TEXT("%s: %s"), *GetNameSafe(GetOwner()), *StatusMessage);
		return;
	}
	if (R.NextJob == ELatentStageJob::Reopen && WorldMode == ELatentStageWorldMode::NewWorld)
	{
		// A restarted server no longer has this session's unsaved world: start a new one.
		UE_LOG(LogLatentStage, Warning, TEXT("%s: %s; opening a new session on a new world"), *GetNameSafe(GetOwner()), *Error);
		Link.CloseSession();
		R.NextJob = ELatentStageJob::Open;
		R.NextAttemptSeconds = NowSeconds;
		return;
	}
	SetState(ELatentStageConnectionState::Failed, FString::Printf(TEXT("stopped: %s"), *Error));  // logs it
}

void ULatentStageComponent::SubmitPose()
{
	FLatentStageRuntime& R = *Runtime;
	UCameraComponent* Camera = ResolveCamera();
	if (Camera == nullptr)
	{
		if (!R.bLoggedNoCamera)
		{
			R.bLoggedNoCamera = true;
			UE_LOG(LogLatentStage, Error, TEXT("%s: no CineCameraComponent or CameraComponent on the owner: no pose sent (put the component on a CineCameraActor, or call SetCamera)"),
				*GetNameSafe(GetOwner()));
		}
		return;
	}

	ls_pose Pose;
	ls_pose_init(&Pose);
	const FVector Location = Camera->GetComponentLocation();  // world, centimetres
	const FRotator Rotation = Camera->GetComponentRotation();  // world, degrees
	const double LocationCm[3] = {Location.X, Location.Y, Location.Z};
	// capture_time_ns 0: the library stamps its own steady clock now.
	latentstage_glue::FillUnrealRotatorPose(GFrameCounter, 0, LocationCm, Rotation.Pitch, Rotation.Yaw, Rotation.Roll, &Pose);
	if (!FillLens(*Camera, Pose.lens))
	{
		++PosesRefused;
		SetState(ConnectionState, TEXT("camera lens: focal length, filmback or FieldOfView out of range: no pose sent"));
		return;
	}
	if (bSendTimecode)
	{
		const TOptional<FQualifiedFrameTime> FrameTime = FApp::GetCurrentFrameTime();
		if (FrameTime.IsSet())
		{
			const FTimecode Timecode = FrameTime->ToTimecode();
			latentstage_glue::FillTimecode(uint32(FMath::Max(Timecode.Hours, 0)), uint32(FMath::Max(Timecode.Minutes, 0)),
				uint32(FMath::Max(Timecode.Seconds, 0)), uint32(FMath::Max(Timecode.Frames, 0)),
				uint32(FMath::Max(FrameTime->Rate.Numerator, 0)), uint32(FMath::Max(FrameTime->Rate.Denominator, 0)),
				Timecode.bDropFrameFormat, &Pose.timecode);
		}
	}

	const ls_status Status = ls_session_submit_pose(R.Link->GetSession(), &Pose);
	if (Status != LS_OK)
	{
		++PosesRefused;
		if (Status != R.LastSubmitStatus && Status != LS_BUSY && Status != LS_DISCONNECTED && Status != LS_CLOSED)
		{
			StatusMessage = FString::Printf(TEXT("pose refused: %s"), *LatentStageLastError(Status));
			UE_LOG(LogLatentStage, Warning, TEXT("%s: %s"), *GetNameSafe(GetOwner()), *StatusMessage);
		}
	}
	R.LastSubmitStatus = Status;
}

void ULatentStageComponent::PumpFrame(double NowSeconds)
{
	FLatentStageRuntime& R = *Runtime;
	ls_session* Session = R.Link->GetSession();
	const ls_frame* Frame = nullptr;
	if (ls_session_acquire_frame(Session, 0, &Frame) != LS_OK || Frame == nullptr)
	{
		return;  // LS_TIMEOUT: nothing new; a lost stream is seen by UpdateLink next tick
	}

	// Copy into a staging buffer the render thread is not reading, then give the frame back at once.
	bool bUploaded = false;
	FLatentStageStaging& Staging = *R.Staging;
	const int32 Slot = Texture->GetResource() != nullptr ? Staging.Slots.Acquire() : -1;
	if (Slot < 0)
	{
		++UploadsSkipped;
	}
	else
	{
		TArray<uint8>& Buffer = Staging.Buffers[Slot];
		const latentstage_glue::CopyResult Result =
			latentstage_glue::CopyFrameRows(*Frame, R.ExpectedEncoding, uint32(R.Width), uint32(R.Height), Buffer.GetData(), size_t(Buffer.Num()));
		if (Result == latentstage_glue::CopyResult::kOk)
		{
			bUploaded = true;
		}
		else
		{
			Staging.Slots.Release(Slot);
			if (Result != R.LastCopyResult)
			{
				UE_LOG(LogLatentStage, Error, TEXT("%s: frame %llu not shown: %s (frame %ux%u encoding %d stride %u, texture %dx%d)"),
					*GetNameSafe(GetOwner()), uint64(Frame->frame_id), UTF8_TO_TCHAR(latentstage_glue::CopyResultName(Result)), Frame->width,
					Frame->height, Frame->encoding, Frame->stride, R.Width, R.Height);
			}
		}
		R.LastCopyResult = Result;
	}

	FLatentStageFrameInfo Info;
	Info.FrameId = int64(Frame->frame_id);
	Info.Sequence = int64(Frame->sequence);
	Info.Rung = ToRung(Frame->rung);
	Info.SamplerSteps = int32(Frame->sampler_steps);
	Info.ServerTotalMs = float(Frame->total_ms);
	Info.MemoryPoints = int64(Frame->memory_points);
	Info.MemoryCoverage = float(Frame->memory_coverage);
	ls_session_release_frame(Session, Frame);
	Frame = nullptr;
	if (!bUploaded)
	{
		return;
	}

	UploadStagingSlot(*Texture, R.Staging, Slot, R.Width);

	LastFrame = Info;
	LastRung = Info.Rung;
	++R.FpsWindowFrames;
	if (NowSeconds - R.FpsWindowStart >= 1.0)
	{
		FramesPerSecond = float(R.FpsWindowFrames / (NowSeconds - R.FpsWindowStart));
		R.FpsWindowStart = NowSeconds;
		R.FpsWindowFrames = 0;
	}
	OnFrame.Broadcast(Texture, Info);  // last: a handler may restart the session (R dangles then)
}

void ULatentStageComponent::RefreshStats()
{
	ls_session_stats Stats;
	if (ls_session_get_stats(Runtime->Link->GetSession(), &Stats) != LS_OK)
	{
		return;
	}
	FramesReceived = int64(Stats.frames_received);
	FramesDropped = int64(Stats.frames_dropped);
	FramesDroppedServer = int64(Stats.frames_dropped_server);
	PosesSkippedServer = int64(Stats.poses_skipped_server);
	LatencyP50Ms = float(Stats.latency_p50_ms);
	LatencyP95Ms = float(Stats.latency_p95_ms);
	LatencyP99Ms = float(Stats.latency_p99_ms);
	SessionId = UTF8_TO_TCHAR(Stats.session_id);
	ActiveWorldId = UTF8_TO_TCHAR(Stats.world_id);
}

UCameraComponent* ULatentStageComponent::ResolveCamera()
{
	if (UCameraComponent* Camera = CameraInUse.Get())
	{
		return Camera;
	}
	AActor* Owner = GetOwner();
	if (Owner == nullptr)
	{
		return nullptr;
	}
	UCameraComponent* Found = Owner->FindComponentByClass<UCineCameraComponent>();
	if (Found == nullptr)
	{
		Found = Owner->FindComponentByClass<UCameraComponent>();
	}
	CameraInUse = Found;
	return Found;
}

void ULatentStageComponent::SetState(ELatentStageConnectionState State, const FString& Message)
{
	ConnectionState = State;
	StatusMessage = Message;
	if (State == ELatentStageConnectionState::Failed || State == ELatentStageConnectionState::LibraryMissing)
	{
		UE_LOG(LogLatentStage, Error, TEXT("%s: %s"), *GetNameSafe(GetOwner()), *Message);
	}
}
