// The native client against a real `latentstage serve --model bundled --device cpu` that the
// test starts on a free loopback port (LATENTSTAGE_SERVER; LATENTSTAGE_PYTHON and
// LATENTSTAGE_REFERENCE_SCRIPT for the Python client's reference frames).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "latentstage/latentstage.h"
#include "support.h"

namespace {

using Clock = std::chrono::steady_clock;

lstest::ServerProcess* g_server = nullptr;

class SharedServer : public ::testing::Environment {
 public:
  void SetUp() override { g_server = new lstest::ServerProcess("shared"); }
  void TearDown() override {
    delete g_server;
    g_server = nullptr;
  }
};

#define REQUIRE_SERVER(server)                                                  \
  ASSERT_TRUE((server) != nullptr && (server)->ok())                            \
      << "no latentstage server: " << ((server) ? (server)->error() : "not started")

#define LS_ASSERT_OK(call) ASSERT_EQ((call), LS_OK) << #call << ": " << ls_last_error()
#define LS_EXPECT_OK(call) EXPECT_EQ((call), LS_OK) << #call << ": " << ls_last_error()

ls_client* Connect(const std::string& target, uint32_t timeout_ms = 30000) {
  ls_connect_options o;
  ls_connect_options_init(&o);
  o.target = target.c_str();
  o.timeout_ms = timeout_ms;
  ls_client* c = nullptr;
  EXPECT_EQ(ls_client_connect(&o, &c), LS_OK) << ls_last_error();
  return c;
}

// Unreal convention, 90 degrees horizontal, a new outdoor world of seed 7.
ls_session_options Options(uint32_t w, uint32_t h, ls_pacing pacing) {
  ls_session_options o;
  ls_session_options_init(&o);
  o.width = w;
  o.height = h;
  o.pacing = pacing;
  o.new_world_kind = LS_WORLD_OUTDOOR;
  o.new_world_seed = 7;
  o.lens.kind = LS_LENS_FOV;
  o.lens.fov_deg = 90;
  o.lens.fov_axis = 1;
  o.client_name = "native-test";
  return o;
}

// Acquire frames until the one echoing `frame_id` (older ones are released).
const ls_frame* FrameFor(ls_session* s, uint64_t frame_id, uint32_t timeout_ms = 120000) {
  auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < until) {
    const ls_frame* f = nullptr;
    ls_status st = ls_session_acquire_frame(s, 1000, &f);
    if (st == LS_TIMEOUT) continue;
    if (st != LS_OK) {
      ADD_FAILURE() << "acquire for frame " << frame_id << ": " << ls_status_name(st) << ": "
                    << ls_last_error();
      return nullptr;
    }
    if (f->frame_id == frame_id) return f;
    ls_session_release_frame(s, f);
  }
  ADD_FAILURE() << "no frame " << frame_id << " within " << timeout_ms << " ms";
  return nullptr;
}

bool WaitState(ls_session* s, ls_session_state want, int timeout_ms) {
  auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < until) {
    if (ls_session_get_state(s) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ls_session_get_state(s) == want;
}

const double kLoc[3] = {0, 0, 170};
const double kRot[3] = {-5, 30, 0};

// ----- server info and worlds ---------------------------------------------------------------
TEST(Server, InfoGivesTheLimitsTheChannelUses) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_server_info info;
  LS_ASSERT_OK(ls_client_server_info(c, &info));
  EXPECT_EQ(info.protocol_revision, 2u);
  EXPECT_EQ(info.max_width, 3840u);
  EXPECT_EQ(info.max_height, 2160u);
  EXPECT_GE(info.max_send_bytes, 3840ull * 2160 * 4);  // a raw 4K frame fits
  EXPECT_EQ(info.latent_stride, 8u);
  EXPECT_STREQ(info.backend, "torch");
  EXPECT_GT(std::strlen(info.model_id), 0u);
  LS_EXPECT_OK(ls_client_destroy(c));
  EXPECT_EQ(ls_client_server_info(c, &info), LS_CLOSED);  // a destroyed handle
  EXPECT_NE(std::string(ls_last_error()).find("destroyed"), std::string::npos);
}

