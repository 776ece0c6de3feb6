#include "session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace ls {
namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* state_name(ls_session_state s) {
  switch (s) {
    case LS_SESSION_OPENING: return "LS_SESSION_OPENING";
    case LS_SESSION_OPEN: return "LS_SESSION_OPEN";
    case LS_SESSION_DISCONNECTED: return "LS_SESSION_DISCONNECTED";
    default: return "LS_SESSION_CLOSED";
  }
}

constexpr int32_t kEventSessionOpened = 1;    // EVENT_KIND_SESSION_OPENED
constexpr int32_t kEventSessionClosed = 8;    // EVENT_KIND_SESSION_CLOSED
constexpr int32_t kEventShuttingDown = 9;     // EVENT_KIND_SERVER_SHUTTING_DOWN

}  // namespace

SessionImpl::SessionImpl(std::shared_ptr<ClientImpl> client, const ls_session_options& o)
    : client_(std::move(client)), options_(o) {
  world_id_opt_ = o.world_id ? o.world_id : "";
  tracked_camera_opt_ = o.tracked_camera ? o.tracked_camera : "";
  client_name_opt_ = o.client_name ? o.client_name : "latentstage-native";
  options_.world_id = world_id_opt_.c_str();
  options_.tracked_camera = tracked_camera_opt_.c_str();
  options_.client_name = client_name_opt_.c_str();
  new_world_id_opt_ = o.new_world_id ? o.new_world_id : "";
  options_.new_world_id = new_world_id_opt_.c_str();
  if (options_.reconnect_timeout_ms > 0) {
    reconnector_ = std::thread(&SessionImpl::reconnector_main, this);
  }
  ring_ = std::make_shared<FrameRing>(o.frame_buffers);
#if defined(__GLIBC__)
  // gRPC receives a frame into many small slices and frees them once it is parsed. glibc trims
  // its heap whenever more than M_TRIM_THRESHOLD (128 KiB by default) is free at the top, so
  // every frame's slices would be page-faulted in afresh (measured: +0.8 ms CPU per 720p
  // frame). glibc raises that threshold to twice the size of any freed mmap'ed block (its
  // documented dynamic adjustment, mallopt(3)); a client that frees a frame per frame gets
  // that by accident, the ring never frees one. Free one frame-sized block here instead.
  size_t frame_bytes = size_t{o.width} * o.height * 4 + 65536;
  void* volatile block = std::malloc(frame_bytes);  // volatile: not elided by the compiler
  std::free(block);
#endif
}

SessionImpl::~SessionImpl() { kill(); }

ls_status SessionImpl::open() {
  std::lock_guard<std::mutex> life(life_mu_);
  return start_stream("", false);
}

ls_status SessionImpl::start_stream(const std::string& attach_world_id, bool reopening) {
  // Connect (or reconnect after a loss) first, so that an unreachable server is
  // LS_UNAVAILABLE within the timeout rather than a stream waiting for it.
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::milliseconds(client_->timeout_ms());
  if (!client_->channel()->WaitForConnected(deadline)) {
    return fail(LS_UNAVAILABLE, format("session: %s: no connection to the server within %u ms",
                                       client_->target().c_str(), client_->timeout_ms()));
  }
  ring_->set_state(LS_SESSION_OPENING);
  auto s = std::make_unique<Stream>();
  s->reopening = reopening;
  client_->authorize(&s->ctx);
  s->rw.reset(grpc::internal::ClientReaderWriterFactory<
              pb::SessionRequest, wire::SessionResponseView>::Create(client_->channel(),
                                                                     client_->session_method(),
                                                                     &s->ctx));
  pb::SessionRequest open;
  open_to_proto(options_, attach_world_id, open.mutable_open());
  // The world this stream concerns travels in a header: a proxy routes the stream by it.
  ClientImpl::route(&s->ctx, open.open().has_new_world() ? open.open().new_world().world_id()
                                                         : open.open().world_id());
  s->rw->Write(open);  // on failure the reader finds the stream's status
  Stream* raw = s.get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_len_ = 0;  // poses from before a reconnect are stale
    closed_by_server_ = false;
    end_status_ = LS_OK;
    end_message_.clear();
    stream_ = std::move(s);
  }
  raw->reader = std::thread(&SessionImpl::reader_main, this, raw);
  raw->writer = std::thread(&SessionImpl::writer_main, this, raw);
  ls_session_state state = ring_->wait_opened(client_->timeout_ms());
  if (state == LS_SESSION_OPEN) return LS_OK;
  if (state == LS_SESSION_OPENING) {
    end_stream(false);
    return fail(LS_DEADLINE_EXCEEDED,
                format("session: the server did not open it within %u ms (the client's "
                       "timeout_ms)",
                       client_->timeout_ms()));
  }
  end_stream(false);
  std::lock_guard<std::mutex> lock(mu_);
  return fail(end_status_ == LS_OK ? LS_UNAVAILABLE : end_status_, end_message_);
}

