// LatentStage Unreal plug-in: ULatentStageComponent's Blueprint functions (texture binding, camera,
// reconnect, world save and load). The per-tick work is in LatentStageComponent.cpp.
#include "LatentStageComponent.h"

#include "Camera/CameraComponent.h"
#include "Components/PrimitiveComponent.h"
#include "Engine/Texture2D.h"
#include "Materials/MaterialInstanceDynamic.h"

#include "LatentStageLink.h"
#include "LatentStageLog.h"
#include "LatentStageRuntime.h"

UTexture2D* ULatentStageComponent::GetTexture() const
{
	return Texture;
}

UMaterialInstanceDynamic* ULatentStageComponent::BindToMesh(UPrimitiveComponent* Mesh, int32 ElementIndex, FName TextureParameter)
{
	if (Mesh == nullptr)
	{
		UE_LOG(LogLatentStage, Error, TEXT("BindToMesh: Mesh: null: a mesh component expected"));
		return nullptr;
	}
	UMaterialInstanceDynamic* Material = Mesh->CreateDynamicMaterialInstance(ElementIndex);
	if (Material == nullptr)
	{
		UE_LOG(LogLatentStage, Error, TEXT("BindToMesh: ElementIndex: %d: %s has no material there"), ElementIndex, *Mesh->GetName());
		return nullptr;
	}
	if (Texture != nullptr)
	{
		Material->SetTextureParameterValue(TextureParameter, Texture);
	}
	// Remembered, so that a recreated texture is set on it too (EnsureTexture).
	Bindings.Emplace(TWeakObjectPtr<UMaterialInstanceDynamic>(Material), TextureParameter);
	return Material;
}

void ULatentStageComponent::SetCamera(UCameraComponent* InCamera)
{
	CameraInUse = InCamera;
}

void ULatentStageComponent::Reconnect()
{
	if (HasBegunPlay())
	{
		StartSession();
	}
}

bool ULatentStageComponent::SaveWorld(const FString& SnapshotName, FString& SavedName)
{
	SavedName.Reset();
	if (!Runtime.IsValid() || !Runtime->IsStreaming())
	{
		UE_LOG(LogLatentStage, Error, TEXT("SaveWorld: no open session (ConnectionState must be Open)"));
		return false;
	}
	RefreshStats();
	char Name[256] = {};
	uint64_t Bytes = 0;  // the header's type (uint64 differs from uint64_t on Linux)
	const ls_status Status = ls_world_save(Runtime->Link->GetClient(), TCHAR_TO_UTF8(*ActiveWorldId), TCHAR_TO_UTF8(*SnapshotName), Name,
		sizeof(Name), &Bytes);
	if (Status != LS_OK)
	{
		StatusMessage = FString::Printf(TEXT("SaveWorld: %s"), *LatentStageLastError(Status));
		UE_LOG(LogLatentStage, Error, TEXT("%s"), *StatusMessage);
		return false;
	}
	SavedName = UTF8_TO_TCHAR(Name);
	UE_LOG(LogLatentStage, Log, TEXT("world %s saved as snapshot %s (%llu bytes)"), *ActiveWorldId, *SavedName, uint64(Bytes));
	return true;
}

bool ULatentStageComponent::LoadWorld(const FString& SnapshotName)
{
	if (!Runtime.IsValid() || !Runtime->IsStreaming())
	{
		UE_LOG(LogLatentStage, Error, TEXT("LoadWorld: no open session (ConnectionState must be Open)"));
		return false;
	}
	ls_world_info LoadedWorld;
	const ls_status Status =
		ls_world_load(Runtime->Link->GetClient(), TCHAR_TO_UTF8(*SnapshotName), TCHAR_TO_UTF8(*SnapshotName), &LoadedWorld);
	if (Status != LS_OK)
	{
		StatusMessage = FString::Printf(TEXT("LoadWorld: %s"), *LatentStageLastError(Status));
		UE_LOG(LogLatentStage, Error, TEXT("%s"), *StatusMessage);
		return false;
	}
	WorldMode = ELatentStageWorldMode::ExistingWorld;
	WorldId = UTF8_TO_TCHAR(LoadedWorld.world_id);
	UE_LOG(LogLatentStage, Log, TEXT("snapshot %s loaded as world %s: reattaching"), *SnapshotName, *WorldId);
	StartSession();
	return true;
}