TEST(Server, WorldsCreateListSaveLoadDelete) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_world_info w, loaded;
  LS_ASSERT_OK(ls_world_create_procedural(c, 11, LS_WORLD_INDOOR, "native-test", &w));
  EXPECT_STREQ(w.name, "native-test");
  EXPECT_NE(std::string(w.source).find("seed=11"), std::string::npos) << w.source;
  EXPECT_EQ(w.keep, 1);
  ls_world_info list[32];
  size_t count = 0;
  LS_ASSERT_OK(ls_world_list(c, list, 32, &count));
  bool found = false;
  for (size_t i = 0; i < std::min<size_t>(count, 32); ++i) {
    found |= std::string(list[i].world_id) == w.world_id;
  }
  EXPECT_TRUE(found) << w.world_id << " not among " << count << " worlds";
  LS_ASSERT_OK(ls_world_list(c, nullptr, 0, &count));  // count only
  EXPECT_GE(count, 1u);
  char name[128];
  uint64_t bytes = 0;
  LS_ASSERT_OK(ls_world_save(c, w.world_id, "native-test-snap", name, sizeof name, &bytes));
  EXPECT_STREQ(name, "native-test-snap");
  EXPECT_GT(bytes, 0u);
  LS_ASSERT_OK(ls_world_load(c, name, "reloaded", &loaded));
  EXPECT_STRNE(loaded.world_id, w.world_id);
  LS_EXPECT_OK(ls_world_delete(c, loaded.world_id, 0));
  LS_EXPECT_OK(ls_world_delete(c, w.world_id, 0));
  // The server's message comes back verbatim, naming the world.
  EXPECT_EQ(ls_world_delete(c, w.world_id, 0), LS_NOT_FOUND);
  EXPECT_NE(std::string(ls_last_error()).find(w.world_id), std::string::npos) << ls_last_error();
  EXPECT_EQ(ls_world_load(c, "no-such-snapshot", nullptr, &loaded), LS_NOT_FOUND);
  EXPECT_EQ(ls_world_create_procedural(c, 1, LS_WORLD_EMPTY, nullptr, &w), LS_INVALID_ARGUMENT);
  LS_EXPECT_OK(ls_client_destroy(c));
}

TEST(Server, OpenRefusalsCarryTheServersWords) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_LOCKSTEP);
  o.world_id = "no-such-world";
  ls_session* s = nullptr;
  EXPECT_EQ(ls_session_open(c, &o, &s), LS_NOT_FOUND);
  EXPECT_NE(std::string(ls_last_error()).find("no-such-world"), std::string::npos)
      << ls_last_error();
  EXPECT_EQ(s, nullptr);
  o = Options(5000, 64, LS_PACING_LOCKSTEP);
  EXPECT_EQ(ls_session_open(c, &o, &s), LS_INVALID_ARGUMENT);
  EXPECT_STREQ(ls_last_error(), "session_options.width: got 5000, expected 1..3840 pixels (the "
                                "server's max_width)");
  LS_EXPECT_OK(ls_client_destroy(c));
}

// ----- the 300-pose loop against the Python client ----------------------------------------
struct RefFrame {
  uint64_t frame_id;
  int64_t capture_ns;
  uint32_t tc[4];
  double loc[3], rot[3], quat[4], c2w_frame[16], c2w_python[16];
  std::vector<uint8_t> pixels;
};

bool ReadReference(const std::string& path, uint32_t* w, uint32_t* h,
                   std::vector<RefFrame>* frames) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  uint32_t n;
  if (!in.read(magic, 8) || std::memcmp(magic, "LSREF1\0\0", 8) != 0) return false;
  in.read(reinterpret_cast<char*>(&n), 4).read(reinterpret_cast<char*>(w), 4);
  in.read(reinterpret_cast<char*>(h), 4);
  frames->resize(n);
  for (RefFrame& f : *frames) {
    in.read(reinterpret_cast<char*>(&f.frame_id), 8).read(reinterpret_cast<char*>(&f.capture_ns), 8);
    in.read(reinterpret_cast<char*>(f.tc), 16).read(reinterpret_cast<char*>(f.loc), 24);
    in.read(reinterpret_cast<char*>(f.rot), 24).read(reinterpret_cast<char*>(f.quat), 32);
    in.read(reinterpret_cast<char*>(f.c2w_frame), 128);
    in.read(reinterpret_cast<char*>(f.c2w_python), 128);
    f.pixels.resize(size_t{*w} * *h * 4);
    in.read(reinterpret_cast<char*>(f.pixels.data()), static_cast<std::streamsize>(f.pixels.size()));
  }
  return static_cast<bool>(in);
}