void SessionImpl::end_stream(bool graceful) {
  Stream* s = stream_.get();
  if (s == nullptr) return;
  if (graceful && ring_->state() == LS_SESSION_OPEN) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      s->close_requested = true;
      cv_.notify_all();
    }
    if (!ring_->wait_ended(client_->timeout_ms())) cancel(s);
  } else {
    cancel(s);
  }
  if (s->reader.joinable()) s->reader.join();
  if (s->writer.joinable()) s->writer.join();
  std::lock_guard<std::mutex> lock(mu_);
  stream_.reset();
}

ls_status SessionImpl::reopen() {
  std::lock_guard<std::mutex> life(life_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return fail(LS_CANCELLED, "session: closing: not reopened");
  }
  ls_session_state state = ring_->state();
  if (state != LS_SESSION_DISCONNECTED) {
    return invalid("session.state", state_name(state),
                   "LS_SESSION_DISCONNECTED (ls_session_reopen follows a broken stream)");
  }
  end_stream(false);
  std::string world;
  {
    std::lock_guard<std::mutex> lock(mu_);
    world = tracked_camera_opt_.empty() ? world_id_ : "";
  }
  ls_status st = start_stream(world, true);
  if (st == LS_OK) {
    std::lock_guard<std::mutex> lock(mu_);
    ++reconnects_;
  }
  return st;
}

void SessionImpl::stop_reconnector() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    rc_cv_.notify_all();
  }
  if (reconnector_.joinable() && reconnector_.get_id() != std::this_thread::get_id()) {
    reconnector_.join();
  }
}

void SessionImpl::reconnector_main() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    rc_cv_.wait(lock, [&] { return stopping_ || disconnects_ > disconnects_handled_; });
    if (stopping_) return;
    disconnects_handled_ = disconnects_;
    auto start = std::chrono::steady_clock::now();
    auto limit = std::chrono::milliseconds(options_.reconnect_timeout_ms);
    uint32_t delay_ms = 50;
    for (;;) {
      lock.unlock();
      ls_status st = ring_->state() == LS_SESSION_DISCONNECTED ? reopen() : LS_OK;
      lock.lock();
      if (st == LS_OK || stopping_) break;
      if (std::chrono::steady_clock::now() - start > limit) {  // give up: stays DISCONNECTED
        disconnects_handled_ = disconnects_;
        break;
      }
      rc_cv_.wait_for(lock, std::chrono::milliseconds(delay_ms), [&] { return stopping_; });
      if (stopping_) return;
      delay_ms = std::min<uint32_t>(2 * delay_ms, 2000);
    }
  }
}

void SessionImpl::close() {
  stop_reconnector();
  std::lock_guard<std::mutex> life(life_mu_);
  end_stream(true);
  ring_->set_state(LS_SESSION_CLOSED, "ls_session_close");
}

void SessionImpl::cancel(Stream* s) {
  std::lock_guard<std::mutex> lock(mu_);
  s->cancelled = true;
  s->ctx.TryCancel();
}

void SessionImpl::kill() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    rc_cv_.notify_all();
    if (stream_) {  // unblocks an open() waiting under life_mu_
      stream_->cancelled = true;
      stream_->ctx.TryCancel();
    }
  }
  stop_reconnector();
  std::lock_guard<std::mutex> life(life_mu_);
  end_stream(false);
  if (ring_->state() != LS_SESSION_CLOSED) ring_->set_state(LS_SESSION_CLOSED,
                                                            "the client was destroyed");
}

