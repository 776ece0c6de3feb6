// LatentStage Unreal plug-in: the link's worker jobs (see LatentStageLink.h).
#include "LatentStageLink.h"

#include "Async/Async.h"
#include "LatentStageLog.h"
#include "LatentStageModule.h"

FLatentStageLink::~FLatentStageLink()
{
	// Both calls are safe on null; close waits (bounded by the client's timeout) for the reader.
	ls_session_close(Session);
	Session = nullptr;
	ls_client_destroy(Client);
	Client = nullptr;
}

void FLatentStageLink::Launch(const FLatentStageLinkRef& Link, ELatentStageJob Job, const FLatentStageSettingsRef& Settings)
{
	check(Link->GetPhase() != ELatentStageLinkPhase::Working);
	Link->SetPhase(ELatentStageLinkPhase::Working);
	FLatentStageModule::BeginLibraryJob();
	FLatentStageLinkPtr JobLink = Link;
	TSharedPtr<const latentstage_glue::SessionSettings, ESPMode::ThreadSafe> JobSettings = Settings;
	// A pool thread, not the task graph: the job blocks on the network for up to the timeout.
	(void)Async(EAsyncExecution::ThreadPool, [JobLink, JobSettings, Job]() mutable
	{
		JobLink->Run(Job, *JobSettings);
		// Drop the references before the job counts as ended: if the component is gone, this is
		// the last one, and the link's destructor still calls into the library.
		JobLink.Reset();
		JobSettings.Reset();
		FLatentStageModule::EndLibraryJob();
	});
}

void FLatentStageLink::CloseSession()
{
	check(GetPhase() != ELatentStageLinkPhase::Working);
	ls_session_close(Session);
	Session = nullptr;
	SetPhase(ELatentStageLinkPhase::Idle);
}

void FLatentStageLink::Run(ELatentStageJob Job, const latentstage_glue::SessionSettings& Settings)
{
	if (Job == ELatentStageJob::Reopen && Session != nullptr)
	{
		Finish(ls_session_reopen(Session), TEXT("reopen"));
		return;
	}
	if (Client == nullptr)
	{
		ls_connect_options ConnectOptions;
		ls_connect_options_init(&ConnectOptions);
		latentstage_glue::FillConnectOptions(Settings, &ConnectOptions);
		ls_client* NewClient = nullptr;
		const ls_status Status = ls_client_connect(&ConnectOptions, &NewClient);
		if (Status != LS_OK)
		{
			Finish(Status, TEXT("connect"));
			return;
		}
		Client = NewClient;
	}
	if (bCancelled.load())
	{
		Finish(LS_CANCELLED, TEXT("open"));
		return;
	}
	ls_session_options SessionOptions;
	ls_session_options_init(&SessionOptions);
	latentstage_glue::FillSessionOptions(Settings, &SessionOptions);
	ls_session* NewSession = nullptr;
	const ls_status Status = ls_session_open(Client, &SessionOptions, &NewSession);
	if (Status == LS_OK)
	{
		Session = NewSession;
	}
	Finish(Status, TEXT("open"));
}

void FLatentStageLink::Finish(ls_status Status, const TCHAR* Step)
{
	LastStatus = Status;
	if (Status == LS_OK)
	{
		LastError.Reset();
		SetPhase(ELatentStageLinkPhase::Ready);
		return;
	}
	// ls_last_error() is thread-local: read it here, on the thread that made the call.
	const FString Detail = Status == LS_CANCELLED ? FString(TEXT("cancelled")) : FString(UTF8_TO_TCHAR(ls_last_error()));
	LastError = FString::Printf(TEXT("%s: %s: %s"), Step, UTF8_TO_TCHAR(ls_status_name(Status)), *Detail);
	SetPhase(ELatentStageLinkPhase::Failed);
}