TEST(UnrealLoop, ThreeHundredPosesMatchThePythonClient) {
  REQUIRE_SERVER(g_server);
  std::string python = lstest::env_path("LATENTSTAGE_PYTHON");
  std::string script = lstest::env_path("LATENTSTAGE_REFERENCE_SCRIPT");
  ASSERT_FALSE(python.empty() || script.empty())
      << "LATENTSTAGE_PYTHON and LATENTSTAGE_REFERENCE_SCRIPT must be set (ctest sets them)";
  const int kFrames = 300;
  std::string ref_path = "unreal-loop-reference-" + std::to_string(getpid()) + ".bin";
  std::string out;
  int rc = lstest::run_command({python, script, "--target", g_server->target(), "--out",
                                ref_path, "--frames", std::to_string(kFrames), "--size", "64x64"},
                               &out);
  ASSERT_EQ(rc, 0) << "python reference failed:\n" << out;
  uint32_t w = 0, h = 0;
  std::vector<RefFrame> ref;
  ASSERT_TRUE(ReadReference(ref_path, &w, &h, &ref)) << "unreadable " << ref_path;
  ASSERT_EQ(ref.size(), static_cast<size_t>(kFrames));
  std::remove(ref_path.c_str());

  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(w, h, LS_PACING_LOCKSTEP);
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  int pixel_mismatches = 0;
  for (const RefFrame& r : ref) {
    ls_pose p;
    ls_pose_init(&p);
    p.frame_id = r.frame_id;
    p.capture_time_ns = r.capture_ns;
    p.timecode = ls_timecode{1, r.tc[0], r.tc[1], r.tc[2], r.tc[3], 25, 1, 0};
    std::memcpy(p.position, r.loc, sizeof r.loc);
    p.rotation_form = LS_ROTATION_ROTATOR;
    std::memcpy(p.rotator, r.rot, sizeof r.rot);
    LS_ASSERT_OK(ls_session_submit_pose(s, &p));
    const ls_frame* f = FrameFor(s, r.frame_id);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->capture_time_ns, r.capture_ns);
    EXPECT_EQ(f->timecode.valid, 1);
    EXPECT_EQ(f->timecode.seconds, r.tc[2]);
    EXPECT_EQ(f->timecode.frames, r.tc[3]);
    EXPECT_EQ(f->timecode.rate_num, 25u);
    ASSERT_EQ(f->width, w);
    ASSERT_EQ(f->height, h);
    ASSERT_EQ(f->stride, w * 4);
    ASSERT_EQ(f->encoding, LS_ENCODING_RAW_BGRA8);
    for (int i = 0; i < 16; ++i) {
      // The server renders what the Python client's pose gave, bit for bit, and that is the
      // Python conversion of the pose (to rounding).
      EXPECT_EQ(f->rendered_c2w[i], r.c2w_frame[i]) << "frame " << r.frame_id << " m[" << i << "]";
      EXPECT_NEAR(f->rendered_c2w[i], r.c2w_python[i], 1e-9) << "frame " << r.frame_id;
    }
    ASSERT_EQ(f->size_bytes, r.pixels.size());
    if (std::memcmp(f->pixels, r.pixels.data(), r.pixels.size()) != 0) ++pixel_mismatches;
    LS_ASSERT_OK(ls_session_release_frame(s, f));
  }
  EXPECT_EQ(pixel_mismatches, 0) << "raw BGRA8 frames must equal the Python client's exactly";
  ls_session_stats st;
  LS_ASSERT_OK(ls_session_get_stats(s, &st));
  EXPECT_EQ(st.frames_received, static_cast<uint64_t>(kFrames));
  EXPECT_EQ(st.frames_dropped, 0u);
  EXPECT_EQ(st.poses_sent, static_cast<uint64_t>(kFrames));
  EXPECT_GT(st.latency_p50_ms, 0.0);
  EXPECT_LE(st.latency_p50_ms, st.latency_p99_ms);
  EXPECT_LE(st.frame_allocations, static_cast<uint64_t>(o.frame_buffers + 1));
  LS_EXPECT_OK(ls_session_close(s));

  // The FQuat of each rotator renders the same camera (within the quaternion's rounding).
  o = Options(w, h, LS_PACING_LOCKSTEP);
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  for (int i = 0; i < kFrames; i += 37) {
    const RefFrame& r = ref[static_cast<size_t>(i)];
    LS_ASSERT_OK(ls_session_submit_unreal_quat(s, r.frame_id, r.capture_ns, r.loc, r.quat));
    const ls_frame* f = FrameFor(s, r.frame_id);
    ASSERT_NE(f, nullptr);
    for (int k = 0; k < 16; ++k) EXPECT_NEAR(f->rendered_c2w[k], r.c2w_python[k], 1e-9);
    LS_ASSERT_OK(ls_session_release_frame(s, f));
  }
  LS_EXPECT_OK(ls_session_close(s));
  LS_EXPECT_OK(ls_client_destroy(c));
}