// ----- threads ----------------------------------------------------------------------------
void SessionImpl::reader_main(Stream* s) {
  for (;;) {
    size_t capacity = ring_->spare_capacity();
    wire::SessionResponseView* msg = ring_->spare().msg.get();
    if (!s->rw->Read(msg)) break;
    int64_t now = steady_ns();
    if (msg->has_frame()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        note_frame(msg->frame().frame_id(), now);
        frames_dropped_server_ = msg->frame().frames_dropped();
        poses_skipped_server_ = msg->frame().poses_skipped();
      }
      ring_->publish(now, capacity);
    } else if (msg->has_event()) {
      handle_event(msg->event());
    } else if (msg->has_error()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++server_errors_;
      last_server_error_ = msg->error().message();
    }
  }
  {  // the stream is over: the writer must stop before Finish()
    std::unique_lock<std::mutex> lock(mu_);
    s->stop_writer = true;
    cv_.notify_all();
    if (!cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return s->writer_done; })) {
      s->ctx.TryCancel();  // a Write stuck on flow control
      cv_.wait(lock, [&] { return s->writer_done; });
    }
  }
  grpc::Status status = s->rw->Finish();
  ls_session_state was = ring_->state();
  ls_session_state next;
  std::string why;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (was == LS_SESSION_OPENING) {  // refused (the server's words) or never answered
      end_status_ = status.ok() ? LS_UNAVAILABLE : status_of(status.error_code());
      end_message_ = status.ok() ? "session: the stream ended before the server opened it"
                                 : status.error_message();
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        end_message_ = "session: " + client_->target() + ": " + end_message_;
      }
      next = s->reopening ? LS_SESSION_DISCONNECTED : LS_SESSION_CLOSED;
    } else if (s->close_requested || s->cancelled || closed_by_server_) {
      end_message_ = s->close_requested ? "ls_session_close"
                     : s->cancelled     ? "cancelled by this client"
                                        : "closed by the server";
      next = LS_SESSION_CLOSED;
    } else {
      end_status_ = status.ok() ? LS_UNAVAILABLE : status_of(status.error_code());
      end_message_ = status.ok() ? "the server ended the stream"
                                 : format("the stream broke: %s (gRPC status %d)",
                                          status.error_message().c_str(),
                                          static_cast<int>(status.error_code()));
      next = LS_SESSION_DISCONNECTED;
    }
    why = end_message_;
  }
  ring_->set_state(next, why);
  if (next == LS_SESSION_DISCONNECTED) {
    std::lock_guard<std::mutex> lock(mu_);
    ++disconnects_;
    rc_cv_.notify_all();
  }
}

void SessionImpl::writer_main(Stream* s) {
  pb::SessionRequest request;  // reused: its Pose keeps its sub-messages from pose to pose
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return s->stop_writer || s->close_requested || queue_len_ > 0; });
    if (s->stop_writer) break;
    if (s->close_requested) {
      lock.unlock();
      pb::SessionRequest close;
      close.mutable_close();
      s->rw->Write(close);
      s->rw->WritesDone();
      lock.lock();
      break;
    }
    ls_pose pose = queue_[queue_head_];
    queue_head_ = (queue_head_ + 1) % kLockstepQueue;
    --queue_len_;
    lock.unlock();
    pose_to_proto(pose, request.mutable_pose());
    bool ok = s->rw->Write(request);
    lock.lock();
    if (!ok) break;  // the stream is over; the reader reports why
    ++poses_sent_;
  }
  s->writer_done = true;
  cv_.notify_all();
}

void SessionImpl::handle_event(const wire::Event& event) {
  if (event.kind() == kEventSessionOpened) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      session_id_ = event.session_id();
      world_id_ = event.world_id();
    }
    ring_->set_state(LS_SESSION_OPEN);
  } else if (event.kind() == kEventSessionClosed) {
    std::lock_guard<std::mutex> lock(mu_);
    closed_by_server_ = true;
  } else if (event.kind() == kEventShuttingDown) {
    std::lock_guard<std::mutex> lock(mu_);
    last_server_error_ = event.message();  // the stream ends next: DISCONNECTED
  }
}

