#include "frame_ring.h"

#include <chrono>
#include <unordered_map>

#include "convert.h"

namespace ls {

FrameRing::FrameRing(uint32_t slots) : slots_(slots) {
  for (Slot& s : slots_) s.buf.msg = std::make_unique<wire::SessionResponseView>();
  spare_.msg = std::make_unique<wire::SessionResponseView>();
}

size_t FrameRing::spare_capacity() const { return spare_.msg->frame().image().data().capacity(); }

void FrameRing::publish(int64_t received_ns, size_t capacity_before) {
  std::lock_guard<std::mutex> lock(mu_);
  // Count what this frame cost in buffers: a first fill, or a pixel buffer that grew.
  if (!spare_.warm) {
    spare_.warm = true;
    ++allocations_;
  } else if (spare_capacity() != capacity_before) {
    ++allocations_;
  }
  int target = -1;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].state == SlotState::kFree) {
      target = static_cast<int>(i);
      break;
    }
  }
  if (target < 0) {  // no free slot: replace the newest unacquired frame (latest wins)
    target = ready_;
  } else if (ready_ >= 0) {  // a free slot, but the previous frame was never picked up
    slots_[ready_].state = SlotState::kFree;
  }
  if (ready_ >= 0) ++dropped_;
  // acquired_ <= slots - 1, so a free or ready slot always exists.
  Slot& slot = slots_[target];
  std::swap(slot.buf, spare_);
  frame_from_wire(slot.buf.msg->frame(), received_ns, &slot.frame);
  slot.state = SlotState::kReady;
  ready_ = target;
  ++received_;
  cv_.notify_all();
}

void FrameRing::set_state(ls_session_state state, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = state;
  if (!why.empty()) end_message_ = why;
  cv_.notify_all();
}

std::string FrameRing::end_message() {
  std::lock_guard<std::mutex> lock(mu_);
  return end_message_;
}

ls_session_state FrameRing::state() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

ls_session_state FrameRing::wait_opened(uint32_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return state_ != LS_SESSION_OPENING; });
  return state_;
}

bool FrameRing::wait_ended(uint32_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    return state_ == LS_SESSION_DISCONNECTED || state_ == LS_SESSION_CLOSED;
  });
}

ls_status FrameRing::acquire(uint32_t timeout_ms, const ls_frame** out, int* slot) {
  std::unique_lock<std::mutex> lock(mu_);
  if (acquired_ + 1 >= slots_.size()) {
    return fail(LS_BUSY, format("session: %u frames acquired, at most frame_buffers - 1 = %zu "
                                "at once: release one first",
                                acquired_, slots_.size() - 1));
  }
  auto ended = [&] {
    return state_ == LS_SESSION_DISCONNECTED || state_ == LS_SESSION_CLOSED;
  };
  if (timeout_ms > 0) {  // a poll (an engine tick without a new frame) never waits
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [&] { return ready_ >= 0 || ended(); });
  }
  if (ready_ < 0) {
    if (state_ == LS_SESSION_DISCONNECTED) {
      return fail(LS_DISCONNECTED, "session: disconnected (" + end_message_ +
                                       "): reopen it with ls_session_reopen");
    }
    if (state_ == LS_SESSION_CLOSED) return fail(LS_CLOSED, "session: closed (" + end_message_ + ")");
    // Not an error, and the common case of a poll: a fixed message, nothing formatted.
    return fail(LS_TIMEOUT, timeout_ms == 0 ? "session: no new frame (poll)"
                                            : format("session: no frame within %u ms",
                                                     timeout_ms));
  }
  if (acquired_ + 1 >= slots_.size()) {  // another thread acquired meanwhile
    return fail(LS_BUSY, format("session: %u frames acquired, at most frame_buffers - 1 = %zu "
                                "at once: release one first",
                                acquired_, slots_.size() - 1));
  }
  Slot& s = slots_[ready_];
  s.state = SlotState::kAcquired;
  *slot = ready_;
  *out = &s.frame;
  ready_ = -1;
  ++acquired_;
  return LS_OK;
}

void FrameRing::release(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  slots_[slot].state = SlotState::kFree;
  --acquired_;
}

uint64_t FrameRing::frames_received() {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

uint64_t FrameRing::frames_dropped() {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

uint64_t FrameRing::allocations() {
  std::lock_guard<std::mutex> lock(mu_);
  return allocations_;
}

// ----- the acquired-frame registry ---------------------------------------------------------
namespace {

struct Acquired {
  uintptr_t session;                 // the handle it was acquired through
  std::shared_ptr<FrameRing> ring;   // keeps the buffers alive until release
  int slot;
};

struct AcquiredRegistry {
  std::mutex mu;
  std::unordered_map<const ls_frame*, Acquired> frames;
};

AcquiredRegistry& acquired_registry() {
  static AcquiredRegistry* registry = new AcquiredRegistry;  // never destroyed (exit-safe)
  return *registry;
}

}  // namespace

void register_acquired(const ls_frame* frame, uintptr_t session,
                       const std::shared_ptr<FrameRing>& ring, int slot) {
  AcquiredRegistry& r = acquired_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.frames[frame] = Acquired{session, ring, slot};
}

ls_status release_acquired(uintptr_t session, const ls_frame* frame) {
  Acquired entry;
  {
    AcquiredRegistry& r = acquired_registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.frames.find(frame);
    if (it == r.frames.end()) {
      return invalid("frame", format("%p", static_cast<const void*>(frame)),
                     "a frame acquired and not yet released (released twice, or not from "
                     "ls_session_acquire_frame)");
    }
    if (it->second.session != session) {
      return invalid("session", format("%p", reinterpret_cast<void*>(session)),
                     format("the session the frame was acquired from (%p)",
                            reinterpret_cast<void*>(it->second.session)));
    }
    entry = std::move(it->second);
    r.frames.erase(it);
  }
  entry.ring->release(entry.slot);
  return LS_OK;  // the ring is freed here if its session is gone and this was its last frame
}

}  // namespace ls