// ----- pacing, sizes, errors ----------------------------------------------------------------
TEST(SlowConsumer, FramesAreDroppedAndCountedWithFlatMemory) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_REALTIME);
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  std::atomic<bool> stop{false};
  std::thread engine([&] {  // an engine ticking at ~200 Hz
    for (uint64_t id = 0; !stop; ++id) {
      double rot[3] = {-5, static_cast<double>(id % 360), 0};
      ls_session_submit_unreal(s, id, 0, kLoc, rot);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  uint64_t acquired = 0, allocations_mid = 0, rss_mid = 0;
  for (int i = 0; i < 40; ++i) {  // a consumer at 10 Hz for 4 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const ls_frame* f = nullptr;
    if (ls_session_acquire_frame(s, 0, &f) == LS_OK) {
      ++acquired;
      EXPECT_EQ(f->width, 64u);
      LS_EXPECT_OK(ls_session_release_frame(s, f));
    }
    if (i == 10) {
      ls_session_stats st;
      LS_ASSERT_OK(ls_session_get_stats(s, &st));
      allocations_mid = st.frame_allocations;
      rss_mid = lstest::rss_bytes();
    }
  }
  stop = true;
  engine.join();
  ls_session_stats st;
  LS_ASSERT_OK(ls_session_get_stats(s, &st));
  EXPECT_GT(st.frames_received, acquired + 20) << "the server should outrun a 10 Hz consumer";
  // Every frame received was either acquired, dropped, or is the one still waiting.
  EXPECT_GE(st.frames_dropped + acquired + 1, st.frames_received);
  EXPECT_LE(st.frames_dropped + acquired, st.frames_received);
  EXPECT_GT(st.frames_dropped, 0u);
  EXPECT_GT(st.poses_submitted, 400u);
  EXPECT_EQ(st.frame_allocations, allocations_mid) << "buffer allocations grew after warm-up";
  EXPECT_LE(st.frame_allocations, static_cast<uint64_t>(o.frame_buffers + 1));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  EXPECT_LT(lstest::rss_bytes(), rss_mid + (16u << 20)) << "resident memory grew by > 16 MiB";
#else
  (void)rss_mid;  // sanitizers keep freed memory in quarantine
#endif
  LS_EXPECT_OK(ls_session_close(s));
  LS_EXPECT_OK(ls_client_destroy(c));
}

void ExpectLargeFrame(ls_client* c, uint32_t w, uint32_t h) {
  ls_session_options o = Options(w, h, LS_PACING_LOCKSTEP);
  o.new_world_kind = LS_WORLD_EMPTY;
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  LS_ASSERT_OK(ls_session_submit_unreal(s, 1, 0, kLoc, kRot));
  const ls_frame* f = FrameFor(s, 1, 300000);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->width, w);
  EXPECT_EQ(f->height, h);
  EXPECT_EQ(f->stride, w * 4);
  EXPECT_EQ(f->size_bytes, size_t{w} * h * 4);
  EXPECT_EQ(f->encoding, LS_ENCODING_RAW_BGRA8);
  size_t opaque = 0;
  for (size_t i = 3; i < f->size_bytes; i += 4) opaque += f->pixels[i] == 255;
  EXPECT_EQ(opaque, size_t{w} * h) << "every alpha byte is 255";
  LS_EXPECT_OK(ls_session_release_frame(s, f));
  LS_EXPECT_OK(ls_session_close(s));
}

TEST(LargeFrames, Bgra8At1080pAnd4KArrive) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ExpectLargeFrame(c, 1920, 1080);
  ExpectLargeFrame(c, 3840, 2160);
  LS_EXPECT_OK(ls_client_destroy(c));
}

