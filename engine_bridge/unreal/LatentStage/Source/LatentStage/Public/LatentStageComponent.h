// LatentStage Unreal plug-in: the component that streams a camera's pose to a LatentStage server
// and shows the generated frames in one persistent texture.
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"
#include "LatentStageTypes.h"

#include "LatentStageComponent.generated.h"

class UCameraComponent;
class UMaterialInstanceDynamic;
class UPrimitiveComponent;
class UTexture2D;
struct FLatentStageRuntime;

/** Fired on the game thread after a frame was handed to the render thread for upload into Texture. */
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FLatentStageFrameEvent, UTexture2D*, FrameTexture, const FLatentStageFrameInfo&, Info);

/**
 * Put it on a CineCameraActor. Each tick it sends the camera's world location (cm) and rotation
 * (FRotator) with its filmback and focal length through the LatentStage native library, and copies
 * the newest generated frame into one persistent UTexture2D (PF_B8G8R8A8 by default) through a
 * ring of staging buffers that outlive the render thread's copy. Bind Texture to a material (a
 * plane, an LED-wall mesh, a HUD) with BindToMesh or a TextureSampleParameter2D.
 *
 * All protocol work (gRPC, message limits, frame ring, pacing, reconnect states) is the native
 * library's; this component only converts Unreal values and uploads pixels. Connecting and
 * reconnecting run on a worker thread, so a missing server never stalls the game thread.
 */
UCLASS(ClassGroup = (LatentStage), meta = (BlueprintSpawnableComponent, DisplayName = "LatentStage"))
class LATENTSTAGE_API ULatentStageComponent : public UActorComponent
{
	GENERATED_BODY()

public:
	ULatentStageComponent();

	// ----- server -----------------------------------------------------------------------------
	/** The server, "host:port" (`latentstage serve` listens on 127.0.0.1:50051 by default). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Server")
	FString Server = TEXT("127.0.0.1:50051");

	/** Bearer token (`latentstage serve --token-file`). Saved with the level: prefer TokenEnvironmentVariable. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Server", meta = (PasswordField = true))
	FString Token;

	/** When set, the token is read from this environment variable at BeginPlay instead. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Server")
	FString TokenEnvironmentVariable;

	/** TLS to the server (`latentstage serve --tls-cert --tls-key`). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Server")
	bool bUseTls = false;

	/** Path of a PEM file of root certificates for TLS; empty = the system's roots. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Server", meta = (EditCondition = "bUseTls"))
	FString TlsRootCertificatesFile;

	/** Connect and unary-call deadline, milliseconds. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Server", meta = (ClampMin = "100", ClampMax = "60000"))
	int32 ConnectTimeoutMs = 5000;

	/** First delay before reconnecting after a lost stream or a failed try, seconds; doubles each try. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Server", meta = (ClampMin = "0.1"))
	float ReconnectInitialDelay = 0.5f;

	/** Longest delay between reconnect tries, seconds. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Server", meta = (ClampMin = "0.1"))
	float ReconnectMaxDelay = 10.f;

	// ----- world ------------------------------------------------------------------------------
	/** Where the world comes from. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|World")
	ELatentStageWorldMode WorldMode = ELatentStageWorldMode::NewWorld;

	/** A new world: empty, or procedural indoor / outdoor from NewWorldSeed. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|World",
		meta = (EditCondition = "WorldMode == ELatentStageWorldMode::NewWorld", EditConditionHides))
	ELatentStageWorldKind NewWorldKind = ELatentStageWorldKind::Outdoor;

	/** Procedural seed of a new world. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|World",
		meta = (EditCondition = "WorldMode == ELatentStageWorldMode::NewWorld", EditConditionHides, ClampMin = "0"))
	int64 NewWorldSeed = 7;

	/** Keep the new world on the server after the session ends (to attach to it again, or save it later). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|World",
		meta = (EditCondition = "WorldMode == ELatentStageWorldMode::NewWorld", EditConditionHides))
	bool bKeepNewWorld = false;

	/** Id of a world on the server (`latentstage` world list, or LoadWorld). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|World",
		meta = (EditCondition = "WorldMode == ELatentStageWorldMode::ExistingWorld", EditConditionHides))
	FString WorldId;

	/** Name of a FreeD-tracked camera on the server (ServerInfo.tracked_cameras). Frames only: no poses are sent. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|World",
		meta = (EditCondition = "WorldMode == ELatentStageWorldMode::WatchTrackedCamera", EditConditionHides))
	FString TrackedCamera;

	// ----- frames -----------------------------------------------------------------------------
	/** Output width, pixels: any size within the server's limits (not only multiples of 8). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames", meta = (ClampMin = "16", ClampMax = "8192"))
	int32 OutputWidth = 1280;

	/** Output height, pixels. Match the filmback's aspect to keep the image undistorted (horizontal FOV is kept). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames", meta = (ClampMin = "16", ClampMax = "8192"))
	int32 OutputHeight = 720;

	/** Pixel layout; BGRA8 is uploaded into PF_B8G8R8A8 as it arrives. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames")
	ELatentStageEncoding Encoding = ELatentStageEncoding::BGRA8;

	/** Frame budget: the server degrades (fewer steps, no memory write, memory only) to keep this rate. 0 = none. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames", meta = (ClampMin = "0", ClampMax = "240"))
	float TargetFps = 30.f;

	/** Sampler steps, 1..4; 0 = the model's default. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames", meta = (ClampMin = "0", ClampMax = "4"))
	int32 SamplerSteps = 0;

	/** Generator noise seed (same seed, poses and server: same frames). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames", meta = (ClampMin = "0"))
	int64 NoiseSeed = 0;

	/** Realtime (latest pose wins) for live work; Lockstep (every pose, in order) for renders. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames")
	ELatentStagePacing Pacing = ELatentStagePacing::Realtime;

	/** Let the server extrapolate poses to display time (its default in Realtime). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames")
	bool bPredictPoses = true;

	/** Latency of the display pipeline after the texture (LED processor, projector), milliseconds. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames", meta = (ClampMin = "0", ClampMax = "1000"))
	float DisplayLatencyMs = 0.f;

	/** Send the engine timecode (when a timecode provider is synchronised); frames echo it. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames")
	bool bSendTimecode = true;

	/** Frames in the native library's receive ring, 2..16. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames", AdvancedDisplay, meta = (ClampMin = "2", ClampMax = "16"))
	int32 NativeFrameBuffers = 3;

	/** Staging buffers between the game thread and the render thread's copy, 2..8. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LatentStage|Frames", AdvancedDisplay, meta = (ClampMin = "2", ClampMax = "8"))
	int32 StagingBuffers = 3;

	// ----- output -----------------------------------------------------------------------------
	/** The generated frames: one texture, created once at the output size, updated in place. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Output")
	TObjectPtr<UTexture2D> Texture;

	/** After each uploaded frame. */
	UPROPERTY(BlueprintAssignable, Category = "LatentStage|Output")
	FLatentStageFrameEvent OnFrame;

