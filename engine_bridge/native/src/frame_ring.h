// The reused ring of frame buffers of one session: latest frame wins, drops counted, no
// allocation per frame once warm.
//
// Each buffer is a wire::SessionResponseView that gRPC parses a whole message into; the
// frame's pixels are its image bytes, so the payload is copied once (from gRPC's receive
// slices into the buffer) and never again. The reader thread owns one spare buffer: it reads
// into it off-lock, then, for a frame, swaps it with a free slot, or with the slot holding the
// newest frame nobody acquired yet (that frame is dropped and counted). The consumer acquires
// the newest frame; at most `slots - 1` frames are acquired at once, so the reader always
// finds a slot.
//
// The ring outlives its session while frames are acquired (shared ownership through the
// acquired-frame registry), so a frame stays readable after ls_session_close or
// ls_client_destroy until it is released.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "errors.h"
#include "latentstage/latentstage.h"
#include "wire_view.pb.h"

namespace ls {

namespace wire = latentstage::native::wire;

// One receive buffer and what it has cost.
struct Buffer {
  std::unique_ptr<wire::SessionResponseView> msg;  // parsed in place, message after message
  bool warm = false;  // has held a frame (its sub-messages and pixel string exist)
};

class FrameRing {
 public:
  explicit FrameRing(uint32_t slots);

  // Reader side: the buffer to Read() into, and its pixel capacity before the read.
  Buffer& spare() { return spare_; }
  size_t spare_capacity() const;
  // Reader side, after a frame was read into spare(): publish it as the newest frame.
  // `capacity_before` is spare_capacity() before the read (to count buffer growth).
  void publish(int64_t received_ns, size_t capacity_before);

  // The session's state, kept here so that waiting consumers see it (and after close).
  // `why` (for DISCONNECTED / CLOSED) is what acquire reports once no frame is left.
  void set_state(ls_session_state state, const std::string& why = "");
  ls_session_state state();
  std::string end_message();
  // Block until the state is no longer OPENING, up to `timeout_ms`; returns the state.
  ls_session_state wait_opened(uint32_t timeout_ms);
  // Block until the state is DISCONNECTED or CLOSED, up to `timeout_ms`; true if it is.
  bool wait_ended(uint32_t timeout_ms);

  // Consumer side (see ls_session_acquire_frame). On LS_OK *slot is the acquired slot.
  ls_status acquire(uint32_t timeout_ms, const ls_frame** out, int* slot);
  // Give slot `slot` back (called through the acquired-frame registry).
  void release(int slot);

  uint64_t frames_received();
  uint64_t frames_dropped();
  uint64_t allocations();
  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }

 private:
  enum class SlotState { kFree, kReady, kAcquired };
  struct Slot {
    Buffer buf;            // the received message
    ls_frame frame{};      // its C view (pointers into buf.msg)
    SlotState state = SlotState::kFree;
  };

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;     // fixed size: frames point into it
  Buffer spare_;                // owned by the reader thread between publishes
  int ready_ = -1;              // slot of the newest unacquired frame, or -1
  uint32_t acquired_ = 0;       // slots acquired now
  ls_session_state state_ = LS_SESSION_OPENING;
  std::string end_message_;     // why the stream ended
  uint64_t received_ = 0;       // frames published
  uint64_t dropped_ = 0;        // frames replaced before anyone acquired them
  uint64_t allocations_ = 0;    // buffer first fills and pixel-buffer growths
};

// The acquired-frame registry: maps each acquired ls_frame* to its ring and slot, so that
// release works by pointer alone (after close, or with a stale session handle) and a double
// release is detected.
void register_acquired(const ls_frame* frame, uintptr_t session,
                       const std::shared_ptr<FrameRing>& ring, int slot);
ls_status release_acquired(uintptr_t session, const ls_frame* frame);

}  // namespace ls