TEST(Sizes, NonMultipleOfEightComesBackExactlyAndBottomUpIsTheFlip) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  std::vector<uint8_t> top_down;
  for (int bottom_up = 0; bottom_up < 2; ++bottom_up) {
    ls_session_options o = Options(150, 83, LS_PACING_LOCKSTEP);
    o.bottom_up = bottom_up;
    ls_session* s = nullptr;
    LS_ASSERT_OK(ls_session_open(c, &o, &s));
    LS_ASSERT_OK(ls_session_submit_unreal(s, 5, 0, kLoc, kRot));
    const ls_frame* f = FrameFor(s, 5);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->width, 150u);
    EXPECT_EQ(f->height, 83u);
    EXPECT_EQ(f->stride, 600u);
    EXPECT_EQ(f->bottom_up, bottom_up);
    ASSERT_EQ(f->size_bytes, 600u * 83);
    if (!bottom_up) {
      top_down.assign(f->pixels, f->pixels + f->size_bytes);
    } else {
      int rows_equal = 0;
      for (int y = 0; y < 83; ++y) {
        rows_equal += std::memcmp(f->pixels + y * 600, top_down.data() + (82 - y) * 600, 600) == 0;
      }
      EXPECT_EQ(rows_equal, 83) << "bottom-up rows are the top-down rows reversed";
    }
    LS_EXPECT_OK(ls_session_release_frame(s, f));
    LS_EXPECT_OK(ls_session_close(s));
  }
  LS_EXPECT_OK(ls_client_destroy(c));
}

TEST(Errors, LocalPoseChecksAndServerErrorsVerbatim) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_LOCKSTEP);
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  const double m[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 170, 0, 0, 0, 1};
  EXPECT_EQ(ls_session_submit_matrix4(s, 1, 0, m), LS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ls_last_error()).find("pose.rotation_form: got LS_ROTATION_MATRIX"),
            std::string::npos) << ls_last_error();
  const double nan_loc[3] = {0, std::nan(""), 0};
  EXPECT_EQ(ls_session_submit_unreal(s, 1, 0, nan_loc, kRot), LS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ls_last_error()).find("pose.position: got [0, nan, 0]"),
            std::string::npos) << ls_last_error();
  const double q[4] = {0, 0, 0, 2};
  EXPECT_EQ(ls_session_submit_unreal_quat(s, 1, 0, kLoc, q), LS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ls_last_error()).find("a unit quaternion (|q| = 2.000000"),
            std::string::npos) << ls_last_error();
  // A lens the server finds implausible: its Error comes back verbatim, the stream goes on.
  ls_pose p;
  ls_pose_init(&p);
  p.frame_id = 2;
  std::memcpy(p.position, kLoc, sizeof kLoc);
  std::memcpy(p.rotator, kRot, sizeof kRot);
  p.lens.kind = LS_LENS_FOV;
  p.lens.fov_deg = 179;
  p.lens.fov_axis = 1;
  LS_ASSERT_OK(ls_session_submit_pose(s, &p));
  LS_ASSERT_OK(ls_session_submit_unreal(s, 3, 0, kLoc, kRot));
  const ls_frame* f = FrameFor(s, 3);
  ASSERT_NE(f, nullptr);
  LS_EXPECT_OK(ls_session_release_frame(s, f));
  ls_session_stats st;
  LS_ASSERT_OK(ls_session_get_stats(s, &st));
  EXPECT_EQ(st.server_errors, 1u);
  EXPECT_EQ(std::string(st.last_server_error).rfind("pose.lens", 0), 0u) << st.last_server_error;
  EXPECT_NE(std::string(st.last_server_error).find("expected"), std::string::npos);
  EXPECT_EQ(st.state, LS_SESSION_OPEN);
  EXPECT_EQ(ls_session_reopen(s), LS_INVALID_ARGUMENT);  // not disconnected
  EXPECT_NE(std::string(ls_last_error()).find("session.state: got LS_SESSION_OPEN"),
            std::string::npos);
  LS_EXPECT_OK(ls_session_close(s));
  LS_EXPECT_OK(ls_client_destroy(c));
}

