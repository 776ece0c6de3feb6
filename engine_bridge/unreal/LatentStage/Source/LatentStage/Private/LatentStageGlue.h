// LatentStage Unreal plug-in: the engine-free glue between Unreal values and the C ABI.
//
// Everything here is plain C++17 over latentstage.h, with no Unreal type, so that it compiles and
// runs outside the engine: tests/engine_bridge/test_unreal_plugin.py builds
// engine_bridge/unreal/tests/glue_check.cpp against this header with g++ and runs it. The Unreal
// side (LatentStageComponent.cpp) reads the engine values and hands them over as doubles.
//
// No protocol logic lives here (that is the native library's): only filling the C structs, copying
// frame rows into a staging buffer, and the bookkeeping of which staging buffers the render thread
// still reads.
//
// Units: positions in Unreal centimetres, angles in degrees (FRotator pitch, yaw, roll), lens in
// millimetres, sizes in pixels. Poses are NEVER sent as a matrix: an Unreal FMatrix uses row
// vectors, so copying it in memory order sends the transpose, which for a rotation is still a
// valid rotation and would be accepted silently.
#pragma once

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "latentstage/latentstage.h"

namespace latentstage_glue {

// Bytes per pixel of the raw encodings the plug-in uploads (BGRA8, RGBA8).
constexpr uint32_t kBytesPerPixel = 4;
// Upper bound on staging buffers (the component uses 3: one being written, up to two in flight).
constexpr uint32_t kMaxStagingSlots = 8;

// A CineCamera lens: focal length and filmback, all in millimetres.
struct Filmback {
  double focal_length_mm = 0.0;   // UCineCameraComponent::CurrentFocalLength
  double sensor_width_mm = 0.0;   // Filmback.SensorWidth
  double sensor_height_mm = 0.0;  // Filmback.SensorHeight
  double offset_x_mm = 0.0;       // Filmback.SensorHorizontalOffset (0 where the engine lacks it)
  double offset_y_mm = 0.0;       // Filmback.SensorVerticalOffset (0 where the engine lacks it)
};

inline bool IsPositiveFinite(double value) { return std::isfinite(value) && value > 0.0; }

// Fills `lens` as LS_LENS_PHYSICAL (focal length and sensor, mm). Returns false and leaves `lens`
// untouched when the focal length or a sensor side is not a positive finite number, or an offset
// is not finite.
inline bool FillPhysicalLens(const Filmback& filmback, ls_lens* lens) {
  if (lens == nullptr || !IsPositiveFinite(filmback.focal_length_mm) ||
      !IsPositiveFinite(filmback.sensor_width_mm) || !IsPositiveFinite(filmback.sensor_height_mm) ||
      !std::isfinite(filmback.offset_x_mm) || !std::isfinite(filmback.offset_y_mm)) {
    return false;
  }
  std::memset(lens, 0, sizeof(*lens));
  lens->kind = LS_LENS_PHYSICAL;
  lens->focal_length_mm = filmback.focal_length_mm;
  lens->sensor_width_mm = filmback.sensor_width_mm;
  lens->sensor_height_mm = filmback.sensor_height_mm;
  lens->offset_x = filmback.offset_x_mm;
  lens->offset_y = filmback.offset_y_mm;
  return true;
}

// Fills `lens` as a horizontal field of view in degrees, (0, 180): UCameraComponent::FieldOfView
// is horizontal. Used only for a plain (non-cine) camera. Returns false and leaves `lens` untouched
// outside that range.
inline bool FillHorizontalFovLens(double fov_deg, ls_lens* lens) {
  if (lens == nullptr || !std::isfinite(fov_deg) || fov_deg <= 0.0 || fov_deg >= 180.0) {
    return false;
  }
  std::memset(lens, 0, sizeof(*lens));
  lens->kind = LS_LENS_FOV;
  lens->fov_deg = fov_deg;
  lens->fov_axis = 1;  // horizontal
  return true;
}

// Fills a pose that ls_pose_init already initialised: Unreal world location in centimetres and an
// FRotator in degrees. The lens is left as it is (fill pose->lens separately).
inline void FillUnrealRotatorPose(uint64_t frame_id, int64_t capture_time_ns,
                                  const double location_cm[3], double pitch_deg, double yaw_deg,
                                  double roll_deg, ls_pose* pose) {
  pose->frame_id = frame_id;
  pose->capture_time_ns = capture_time_ns;
  pose->position[0] = location_cm[0];
  pose->position[1] = location_cm[1];
  pose->position[2] = location_cm[2];
  pose->rotation_form = LS_ROTATION_ROTATOR;
  pose->rotator[0] = pitch_deg;
  pose->rotator[1] = yaw_deg;
  pose->rotator[2] = roll_deg;
}

// SMPTE timecode. The drop-frame flag is kept only at 30000/1001 and 60000/1001, the two rates
// where it exists; a zero rate marks the timecode invalid.
inline void FillTimecode(uint32_t hours, uint32_t minutes, uint32_t seconds, uint32_t frames,
                         uint32_t rate_num, uint32_t rate_den, bool drop_frame, ls_timecode* tc) {
  std::memset(tc, 0, sizeof(*tc));
  if (rate_num == 0 || rate_den == 0) {
    return;
  }
  tc->valid = 1;
  tc->hours = hours;
  tc->minutes = minutes;
  tc->seconds = seconds;
  tc->frames = frames;
  tc->rate_num = rate_num;
  tc->rate_den = rate_den;
  const bool ntsc = rate_den == 1001 && (rate_num == 30000 || rate_num == 60000);
  tc->drop_frame = (drop_frame && ntsc) ? 1 : 0;
}

// What the component asks the native library for: connection and session settings, copied from
// the component's UPROPERTYs on the game thread and read by a worker thread. The strings are
// UTF-8; the ls_* option structs point into them, so this object must outlive the call.
struct SessionSettings {
  std::string target;          // "host:port"
  std::string token;           // bearer token; "" = none
  bool use_tls = false;        // TLS to the server
  std::string tls_roots_pem;   // PEM roots; "" = the system's
  uint32_t timeout_ms = 5000;  // connect and unary-call deadline, milliseconds
  std::string world_id;        // attach to this world; "" = not
  std::string tracked_camera;  // watch this tracked camera (no poses sent); "" = not
  int32_t new_world_kind = LS_WORLD_EMPTY;  // ls_world_kind when neither id nor camera is set
  uint64_t new_world_seed = 0;              // procedural seed of a new world
  bool keep_new_world = false;              // keep the new world after the session
  uint32_t width = 1280;                    // output size, pixels
  uint32_t height = 720;
  int32_t encoding = LS_ENCODING_RAW_BGRA8;  // ls_encoding: BGRA8 (PF_B8G8R8A8) or RGBA8
  double target_fps = 30.0;                  // frame budget 1/fps; 0 = none
  uint32_t sampler_steps = 0;                // 1..4; 0 = the model's default
  uint64_t noise_seed = 0;                   // generator noise seed
  int32_t pacing = LS_PACING_REALTIME;       // ls_pacing
  int32_t prediction = -1;                   // -1 default, 0 off, 1 on
  double display_latency_ms = 0.0;           // the display pipeline's latency, ms
  uint32_t frame_buffers = 3;                // native frame ring size, 2..16
  std::string client_name = "latentstage-unreal";  // for server logs
};

inline const char* OrNull(const std::string& text) { return text.empty() ? nullptr : text.c_str(); }

// Fills connect options that ls_connect_options_init already initialised.
inline void FillConnectOptions(const SessionSettings& settings, ls_connect_options* options) {
  options->target = settings.target.c_str();
  options->token = OrNull(settings.token);
  options->use_tls = settings.use_tls ? 1 : 0;
  options->tls_roots_pem = OrNull(settings.tls_roots_pem);
  options->timeout_ms = settings.timeout_ms;
}

// Fills session options that ls_session_options_init already initialised. Unreal specifics are
// fixed here: poses in the Unreal convention, rows top-down (an Unreal texture's first row is its
// top row, so bottom_up = 0), and no session lens (every pose carries the camera's).
inline void FillSessionOptions(const SessionSettings& settings, ls_session_options* options) {
  options->world_id = OrNull(settings.world_id);
  options->tracked_camera = OrNull(settings.tracked_camera);
  options->new_world_kind = settings.new_world_kind;
  options->new_world_seed = settings.new_world_seed;
  options->new_world_keep = settings.keep_new_world ? 1 : 0;
  options->width = settings.width;
  options->height = settings.height;
  options->encoding = settings.encoding;
  options->bottom_up = 0;
  options->convention = LS_CONVENTION_UNREAL;
  options->lens.kind = LS_LENS_NONE;
  options->target_fps = settings.target_fps;
  options->sampler_steps = settings.sampler_steps;
  options->seed = settings.noise_seed;
  options->pacing = settings.pacing;
  options->prediction = settings.prediction;
  options->display_latency_ms = settings.display_latency_ms;
  options->client_name = OrNull(settings.client_name);
  options->frame_buffers = settings.frame_buffers;
  options->reconnect_timeout_ms = 0;  // LatentStageLink reopens a DISCONNECTED session itself
}

// Why a frame could not be copied into a staging buffer.
enum class CopyResult {
  kOk,
  kWrongEncoding,     // not the encoding the texture was created for
  kWrongSize,         // not the texture's width and height
  kBadStride,         // stride shorter than a row
  kShortFrame,        // fewer bytes than stride * height says
  kSmallDestination,  // the staging buffer is smaller than width * height * 4
};

inline const char* CopyResultName(CopyResult result) {
  switch (result) {
    case CopyResult::kOk: return "ok";
    case CopyResult::kWrongEncoding: return "frame encoding differs from the texture's";
    case CopyResult::kWrongSize: return "frame size differs from the texture's";
    case CopyResult::kBadStride: return "frame stride is shorter than a row";
    case CopyResult::kShortFrame: return "frame holds fewer bytes than stride * height";
    case CopyResult::kSmallDestination: return "staging buffer is smaller than the frame";
  }
  return "unknown";
}

// Copies a raw 4-byte-per-pixel frame into a tightly packed, top-down destination of
// width * height * 4 bytes. Rows `stride` bytes apart are repacked; a bottom-up frame (which an
// Unreal session never asks for) is flipped, so the destination is always top-down.
inline CopyResult CopyFrameRows(const ls_frame& frame, int32_t expected_encoding, uint32_t width,
                                uint32_t height, uint8_t* destination, size_t destination_size) {
  if (frame.encoding != expected_encoding) {
    return CopyResult::kWrongEncoding;
  }
  if (frame.width != width || frame.height != height || width == 0 || height == 0) {
    return CopyResult::kWrongSize;
  }
  const size_t row_bytes = static_cast<size_t>(width) * kBytesPerPixel;
  const size_t stride = frame.stride;
  if (stride < row_bytes) {
    return CopyResult::kBadStride;
  }
  if (frame.pixels == nullptr || frame.size_bytes < stride * (height - 1) + row_bytes) {
    return CopyResult::kShortFrame;
  }
  if (destination == nullptr || destination_size < row_bytes * height) {
    return CopyResult::kSmallDestination;
  }
  if (stride == row_bytes && frame.bottom_up == 0) {
    std::memcpy(destination, frame.pixels, row_bytes * height);
    return CopyResult::kOk;
  }
  for (uint32_t row = 0; row < height; ++row) {
    const uint32_t source_row = frame.bottom_up != 0 ? height - 1 - row : row;
    std::memcpy(destination + row_bytes * row, frame.pixels + stride * source_row, row_bytes);
  }
  return CopyResult::kOk;
}

// Whether a failed connect, open or reopen is worth retrying after a delay (the server may come
// back, or free a session slot). Wrong tokens, bad settings, unknown worlds and other protocol
// revisions are not: they need a person.
inline bool IsRetryable(ls_status status) {
  switch (status) {
    case LS_CANCELLED:
    case LS_DEADLINE_EXCEEDED:
    case LS_RESOURCE_EXHAUSTED:
    case LS_UNAVAILABLE:
    case LS_TIMEOUT:
    case LS_DISCONNECTED:
    case LS_CLOSED:
      return true;
    default:
      return false;
  }
}

// Exponential backoff between reconnect attempts, seconds: initial, 2x, 4x... capped at maximum.
class Backoff {
 public:
  Backoff(double initial_s, double maximum_s)
      : initial_s_(initial_s > 0.0 ? initial_s : 0.5),
        maximum_s_(maximum_s > initial_s_ ? maximum_s : initial_s_),
        next_s_(initial_s_) {}
  // The delay before the next attempt; each call doubles the following one, up to the maximum.
  double Next() {
    const double delay = next_s_;
    next_s_ = next_s_ * 2.0 < maximum_s_ ? next_s_ * 2.0 : maximum_s_;
    return delay;
  }
  void Reset() { next_s_ = initial_s_; }