void SessionImpl::note_frame(uint64_t frame_id, int64_t received_ns) {
  uint32_t n = std::min(sent_next_, kSentRemembered);
  for (uint32_t i = 1; i <= n; ++i) {
    Sent& sent = sent_[(sent_next_ - i) % kSentRemembered];
    if (sent.frame_id == frame_id && sent.submit_ns != 0) {
      latency_ms_[latency_count_ % kLatencySamples] = (received_ns - sent.submit_ns) / 1e6;
      ++latency_count_;
      sent.submit_ns = 0;  // one sample per pose
      return;
    }
  }
}

// ----- calls --------------------------------------------------------------------------------
ls_status SessionImpl::submit(const ls_pose& pose) {
  if (!tracked_camera_opt_.empty()) {
    return fail(LS_FAILED_PRECONDITION,
                "session: got one watching tracked camera '" + tracked_camera_opt_ +
                    "', expected a session that sends poses (its poses come from the tracker)");
  }
  if (ls_status st = check_pose(pose, options_.convention, "pose")) return st;
  ls_session_state state = ring_->state();
  if (state == LS_SESSION_DISCONNECTED || state == LS_SESSION_OPENING) {
    return fail(LS_DISCONNECTED, "session: disconnected (" + ring_->end_message() +
                                     "): reopen it with ls_session_reopen");
  }
  if (state == LS_SESSION_CLOSED) {
    return fail(LS_CLOSED, "session: closed (" + ring_->end_message() + ")");
  }
  int64_t now = steady_ns();
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.pacing == LS_PACING_REALTIME && queue_len_ == 1) {
    ++poses_replaced_;  // latest pose wins
    queue_len_ = 0;
  }
  if (queue_len_ == kLockstepQueue) {
    return fail(LS_BUSY, format("session: %u LOCKSTEP poses wait to be sent (the server renders "
                                "each in order): submit again later",
                                kLockstepQueue));
  }
  ls_pose& slot = queue_[(queue_head_ + queue_len_) % kLockstepQueue];
  slot = pose;
  if (slot.capture_time_ns == 0) slot.capture_time_ns = now;
  ++queue_len_;
  sent_[sent_next_ % kSentRemembered] = Sent{pose.frame_id, now};
  ++sent_next_;
  ++poses_submitted_;
  cv_.notify_all();
  return LS_OK;
}

ls_status SessionImpl::acquire(uint32_t timeout_ms, const ls_frame** out, int* slot) {
  return ring_->acquire(timeout_ms, out, slot);
}

ls_status SessionImpl::stats(ls_session_stats* out) {
  std::memset(out, 0, sizeof *out);
  out->state = ring_->state();
  out->frames_received = ring_->frames_received();
  out->frames_dropped = ring_->frames_dropped();
  out->frame_allocations = ring_->allocations();
  double samples[kLatencySamples];
  uint32_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out->poses_submitted = poses_submitted_;
    out->poses_sent = poses_sent_;
    out->poses_replaced = poses_replaced_;
    out->frames_dropped_server = frames_dropped_server_;
    out->poses_skipped_server = poses_skipped_server_;
    out->server_errors = server_errors_;
    out->reconnects = reconnects_;
    copy_text(last_server_error_, out->last_server_error, sizeof out->last_server_error);
    copy_text(session_id_, out->session_id, sizeof out->session_id);
    copy_text(world_id_, out->world_id, sizeof out->world_id);
    n = std::min(latency_count_, kLatencySamples);
    std::copy(latency_ms_, latency_ms_ + n, samples);
  }
  if (n > 0) {  // nearest-rank percentiles
    std::sort(samples, samples + n);
    auto rank = [&](double q) {
      uint32_t k = static_cast<uint32_t>(std::ceil(q * n));
      return samples[k == 0 ? 0 : std::min(k, n) - 1];
    };
    out->latency_p50_ms = rank(0.50);
    out->latency_p95_ms = rank(0.95);
    out->latency_p99_ms = rank(0.99);
  }
  return LS_OK;
}

}  // namespace ls