// ----- ownership: release rules, close and destroy with frames out -------------------------
TEST(Ownership, AcquireLimitDoubleReleaseAndForeignSession) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_LOCKSTEP);
  o.frame_buffers = 2;  // one frame acquired at a time
  ls_session *s = nullptr, *other = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  LS_ASSERT_OK(ls_session_open(c, &o, &other));
  const ls_frame* none = nullptr;  // an engine tick with no new frame: a poll, not an error
  EXPECT_EQ(ls_session_acquire_frame(s, 0, &none), LS_TIMEOUT);
  EXPECT_EQ(none, nullptr);
  EXPECT_STREQ(ls_last_error(), "session: no new frame (poll)");
  LS_ASSERT_OK(ls_session_submit_unreal(s, 1, 0, kLoc, kRot));
  const ls_frame* f = FrameFor(s, 1);
  ASSERT_NE(f, nullptr);
  LS_ASSERT_OK(ls_session_submit_unreal(s, 2, 0, kLoc, kRot));
  const ls_frame* g = nullptr;
  EXPECT_EQ(ls_session_acquire_frame(s, 2000, &g), LS_BUSY);
  EXPECT_NE(std::string(ls_last_error()).find("frame_buffers - 1 = 1"), std::string::npos);
  EXPECT_EQ(ls_session_release_frame(other, f), LS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ls_last_error()).find("expected the session the frame was acquired"),
            std::string::npos) << ls_last_error();
  LS_EXPECT_OK(ls_session_release_frame(s, f));
  EXPECT_EQ(ls_session_release_frame(s, f), LS_INVALID_ARGUMENT);  // double release
  EXPECT_NE(std::string(ls_last_error()).find("released twice"), std::string::npos);
  g = FrameFor(s, 2);
  ASSERT_NE(g, nullptr);
  LS_EXPECT_OK(ls_session_release_frame(s, g));
  LS_EXPECT_OK(ls_session_close(other));
  LS_EXPECT_OK(ls_session_close(s));
  EXPECT_EQ(ls_session_close(s), LS_CLOSED);
  EXPECT_EQ(ls_session_submit_unreal(s, 3, 0, kLoc, kRot), LS_CLOSED);
  EXPECT_NE(std::string(ls_last_error()).find("closed"), std::string::npos);
  EXPECT_EQ(ls_session_get_state(s), LS_SESSION_CLOSED);
  LS_EXPECT_OK(ls_client_destroy(c));
}

TEST(Ownership, CloseWithAFrameOutKeepsItReadableUntilReleased) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(96, 64, LS_PACING_LOCKSTEP);
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  LS_ASSERT_OK(ls_session_submit_unreal(s, 1, 0, kLoc, kRot));
  const ls_frame* f = FrameFor(s, 1);
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> copy(f->pixels, f->pixels + f->size_bytes);
  LS_EXPECT_OK(ls_session_close(s));
  EXPECT_EQ(f->frame_id, 1u);
  EXPECT_EQ(std::memcmp(f->pixels, copy.data(), copy.size()), 0);
  LS_EXPECT_OK(ls_session_release_frame(s, f));  // allowed after close; frees the ring
  EXPECT_EQ(ls_session_release_frame(s, f), LS_INVALID_ARGUMENT);
  LS_EXPECT_OK(ls_client_destroy(c));
}

