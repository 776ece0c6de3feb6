// LatentStage Unreal plug-in: log category (`Log LogLatentStage Verbose` in the console for more).
#pragma once

#include "CoreMinimal.h"

DECLARE_LOG_CATEGORY_EXTERN(LogLatentStage, Log, All);
