// Checks of the Unreal plug-in's engine-free glue (Source/LatentStage/Private/LatentStageGlue.h),
// built with g++ against latentstage.h and run by tests/engine_bridge/test_unreal_plugin.py.
// No Unreal Engine is needed and the native library is not linked: the glue only fills C structs
// and copies bytes. Prints one line per failed check and "glue_check: N checks passed" at the end;
// exits 1 on any failure.
#include <cstdio>
#include <cstring>
#include <vector>

#include "LatentStageGlue.h"

namespace {

int g_checks = 0;
int g_failures = 0;

void Check(bool condition, const char* what, int line) {
  ++g_checks;
  if (!condition) {
    ++g_failures;
    std::printf("FAIL line %d: %s\n", line, what);
  }
}
#define CHECK(condition) Check((condition), #condition, __LINE__)

// What ls_pose_init would leave, without linking the library: zeros and struct_size.
ls_pose FreshPose() {
  ls_pose pose;
  std::memset(&pose, 0, sizeof(pose));
  pose.struct_size = sizeof(pose);
  return pose;
}

void CheckPose() {
  ls_pose pose = FreshPose();
  const double location_cm[3] = {120.5, -40.0, 170.0};
  latentstage_glue::FillUnrealRotatorPose(42, 1000, location_cm, -10.0, 90.0, 5.0, &pose);
  CHECK(pose.frame_id == 42);
  CHECK(pose.capture_time_ns == 1000);
  CHECK(pose.position[0] == 120.5 && pose.position[1] == -40.0 && pose.position[2] == 170.0);
  CHECK(pose.rotation_form == LS_ROTATION_ROTATOR);
  CHECK(pose.rotator[0] == -10.0 && pose.rotator[1] == 90.0 && pose.rotator[2] == 5.0);
  // Never a matrix: the matrix field stays zero.
  bool matrix_zero = true;
  for (double value : pose.matrix) {
    matrix_zero = matrix_zero && value == 0.0;
  }
  CHECK(matrix_zero);
  CHECK(pose.struct_size == sizeof(ls_pose));
}

void CheckLens() {
  ls_lens lens;
  std::memset(&lens, 0, sizeof(lens));
  latentstage_glue::Filmback filmback;
  filmback.focal_length_mm = 35.0;
  filmback.sensor_width_mm = 36.0;
  filmback.sensor_height_mm = 20.25;
  filmback.offset_x_mm = 1.5;
  filmback.offset_y_mm = -0.5;
  CHECK(latentstage_glue::FillPhysicalLens(filmback, &lens));
  CHECK(lens.kind == LS_LENS_PHYSICAL);
  CHECK(lens.focal_length_mm == 35.0);
  CHECK(lens.sensor_width_mm == 36.0 && lens.sensor_height_mm == 20.25);
  CHECK(lens.offset_x == 1.5 && lens.offset_y == -0.5);

  // A zero focal length or sensor side is refused and the lens left as it was.
  latentstage_glue::Filmback bad = filmback;
  bad.focal_length_mm = 0.0;
  CHECK(!latentstage_glue::FillPhysicalLens(bad, &lens));
  CHECK(lens.focal_length_mm == 35.0);
  bad = filmback;
  bad.sensor_height_mm = -1.0;
  CHECK(!latentstage_glue::FillPhysicalLens(bad, &lens));
  bad = filmback;
  bad.offset_x_mm = std::nan("");
  CHECK(!latentstage_glue::FillPhysicalLens(bad, &lens));
  CHECK(!latentstage_glue::FillPhysicalLens(filmback, nullptr));

  CHECK(latentstage_glue::FillHorizontalFovLens(90.0, &lens));
  CHECK(lens.kind == LS_LENS_FOV && lens.fov_deg == 90.0 && lens.fov_axis == 1);
  CHECK(lens.focal_length_mm == 0.0);  // the physical fields were cleared
  CHECK(!latentstage_glue::FillHorizontalFovLens(180.0, &lens));
  CHECK(!latentstage_glue::FillHorizontalFovLens(0.0, &lens));
  CHECK(lens.fov_deg == 90.0);
}

void CheckTimecode() {
  ls_timecode tc;
  latentstage_glue::FillTimecode(1, 2, 3, 4, 30000, 1001, true, &tc);
  CHECK(tc.valid == 1 && tc.hours == 1 && tc.minutes == 2 && tc.seconds == 3 && tc.frames == 4);
  CHECK(tc.rate_num == 30000 && tc.rate_den == 1001 && tc.drop_frame == 1);
  latentstage_glue::FillTimecode(1, 2, 3, 4, 25, 1, true, &tc);  // no drop frame at 25 fps
  CHECK(tc.valid == 1 && tc.drop_frame == 0);
  latentstage_glue::FillTimecode(1, 2, 3, 4, 0, 1, false, &tc);  // no rate: invalid
  CHECK(tc.valid == 0 && tc.hours == 0);
}

void CheckOptions() {
  latentstage_glue::SessionSettings settings;
  settings.target = "127.0.0.1:50051";
  settings.world_id = "w-123";
  settings.width = 2880;
  settings.height = 1620;
  settings.target_fps = 25.0;
  settings.sampler_steps = 2;
  settings.pacing = LS_PACING_LOCKSTEP;

  ls_connect_options connect;
  std::memset(&connect, 0, sizeof(connect));
  latentstage_glue::FillConnectOptions(settings, &connect);
  CHECK(std::strcmp(connect.target, "127.0.0.1:50051") == 0);
  CHECK(connect.token == nullptr);  // "" means no token
  CHECK(connect.tls_roots_pem == nullptr && connect.use_tls == 0);
  CHECK(connect.timeout_ms == 5000);
  settings.token = "secret";
  latentstage_glue::FillConnectOptions(settings, &connect);
  CHECK(connect.token != nullptr && std::strcmp(connect.token, "secret") == 0);

  ls_session_options options;
  std::memset(&options, 0, sizeof(options));
  options.bottom_up = 1;  // whatever init left, Unreal rows are top-down
  options.lens.kind = LS_LENS_PHYSICAL;
  latentstage_glue::FillSessionOptions(settings, &options);
  CHECK(std::strcmp(options.world_id, "w-123") == 0);
  CHECK(options.tracked_camera == nullptr);
  CHECK(options.width == 2880 && options.height == 1620);
  CHECK(options.encoding == LS_ENCODING_RAW_BGRA8);
  CHECK(options.bottom_up == 0);
  CHECK(options.convention == LS_CONVENTION_UNREAL);
  CHECK(options.lens.kind == LS_LENS_NONE);
  CHECK(options.target_fps == 25.0 && options.sampler_steps == 2);
  CHECK(options.pacing == LS_PACING_LOCKSTEP && options.prediction == -1);
  CHECK(options.frame_buffers == 3);
  CHECK(std::strcmp(options.client_name, "latentstage-unreal") == 0);
}

ls_frame MakeFrame(const std::vector<uint8_t>& pixels, uint32_t width, uint32_t height,
                   uint32_t stride, int32_t bottom_up) {
  ls_frame frame;
  std::memset(&frame, 0, sizeof(frame));
  frame.pixels = pixels.data();
  frame.size_bytes = pixels.size();
  frame.width = width;
  frame.height = height;
  frame.stride = stride;
  frame.encoding = LS_ENCODING_RAW_BGRA8;
  frame.bottom_up = bottom_up;
  return frame;
}

void CheckCopy() {
  using latentstage_glue::CopyFrameRows;
  using latentstage_glue::CopyResult;
  // 3x2 frame with 4 bytes of row padding: stride 16, row 12. Byte value = row * 100 + column.
  const uint32_t width = 3, height = 2, stride = 16;
  std::vector<uint8_t> pixels(stride * height, 0xEE);
  for (uint32_t row = 0; row < height; ++row) {
    for (uint32_t col = 0; col < width * 4; ++col) {
      pixels[row * stride + col] = static_cast<uint8_t>(row * 100 + col);
    }
  }
  std::vector<uint8_t> out(width * height * 4, 0);
  ls_frame frame = MakeFrame(pixels, width, height, stride, 0);
  CHECK(CopyFrameRows(frame, LS_ENCODING_RAW_BGRA8, width, height, out.data(), out.size()) ==
        CopyResult::kOk);
  CHECK(out[0] == 0 && out[11] == 11);     // row 0 packed
  CHECK(out[12] == 100 && out[23] == 111); // row 1 follows without the padding
  bool no_padding = true;
  for (uint8_t value : out) {
    no_padding = no_padding && value != 0xEE;
  }
  CHECK(no_padding);

  // Bottom-up frames are flipped so the destination is top-down.
  frame = MakeFrame(pixels, width, height, stride, 1);
  CHECK(CopyFrameRows(frame, LS_ENCODING_RAW_BGRA8, width, height, out.data(), out.size()) ==
        CopyResult::kOk);
  CHECK(out[0] == 100 && out[12] == 0);

  // Tightly packed frames take the single-copy path and give the same bytes.
  std::vector<uint8_t> packed(width * height * 4);
  for (size_t i = 0; i < packed.size(); ++i) {
    packed[i] = static_cast<uint8_t>(i);
  }
  frame = MakeFrame(packed, width, height, width * 4, 0);
  CHECK(CopyFrameRows(frame, LS_ENCODING_RAW_BGRA8, width, height, out.data(), out.size()) ==
        CopyResult::kOk);
  CHECK(std::memcmp(out.data(), packed.data(), packed.size()) == 0);

  // Refusals, each naming its reason.
  CHECK(CopyFrameRows(frame, LS_ENCODING_RAW_RGBA8, width, height, out.data(), out.size()) ==
        CopyResult::kWrongEncoding);
  CHECK(CopyFrameRows(frame, LS_ENCODING_RAW_BGRA8, width + 1, height, out.data(), out.size()) ==
        CopyResult::kWrongSize);
  CHECK(CopyFrameRows(frame, LS_ENCODING_RAW_BGRA8, width, height, out.data(), out.size() - 1) ==
        CopyResult::kSmallDestination);
  ls_frame short_stride = frame;
  short_stride.stride = width * 4 - 1;
  CHECK(CopyFrameRows(short_stride, LS_ENCODING_RAW_BGRA8, width, height, out.data(),
                      out.size()) == CopyResult::kBadStride);
  ls_frame truncated = frame;
  truncated.size_bytes -= 1;
  CHECK(CopyFrameRows(truncated, LS_ENCODING_RAW_BGRA8, width, height, out.data(), out.size()) ==
        CopyResult::kShortFrame);
  CHECK(std::strcmp(latentstage_glue::CopyResultName(CopyResult::kShortFrame), "ok") != 0);
}

void CheckSlots() {
  latentstage_glue::StagingSlots slots(3);
  CHECK(slots.Count() == 3);
  const int32_t a = slots.Acquire();
  const int32_t b = slots.Acquire();
  const int32_t c = slots.Acquire();
  CHECK(a == 0 && b == 1 && c == 2);
  CHECK(slots.InFlight() == 3);
  CHECK(slots.Acquire() == -1);  // all in flight: the frame is skipped, nothing reallocated
  CHECK(slots.Release(b));
  CHECK(!slots.Release(b));      // a second release is refused
  CHECK(!slots.Release(7) && !slots.Release(-1));
  CHECK(slots.Acquire() == b);   // the freed slot comes back
  CHECK(slots.Release(a) && slots.Release(c));
  CHECK(slots.InFlight() == 1);
  latentstage_glue::StagingSlots clamped(100);
  CHECK(clamped.Count() == latentstage_glue::kMaxStagingSlots);
}

void CheckPolicy() {
  CHECK(latentstage_glue::IsRetryable(LS_UNAVAILABLE));
  CHECK(latentstage_glue::IsRetryable(LS_DISCONNECTED));
  CHECK(latentstage_glue::IsRetryable(LS_RESOURCE_EXHAUSTED));
  CHECK(!latentstage_glue::IsRetryable(LS_UNAUTHENTICATED));
  CHECK(!latentstage_glue::IsRetryable(LS_INVALID_ARGUMENT));
  CHECK(!latentstage_glue::IsRetryable(LS_NOT_FOUND));
  CHECK(!latentstage_glue::IsRetryable(LS_FAILED_PRECONDITION));

  latentstage_glue::Backoff backoff(0.5, 3.0);
  CHECK(backoff.Next() == 0.5);
  CHECK(backoff.Next() == 1.0);
  CHECK(backoff.Next() == 2.0);
  CHECK(backoff.Next() == 3.0);
  CHECK(backoff.Next() == 3.0);
  backoff.Reset();
  CHECK(backoff.Next() == 0.5);
}

}  // namespace

int main() {
  CheckPose();
  CheckLens();
  CheckTimecode();
  CheckOptions();
  CheckCopy();
  CheckSlots();
  CheckPolicy();
  if (g_failures != 0) {
    std::printf("glue_check: %d of %d checks failed\n", g_failures, g_checks);
    return 1;
  }
  std::printf("glue_check: %d checks passed\n", g_checks);
  return 0;
}
