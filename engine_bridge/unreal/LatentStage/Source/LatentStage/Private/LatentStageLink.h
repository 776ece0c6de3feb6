// LatentStage Unreal plug-in: one component's native client and session, and the worker jobs that
// connect, open and reopen them off the game thread.
//
// Connecting and opening wait on the network (up to the connect timeout), so they run on a
// thread-pool worker; the game thread only makes the library's non-blocking calls (state, submit,
// acquire with timeout 0, release, stats). The link is shared between the game thread and at most
// one job; whoever drops the last reference closes the session and destroys the client, so a
// component destroyed while a job runs neither waits for it nor leaks.
#pragma once

#include <atomic>

#include "CoreMinimal.h"
#include "LatentStageGlue.h"

/** What a worker job does. */
enum class ELatentStageJob : uint8
{
	/** Connect the client if there is none, then open a session. */
	Open,
	/** ls_session_reopen after LS_SESSION_DISCONNECTED: a new stream, attached to the same world. */
	Reopen,
};

/**
 * Who may touch the handles: the game thread while Idle, Ready or Failed; the worker while
 * Working. The worker publishes Ready or Failed with release order, the game thread reads the phase
 * with acquire order, so the handles and the error it wrote are visible before the phase is.
 */
enum class ELatentStageLinkPhase : int32
{
	Idle,
	Working,
	Ready,
	Failed,
};

using FLatentStageSettingsRef = TSharedRef<const latentstage_glue::SessionSettings, ESPMode::ThreadSafe>;

class FLatentStageLink
{
public:
	FLatentStageLink() = default;
	FLatentStageLink(const FLatentStageLink&) = delete;
	FLatentStageLink& operator=(const FLatentStageLink&) = delete;
	/** Closes the session (its reader joined) and destroys the client, on whichever thread. */
	~FLatentStageLink();

	/** Starts a job on a thread-pool worker (the phase becomes Working). Game thread; not while Working. */
	static void Launch(const TSharedRef<FLatentStageLink, ESPMode::ThreadSafe>& Link, ELatentStageJob Job,
		const FLatentStageSettingsRef& Settings);

	ELatentStageLinkPhase GetPhase() const { return static_cast<ELatentStageLinkPhase>(Phase.load(std::memory_order_acquire)); }

	/** Game thread, after Failed: acknowledge it (the phase becomes Idle, ready for the next job). */
	void AcknowledgeFailure() { SetPhase(ELatentStageLinkPhase::Idle); }

	/** Game thread, while Ready: stop using the session (a reconnect follows). */
	void Suspend() { SetPhase(ELatentStageLinkPhase::Idle); }

	/** Game thread, not while Working: close the session; the client stays for the next Open. */
	void CloseSession();

	/** Any thread: a pending Open job stops before it opens a session. */
	void Cancel() { bCancelled.store(true); }

	/** The handles: the game thread uses them only while Ready. */
	ls_client* GetClient() const { return Client; }
	ls_session* GetSession() const { return Session; }

	/** The last job's status and message (ls_status_name: ls_last_error), valid once Ready or Failed. */
	ls_status GetLastStatus() const { return LastStatus; }
	const FString& GetLastError() const { return LastError; }

private:
	void Run(ELatentStageJob Job, const latentstage_glue::SessionSettings& Settings);
	/** Records the outcome, then publishes the phase (release). Worker thread. */
	void Finish(ls_status Status, const TCHAR* Step);
	void SetPhase(ELatentStageLinkPhase NewPhase) { Phase.store(static_cast<int32>(NewPhase), std::memory_order_release); }

	ls_client* Client = nullptr;    // owned; created by the first Open job
	ls_session* Session = nullptr;  // owned; created by an Open job, reused by Reopen
	std::atomic<int32> Phase{static_cast<int32>(ELatentStageLinkPhase::Idle)};
	std::atomic<bool> bCancelled{false};
	ls_status LastStatus = LS_OK;
	FString LastError;
};

using FLatentStageLinkRef = TSharedRef<FLatentStageLink, ESPMode::ThreadSafe>;
using FLatentStageLinkPtr = TSharedPtr<FLatentStageLink, ESPMode::ThreadSafe>;