 private:
  double initial_s_;
  double maximum_s_;
  double next_s_;
};

// Which staging buffers the render thread may still read. The game thread acquires a free slot,
// fills its buffer and enqueues the texture update; the update's cleanup callback, on the render
// thread, releases the slot once the copy is done. A slot is never written while in flight, and no
// buffer is ever reallocated: when every slot is in flight the frame is skipped (and counted).
class StagingSlots {
 public:
  explicit StagingSlots(uint32_t count)
      : count_(count == 0 ? 1 : (count > kMaxStagingSlots ? kMaxStagingSlots : count)) {
    for (auto& flag : busy_) {
      flag.store(false, std::memory_order_relaxed);
    }
  }
  uint32_t Count() const { return count_; }
  // Game thread: a free slot, marked in flight, round robin; -1 when every slot is in flight.
  int32_t Acquire() {
    for (uint32_t step = 0; step < count_; ++step) {
      const uint32_t slot = (next_ + step) % count_;
      bool expected = false;
      if (busy_[slot].compare_exchange_strong(expected, true, std::memory_order_acquire)) {
        next_ = (slot + 1) % count_;
        return static_cast<int32_t>(slot);
      }
    }
    return -1;
  }
  // Any thread (the render thread's cleanup): the copy from `slot` is done. False for a slot that
  // is out of range or was not in flight.
  bool Release(int32_t slot) {
    if (slot < 0 || static_cast<uint32_t>(slot) >= count_) {
      return false;
    }
    return busy_[slot].exchange(false, std::memory_order_release);
  }
  uint32_t InFlight() const {
    uint32_t in_flight = 0;
    for (uint32_t slot = 0; slot < count_; ++slot) {
      in_flight += busy_[slot].load(std::memory_order_acquire) ? 1u : 0u;
    }
    return in_flight;
  }

 private:
  std::atomic<bool> busy_[kMaxStagingSlots];
  uint32_t count_;
  uint32_t next_ = 0;  // game thread only
};

}  // namespace latentstage_glue
