// One camera session: a Session stream, its reader and writer threads, the pose queue and the
// frame ring.
//
// Threads: the reader reads every server message into the ring's spare buffer and publishes
// frames (latest wins); the writer sends poses from the queue, so ls_session_submit_* never
// blocks on the network (REALTIME keeps only the newest unsent pose, LOCKSTEP queues up to 64).
// Lifecycle calls (open, reopen, close, kill) are serialised by life_mu_; submit, acquire and
// stats may run on any thread at any time.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "client.h"
#include "frame_ring.h"

namespace ls {

class SessionImpl {
 public:
  static constexpr uint32_t kLockstepQueue = 64;  // LOCKSTEP poses waiting to be sent
  static constexpr uint32_t kLatencySamples = 256;
  static constexpr uint32_t kSentRemembered = 512;  // frame ids whose submit time is kept

  SessionImpl(std::shared_ptr<ClientImpl> client, const ls_session_options& options);
  ~SessionImpl();

  // Open the stream and wait (up to the client's timeout) for EVENT_KIND_SESSION_OPENED.
  ls_status open();
  // After DISCONNECTED: a new stream attached to the same world.
  ls_status reopen();
  // Graceful: send Close, wait up to the client's timeout for the stream to end, then cancel.
  void close();
  // At once: cancel the stream (ls_client_destroy).
  void kill();

  ls_session_state state() { return ring_->state(); }
  ls_status submit(const ls_pose& pose);
  ls_status acquire(uint32_t timeout_ms, const ls_frame** out, int* slot);
  ls_status stats(ls_session_stats* out);
  const std::shared_ptr<FrameRing>& ring() const { return ring_; }

 private:
  // One stream's call objects and threads.
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<pb::SessionRequest, wire::SessionResponseView>> rw;
    std::thread reader;
    std::thread writer;
    bool writer_done = false;  // guarded by SessionImpl::mu_
    bool stop_writer = false;  // guarded by mu_: the stream ended, the writer must exit
    bool close_requested = false;  // guarded by mu_: send Close and WritesDone
    bool reopening = false;    // a failed open leaves the session DISCONNECTED, not CLOSED
    bool cancelled = false;    // guarded by mu_: we cancelled it (close, destroy): CLOSED
  };

  ls_status start_stream(const std::string& attach_world_id, bool reopening);  // life_mu_
  void end_stream(bool graceful);                               // life_mu_ held
  void cancel(Stream* s);  // TryCancel, and remember that we did (the end is CLOSED)
  void reader_main(Stream* s);
  void writer_main(Stream* s);
  void handle_event(const wire::Event& event);
  // With options_.reconnect_timeout_ms: reopens a DISCONNECTED session by itself (backoff).
  void reconnector_main();
  void stop_reconnector();
  void note_frame(uint64_t frame_id, int64_t received_ns);  // latency sample, mu_ held

  std::shared_ptr<ClientImpl> client_;
  ls_session_options options_;      // with its strings pointing into the copies below
  std::string world_id_opt_, tracked_camera_opt_, client_name_opt_, new_world_id_opt_;
  std::thread reconnector_;         // runs reconnector_main (auto-reconnect on)
  std::condition_variable rc_cv_;   // wakes the reconnector (with mu_)
  bool stopping_ = false;           // guarded by mu_: close or kill: no more reconnects
  uint64_t disconnects_ = 0;        // guarded by mu_: streams that broke so far
  uint64_t disconnects_handled_ = 0;  // guarded by mu_: of which the reconnector took up
  std::shared_ptr<FrameRing> ring_;
  std::mutex life_mu_;              // open / reopen / close / kill
  std::unique_ptr<Stream> stream_;  // the current stream (null when none); set under both
                                    // life_mu_ and mu_, so kill() can cancel it under mu_

  std::mutex mu_;                   // everything below
  std::condition_variable cv_;      // wakes the writer; signals writer_done
  ls_pose queue_[kLockstepQueue];   // pose queue (REALTIME uses one entry)
  uint32_t queue_head_ = 0, queue_len_ = 0;
  struct Sent {
    uint64_t frame_id;
    int64_t submit_ns;
  } sent_[kSentRemembered] = {};
  uint32_t sent_next_ = 0;
  double latency_ms_[kLatencySamples] = {};
  uint32_t latency_count_ = 0;  // samples stored so far (ring of kLatencySamples)
  uint64_t poses_submitted_ = 0, poses_sent_ = 0, poses_replaced_ = 0;
  uint64_t server_errors_ = 0, reconnects_ = 0;
  uint64_t frames_dropped_server_ = 0, poses_skipped_server_ = 0;
  bool closed_by_server_ = false;   // EVENT_KIND_SESSION_CLOSED seen on the current stream
  std::string last_server_error_, session_id_, world_id_;
  std::string end_message_;         // why the last stream ended (or failed to open)
  ls_status end_status_ = LS_OK;    // its status (a failed open returns it)
};

}  // namespace ls