TEST(Ownership, DestroyingTheClientWithSessionsAndFramesOutNeitherCrashesNorHangs) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_LOCKSTEP);
  ls_session *a = nullptr, *b = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &a));
  o.pacing = LS_PACING_REALTIME;
  LS_ASSERT_OK(ls_session_open(c, &o, &b));
  LS_ASSERT_OK(ls_session_submit_unreal(a, 1, 0, kLoc, kRot));
  const ls_frame* f = FrameFor(a, 1);
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> copy(f->pixels, f->pixels + f->size_bytes);
  // A consumer blocked in acquire on b, and an engine submitting to b, while c is destroyed.
  std::atomic<ls_status> blocked{LS_OK};
  std::thread consumer([&] {
    const ls_frame* g = nullptr;
    ls_status st;
    do {
      st = ls_session_acquire_frame(b, 30000, &g);
      if (st == LS_OK) ls_session_release_frame(b, g);
    } while (st == LS_OK || st == LS_TIMEOUT);
    blocked = st;
  });
  std::atomic<bool> stop{false};
  std::thread engine([&] {
    for (uint64_t id = 0; !stop; ++id) {
      ls_session_submit_unreal(b, id, 0, kLoc, kRot);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto t0 = Clock::now();
  LS_EXPECT_OK(ls_client_destroy(c));
  double destroy_s = std::chrono::duration<double>(Clock::now() - t0).count();
  consumer.join();
  stop = true;
  engine.join();
  EXPECT_LT(destroy_s, 5.0) << "ls_client_destroy took " << destroy_s << " s";
  EXPECT_EQ(blocked.load(), LS_CLOSED);
  EXPECT_EQ(std::memcmp(f->pixels, copy.data(), copy.size()), 0) << "the acquired frame changed";
  EXPECT_EQ(ls_session_get_state(a), LS_SESSION_CLOSED);
  EXPECT_EQ(ls_session_submit_unreal(a, 2, 0, kLoc, kRot), LS_CLOSED);
  LS_EXPECT_OK(ls_session_release_frame(a, f));
  EXPECT_EQ(ls_session_close(a), LS_CLOSED);  // harmless after destroy
  EXPECT_EQ(ls_client_destroy(c), LS_CLOSED);
}

TEST(Threads, ConcurrentCallsOnOneSessionThenClose) {
  REQUIRE_SERVER(g_server);
  ls_client* c = Connect(g_server->target());
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_REALTIME);
  o.frame_buffers = 4;
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> frames{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t id = static_cast<uint64_t>(t); !stop; id += 2) {
        ls_session_submit_unreal(s, id, 0, kLoc, kRot);
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
    });
    threads.emplace_back([&] {
      while (!stop) {
        const ls_frame* f = nullptr;
        if (ls_session_acquire_frame(s, 50, &f) == LS_OK) {
          volatile uint8_t first = f->pixels[0];
          (void)first;
          ++frames;
          ls_session_release_frame(s, f);
        }
        ls_session_stats st;
        ls_session_get_stats(s, &st);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  LS_EXPECT_OK(ls_session_close(s));  // while the others still call
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_GT(frames.load(), 5u);
  LS_EXPECT_OK(ls_client_destroy(c));
}

// ----- a lost connection ----------------------------------------------------------------------
TEST(Disconnect, ACutConnectionIsDisconnectedAndReopensOnTheSameWorld) {
  REQUIRE_SERVER(g_server);
  lstest::TcpProxy proxy(g_server->port());
  ls_client* c = Connect(proxy.target(), 5000);
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_LOCKSTEP);
  o.new_world_keep = 1;  // the world outlives the broken stream
  o.reconnect_timeout_ms = 0;  // reopened by hand here (auto-reconnect: the next test)
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  LS_ASSERT_OK(ls_session_submit_unreal(s, 1, 0, kLoc, kRot));
  const ls_frame* f = FrameFor(s, 1);
  ASSERT_NE(f, nullptr);
  ls_session_stats before;
  LS_ASSERT_OK(ls_session_get_stats(s, &before));
  proxy.cut();
  ASSERT_TRUE(WaitState(s, LS_SESSION_DISCONNECTED, 10000))
      << "state " << ls_session_get_state(s);
  EXPECT_EQ(f->frame_id, 1u);  // still readable
  const ls_frame* g = nullptr;
  EXPECT_EQ(ls_session_acquire_frame(s, 100, &g), LS_DISCONNECTED);
  EXPECT_NE(std::string(ls_last_error()).find("reopen"), std::string::npos) << ls_last_error();
  EXPECT_EQ(ls_session_submit_unreal(s, 2, 0, kLoc, kRot), LS_DISCONNECTED);
  LS_ASSERT_OK(ls_session_reopen(s));
  EXPECT_EQ(ls_session_get_state(s), LS_SESSION_OPEN);
  LS_ASSERT_OK(ls_session_submit_unreal(s, 3, 0, kLoc, kRot));
  g = FrameFor(s, 3);
  ASSERT_NE(g, nullptr);
  ls_session_stats after;
  LS_ASSERT_OK(ls_session_get_stats(s, &after));
  EXPECT_EQ(after.reconnects, 1u);
  EXPECT_STREQ(after.world_id, before.world_id);
  EXPECT_STRNE(after.session_id, before.session_id);
  LS_EXPECT_OK(ls_session_release_frame(s, f));
  LS_EXPECT_OK(ls_session_release_frame(s, g));
  LS_EXPECT_OK(ls_session_close(s));
  LS_EXPECT_OK(ls_world_delete(c, after.world_id, 1));
  LS_EXPECT_OK(ls_client_destroy(c));
}

TEST(Disconnect, ACutConnectionReopensByItselfOnTheSameWorld) {
  REQUIRE_SERVER(g_server);
  lstest::TcpProxy proxy(g_server->port());
  ls_client* c = Connect(proxy.target(), 5000);
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_LOCKSTEP);
  EXPECT_EQ(o.reconnect_timeout_ms, 30000u);  // on by default
  o.new_world_keep = 1;
  o.new_world_id = "native-auto-reconnect";  // chosen by the client (routing by world)
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  LS_ASSERT_OK(ls_session_submit_unreal(s, 1, 0, kLoc, kRot));
  const ls_frame* f = FrameFor(s, 1);
  ASSERT_NE(f, nullptr);
  LS_EXPECT_OK(ls_session_release_frame(s, f));
  ls_session_stats before;
  LS_ASSERT_OK(ls_session_get_stats(s, &before));
  EXPECT_STREQ(before.world_id, "native-auto-reconnect");
  proxy.cut();
  // No ls_session_reopen: the library reopens the stream on the same world by itself.
  auto until = Clock::now() + std::chrono::seconds(20);
  ls_session_stats after{};
  while (Clock::now() < until) {
    LS_ASSERT_OK(ls_session_get_stats(s, &after));
    if (after.reconnects == 1 && after.state == LS_SESSION_OPEN) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(after.reconnects, 1u) << "state " << after.state;
  ASSERT_EQ(after.state, LS_SESSION_OPEN);
  EXPECT_STREQ(after.world_id, before.world_id);
  EXPECT_STRNE(after.session_id, before.session_id);
  LS_ASSERT_OK(ls_session_submit_unreal(s, 2, 0, kLoc, kRot));
  const ls_frame* g = FrameFor(s, 2);
  ASSERT_NE(g, nullptr);
  LS_EXPECT_OK(ls_session_release_frame(s, g));
  LS_EXPECT_OK(ls_session_close(s));
  LS_EXPECT_OK(ls_world_delete(c, "native-auto-reconnect", 1));
  ls_world_info w{};
  LS_EXPECT_OK(ls_world_create_with_id(c, "native-with-id", LS_WORLD_EMPTY, 0, "n", &w));
  EXPECT_STREQ(w.world_id, "native-with-id");
  EXPECT_EQ(ls_world_create_with_id(c, "native-with-id", LS_WORLD_EMPTY, 0, "n", &w),
            LS_FAILED_PRECONDITION);
  LS_EXPECT_OK(ls_world_delete(c, "native-with-id", 1));
  LS_EXPECT_OK(ls_client_destroy(c));
}

TEST(Disconnect, KillingTheServerMidStreamGivesDisconnected) {
  lstest::ServerProcess server("killed");
  REQUIRE_SERVER(&server);
  ls_client* c = Connect(server.target(), 3000);
  ASSERT_NE(c, nullptr);
  ls_session_options o = Options(64, 64, LS_PACING_REALTIME);
  o.reconnect_timeout_ms = 0;  // the state stays DISCONNECTED (no automatic reopen)
  ls_session* s = nullptr;
  LS_ASSERT_OK(ls_session_open(c, &o, &s));
  std::atomic<bool> stop{false};
  std::thread engine([&] {
    for (uint64_t id = 0; !stop; ++id) {
      ls_session_submit_unreal(s, id, 0, kLoc, kRot);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const ls_frame* f = nullptr;
  ASSERT_EQ(ls_session_acquire_frame(s, 60000, &f), LS_OK) << ls_last_error();
  LS_ASSERT_OK(ls_session_release_frame(s, f));
  server.kill_now();
  EXPECT_TRUE(WaitState(s, LS_SESSION_DISCONNECTED, 10000))
      << "state " << ls_session_get_state(s);
  stop = true;
  engine.join();
  ls_status st;
  do {  // a frame that arrived before the loss may still be waiting
    st = ls_session_acquire_frame(s, 100, &f);
    if (st == LS_OK) ls_session_release_frame(s, f);
  } while (st == LS_OK);
  EXPECT_EQ(st, LS_DISCONNECTED);
  EXPECT_EQ(ls_session_submit_unreal(s, 1, 0, kLoc, kRot), LS_DISCONNECTED);
  ls_session_stats stats;
  LS_ASSERT_OK(ls_session_get_stats(s, &stats));
  EXPECT_EQ(stats.state, LS_SESSION_DISCONNECTED);
  EXPECT_GT(stats.frames_received, 0u);
  // Nothing to reopen against: the call fails, the session stays DISCONNECTED (reopenable).
  st = ls_session_reopen(s);
  EXPECT_TRUE(st == LS_UNAVAILABLE || st == LS_DEADLINE_EXCEEDED)
      << ls_status_name(st) << ": " << ls_last_error();
  EXPECT_EQ(ls_session_get_state(s), LS_SESSION_DISCONNECTED);
  LS_EXPECT_OK(ls_session_close(s));
  LS_EXPECT_OK(ls_client_destroy(c));
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new SharedServer);
  return RUN_ALL_TESTS();
}