	// ----- status (editor-visible while playing) -------------------------------------------------
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	ELatentStageConnectionState ConnectionState = ELatentStageConnectionState::Idle;

	/** The last thing worth knowing: what failed and why, or what is being tried. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	FString StatusMessage;

	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	FString SessionId;

	/** The world the session is attached to (save it, or share it with another camera). */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	FString ActiveWorldId;

	/** Frames uploaded per second, over the last second. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	float FramesPerSecond = 0.f;

	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	int64 FramesReceived = 0;

	/** Frames received but replaced by a newer one before this component picked them up. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	int64 FramesDropped = 0;

	/** Frames the server dropped because this client read too slowly. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	int64 FramesDroppedServer = 0;

	/** Poses the server skipped (latest pose wins). */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	int64 PosesSkippedServer = 0;

	/** Poses the library refused (LS_BUSY in lockstep, a bad lens); see the log. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	int64 PosesRefused = 0;

	/** Frames not uploaded because every staging buffer was still being copied by the render thread. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	int64 UploadsSkipped = 0;

	/** Successful reconnects since BeginPlay. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	int64 Reconnects = 0;

	/** Degradation rung of the last frame. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	ELatentStageRung LastRung = ELatentStageRung::None;

	/** Pose submitted to frame received, milliseconds, over the last 256 frames. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	float LatencyP50Ms = 0.f;

	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	float LatencyP95Ms = 0.f;

	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	float LatencyP99Ms = 0.f;

	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Transient, Category = "LatentStage|Status")
	FLatentStageFrameInfo LastFrame;

	// ----- Blueprint API ----------------------------------------------------------------------
	/** The frame texture (null before BeginPlay). */
	UFUNCTION(BlueprintCallable, BlueprintPure, Category = "LatentStage")
	UTexture2D* GetTexture() const;

	/**
	 * Shows the frames on a mesh: makes a dynamic instance of the element's material and sets its
	 * texture parameter to Texture, now and whenever the texture is recreated. Null on failure.
	 */
	UFUNCTION(BlueprintCallable, Category = "LatentStage")
	UMaterialInstanceDynamic* BindToMesh(UPrimitiveComponent* Mesh, int32 ElementIndex = 0, FName TextureParameter = TEXT("Frame"));

	/** Use this camera instead of the owner's first CineCameraComponent (or CameraComponent). */
	UFUNCTION(BlueprintCallable, Category = "LatentStage")
	void SetCamera(UCameraComponent* InCamera);

	/** Closes the session and opens a new one with the current settings. */
	UFUNCTION(BlueprintCallable, Category = "LatentStage")
	void Reconnect();

	/**
	 * Saves the session's world as a named snapshot on the server ("" = the server picks a name).
	 * Blocks the game thread for the call (up to ConnectTimeoutMs): call it from a button, not per tick.
	 */
	UFUNCTION(BlueprintCallable, Category = "LatentStage")
	bool SaveWorld(const FString& SnapshotName, FString& SavedName);

	/**
	 * Loads a snapshot as a new world on the server and reattaches this camera to it
	 * (WorldMode becomes ExistingWorld). Blocks like SaveWorld. Needs an open session.
	 */
	UFUNCTION(BlueprintCallable, Category = "LatentStage")
	bool LoadWorld(const FString& SnapshotName);

protected:
	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type EndPlayReason) override;
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction) override;

private:
	void StartSession();
	void StopSession();
	bool EnsureTexture();
	/** Advances the connect / reconnect state machine; true while a session is streaming. */
	bool UpdateLink(double NowSeconds);
	void HandleJobFailure(double NowSeconds);
	void SubmitPose();
	void PumpFrame(double NowSeconds);
	void RefreshStats();
	UCameraComponent* ResolveCamera();
	void SetState(ELatentStageConnectionState State, const FString& Message);

	/** Native handles, staging ring and counters (LatentStageComponent.cpp). */
	TSharedPtr<FLatentStageRuntime> Runtime;

	/** The camera whose pose is sent (SetCamera, or found on the owner). */
	TWeakObjectPtr<UCameraComponent> CameraInUse;

	/** Material instances BindToMesh made, and the parameter each shows Texture in. */
	TArray<TPair<TWeakObjectPtr<UMaterialInstanceDynamic>, FName>> Bindings;
};
