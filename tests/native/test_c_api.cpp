// The C API without a server: every misuse returns a status and a message that names the
// field and the value, never a crash. And the private receive view against the wire contract.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <thread>

#include "latentstage/latentstage.h"
#include "latentstage/v1/service.pb.h"
#include "wire_view.pb.h"

namespace {

namespace pb = latentstage::v1;
namespace wire = latentstage::native::wire;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// The calling thread's last error contains every one of `parts`.
::testing::AssertionResult ErrorHas(std::initializer_list<const char*> parts) {
  std::string e = ls_last_error();
  for (const char* p : parts) {
    if (e.find(p) == std::string::npos) {
      return ::testing::AssertionFailure() << "ls_last_error() = \"" << e << "\" lacks \"" << p
                                           << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

ls_session* const kMadeUpSession = reinterpret_cast<ls_session*>(uintptr_t{0x1234});
ls_client* const kMadeUpClient = reinterpret_cast<ls_client*>(uintptr_t{0x1230});

TEST(Version, MacrosMatchTheLoadedLibrary) {
  EXPECT_STREQ(ls_version(), "0.3.0");
  EXPECT_EQ(ls_abi_version(), static_cast<uint32_t>(LS_ABI_VERSION));
}

TEST(Version, StructSizesForBindings) {
  EXPECT_EQ(ls_struct_size("ls_frame"), sizeof(ls_frame));
  EXPECT_EQ(ls_struct_size("ls_pose"), sizeof(ls_pose));
  EXPECT_EQ(ls_struct_size("ls_session_options"), sizeof(ls_session_options));
  EXPECT_EQ(ls_struct_size("ls_session_stats"), sizeof(ls_session_stats));
  EXPECT_EQ(ls_struct_size("ls_timecode"), sizeof(ls_timecode));
  EXPECT_EQ(ls_struct_size("ls_nothing"), 0u);
  EXPECT_EQ(ls_struct_size(nullptr), 0u);
}

TEST(Status, EveryCodeHasItsName) {
  EXPECT_STREQ(ls_status_name(LS_OK), "LS_OK");
  EXPECT_STREQ(ls_status_name(LS_INVALID_ARGUMENT), "LS_INVALID_ARGUMENT");
  EXPECT_STREQ(ls_status_name(LS_UNAUTHENTICATED), "LS_UNAUTHENTICATED");
  EXPECT_STREQ(ls_status_name(LS_TIMEOUT), "LS_TIMEOUT");
  EXPECT_STREQ(ls_status_name(LS_DISCONNECTED), "LS_DISCONNECTED");
  EXPECT_STREQ(ls_status_name(LS_BUSY), "LS_BUSY");
  EXPECT_STREQ(ls_status_name(static_cast<ls_status>(77)), "LS_UNKNOWN");
}

TEST(Init, SetsStructSizeAndDefaults) {
  ls_session_options o;
  std::memset(&o, 0xAB, sizeof o);
  ls_session_options_init(&o);
  EXPECT_EQ(o.struct_size, sizeof o);
  EXPECT_EQ(o.encoding, LS_ENCODING_RAW_BGRA8);
  EXPECT_EQ(o.convention, LS_CONVENTION_UNREAL);
  EXPECT_EQ(o.pacing, LS_PACING_REALTIME);
  EXPECT_EQ(o.frame_buffers, 3u);
  EXPECT_EQ(o.prediction, -1);
  EXPECT_EQ(o.world_id, nullptr);
  ls_pose p;
  ls_pose_init(&p);
  EXPECT_EQ(p.struct_size, sizeof p);
  EXPECT_EQ(p.quaternion[3], 1.0);
  EXPECT_EQ(p.lens.kind, LS_LENS_NONE);
  ls_connect_options c;
  ls_connect_options_init(&c);
  EXPECT_EQ(c.timeout_ms, 10000u);
  ls_session_options_init(nullptr);  // harmless
  ls_pose_init(nullptr);
  ls_connect_options_init(nullptr);
}

TEST(NullHandles, EveryCallReturnsAStatusAndNamesTheHandle) {
  ls_server_info info;
  EXPECT_EQ(ls_client_server_info(nullptr, &info), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"client: got NULL, expected a client from ls_client_connect"}));
  ls_world_info world;
  EXPECT_EQ(ls_world_create_procedural(nullptr, 7, LS_WORLD_OUTDOOR, "x", &world),
            LS_INVALID_ARGUMENT);
  EXPECT_EQ(ls_world_create_empty(nullptr, nullptr, &world), LS_INVALID_ARGUMENT);
  EXPECT_EQ(ls_world_delete(nullptr, "w", 0), LS_INVALID_ARGUMENT);
  size_t count = 0;
  EXPECT_EQ(ls_world_list(nullptr, nullptr, 0, &count), LS_INVALID_ARGUMENT);
  EXPECT_EQ(ls_world_save(nullptr, "w", nullptr, nullptr, 0, nullptr), LS_INVALID_ARGUMENT);
  EXPECT_EQ(ls_world_load(nullptr, "s", nullptr, &world), LS_INVALID_ARGUMENT);
  const uint8_t png[4] = {0x89, 'P', 'N', 'G'};
  EXPECT_EQ(ls_world_create_from_image(nullptr, png, 4, nullptr, 0, 0, nullptr, nullptr, &world),
            LS_INVALID_ARGUMENT);

  const double loc[3] = {0, 0, 170}, rot[3] = {0, 0, 0}, quat[4] = {0, 0, 0, 1};
  EXPECT_EQ(ls_session_submit_unreal(nullptr, 1, 0, loc, rot), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session: got NULL, expected a session from ls_session_open"}));
  EXPECT_EQ(ls_session_submit_unreal_quat(nullptr, 1, 0, loc, quat), LS_INVALID_ARGUMENT);
  EXPECT_EQ(ls_session_submit_unity(nullptr, 1, 0, loc, quat), LS_INVALID_ARGUMENT);
  ls_pose pose;
  ls_pose_init(&pose);
  EXPECT_EQ(ls_session_submit_pose(nullptr, &pose), LS_INVALID_ARGUMENT);
  const ls_frame* frame = nullptr;
  EXPECT_EQ(ls_session_acquire_frame(nullptr, 0, &frame), LS_INVALID_ARGUMENT);
  EXPECT_EQ(frame, nullptr);
  ls_session_stats stats;
  EXPECT_EQ(ls_session_get_stats(nullptr, &stats), LS_INVALID_ARGUMENT);
  EXPECT_EQ(ls_session_reopen(nullptr), LS_INVALID_ARGUMENT);
  EXPECT_EQ(ls_session_get_state(nullptr), LS_SESSION_CLOSED);
  EXPECT_TRUE(ErrorHas({"session: got NULL"}));
  EXPECT_EQ(ls_session_close(nullptr), LS_OK);   // documented: safe on NULL
  EXPECT_EQ(ls_client_destroy(nullptr), LS_OK);
}

TEST(NullHandles, NullArgumentsAreNamed) {
  const double rot[3] = {0, 0, 0};
  EXPECT_EQ(ls_session_submit_unreal(kMadeUpSession, 1, 0, nullptr, rot), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"position: got NULL"}));
  EXPECT_EQ(ls_session_submit_pose(kMadeUpSession, nullptr), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"pose: got NULL"}));
  EXPECT_EQ(ls_session_submit_matrix4(kMadeUpSession, 1, 0, nullptr), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"matrix: got NULL"}));
}

TEST(MadeUpHandles, AreReportedNotDereferenced) {
  ls_session_stats stats;
  EXPECT_EQ(ls_session_get_stats(kMadeUpSession, &stats), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session: got 0x1234, expected a session from ls_session_open"}));
  EXPECT_EQ(ls_session_close(kMadeUpSession), LS_INVALID_ARGUMENT);
  ls_server_info info;
  EXPECT_EQ(ls_client_server_info(kMadeUpClient, &info), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"client: got 0x1230"}));
  EXPECT_EQ(ls_client_destroy(kMadeUpClient), LS_INVALID_ARGUMENT);
}

TEST(DoubleRelease, AFrameNotAcquiredIsRefused) {
  ls_frame fake{};
  EXPECT_EQ(ls_session_release_frame(kMadeUpSession, &fake), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"frame: got 0x", "expected a frame acquired and not yet released"}));
  EXPECT_EQ(ls_session_release_frame(kMadeUpSession, &fake), LS_INVALID_ARGUMENT);
  EXPECT_EQ(ls_session_release_frame(kMadeUpSession, nullptr), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"frame: got NULL"}));
  EXPECT_EQ(ls_session_release_frame(nullptr, &fake), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session: got NULL"}));
}

// ls_session_open checks its options before it needs a client, so bad sizes and conventions
// are reported without a server.
class BadOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    ls_session_options_init(&o_);
    o_.width = 256;
    o_.height = 256;
  }
  ls_status Open() {
    ls_session* s = nullptr;
    ls_status st = ls_session_open(nullptr, &o_, &s);
    EXPECT_EQ(s, nullptr);
    return st;
  }
  ls_session_options o_;
};

TEST_F(BadOptions, ValidOptionsGetAsFarAsTheMissingClient) {
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"client: got NULL"}));
}

TEST_F(BadOptions, Sizes) {
  o_.width = 0;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.width: got 0, expected 1.. pixels"}));
  o_.width = 256;
  o_.height = 70000;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.height: got 70000"}));
  o_.height = 256;
  o_.frame_buffers = 1;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.frame_buffers: got 1, expected 2..16"}));
  o_.frame_buffers = 17;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
}

TEST_F(BadOptions, ConventionsEncodingsAndEnums) {
  o_.convention = 0;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.convention: got 0, expected LS_CONVENTION_OPENCV"}));
  o_.convention = 7;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.convention: got 7"}));
  o_.convention = LS_CONVENTION_UNITY;
  o_.encoding = 9;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.encoding: got 9"}));
  o_.encoding = LS_ENCODING_JPEG;
  o_.pacing = 3;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.pacing: got 3"}));
  o_.pacing = LS_PACING_LOCKSTEP;
  o_.lens.kind = LS_LENS_FOV;
  o_.lens.fov_deg = 180;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.lens.fov_deg: got 180, expected degrees in (0, 180)"}));
  o_.lens.kind = 9;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.lens.kind: got 9"}));
  o_.lens.kind = LS_LENS_NONE;
  o_.target_fps = std::nan("");
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.target_fps: got nan"}));
  o_.target_fps = 0;
  o_.world_id = "w1";
  o_.tracked_camera = "cam";
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.world_id", "at most one of world_id and tracked_camera"}));
}

TEST_F(BadOptions, StructSizeFromAnUninitialisedStruct) {
  o_.struct_size = 0;
  EXPECT_EQ(Open(), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options.struct_size: got 0", "call ls_session_options_init"}));
  EXPECT_EQ(ls_session_open(nullptr, nullptr, nullptr), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"session_options: got NULL"}));
}

TEST(Connect, BadOptionsAndNoServer) {
  ls_client* c = nullptr;
  EXPECT_EQ(ls_client_connect(nullptr, &c), LS_INVALID_ARGUMENT);
  ls_connect_options o;
  ls_connect_options_init(&o);
  EXPECT_EQ(ls_client_connect(&o, &c), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"connect_options.target: got NULL"}));
  o.target = "127.0.0.1:1";
  o.timeout_ms = 0;
  EXPECT_EQ(ls_client_connect(&o, &c), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"connect_options.timeout_ms: got 0"}));
  o.timeout_ms = 3000;
  EXPECT_EQ(ls_client_connect(&o, nullptr), LS_INVALID_ARGUMENT);
  EXPECT_TRUE(ErrorHas({"out: got NULL"}));
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  EXPECT_EQ(ls_client_connect(&o, &c), LS_UNAVAILABLE);
  EXPECT_TRUE(ErrorHas({"connect_options.target: got \"127.0.0.1:1\"",
                        "expected a LatentStage server answering within 3000 ms"}));
  EXPECT_EQ(c, nullptr);
}

TEST(LastError, IsPerThread) {
  ls_session_close(kMadeUpSession);
  std::string here = ls_last_error();
  std::string there = "unset";
  std::thread([&] { there = ls_last_error(); }).join();
  EXPECT_NE(here, "");
  EXPECT_EQ(there, "");
}

// ----- the private receive view against the wire contract ----------------------------------
void ExpectMirrors(const Descriptor* real, const Descriptor* view, const std::string& path) {
  EXPECT_EQ(view->field_count(), real->field_count()) << path << ": field counts differ";
  for (int i = 0; i < real->field_count(); ++i) {
    const FieldDescriptor* f = real->field(i);
    std::string where = path + "." + f->name();
    const FieldDescriptor* v = view->FindFieldByNumber(f->number());
    ASSERT_NE(v, nullptr) << where << " (field " << f->number() << ") is not in wire_view.proto";
    EXPECT_EQ(v->name(), f->name()) << where;
    EXPECT_EQ(v->is_repeated(), f->is_repeated()) << where;
    if (f->type() == FieldDescriptor::TYPE_ENUM) {
      EXPECT_EQ(v->type(), FieldDescriptor::TYPE_INT32) << where << ": enums are read as int32";
    } else {
      EXPECT_EQ(v->type(), f->type()) << where;
    }
    if (f->type() == FieldDescriptor::TYPE_MESSAGE && v->type() == FieldDescriptor::TYPE_MESSAGE) {
      ExpectMirrors(f->message_type(), v->message_type(), where);
    }
  }
}

TEST(WireView, MirrorsSessionResponseFieldForField) {
  ExpectMirrors(pb::SessionResponse::descriptor(), wire::SessionResponseView::descriptor(),
                "SessionResponse");
}

pb::SessionResponse FullFrame(uint64_t id, size_t bytes) {
  pb::SessionResponse r;
  pb::Frame* f = r.mutable_frame();
  f->set_frame_id(id);
  f->set_capture_time_ns(-5);
  auto* tc = f->mutable_timecode();
  tc->set_hours(1);
  tc->set_frames(24);
  tc->mutable_rate()->set_num(30000);
  tc->mutable_rate()->set_den(1001);
  tc->set_drop_frame(true);
  for (int i = 0; i < 16; ++i) f->mutable_rendered_c2w()->add_m(i * 0.5);
  f->mutable_intrinsics()->set_fx(100.5);
  pb::Image* img = f->mutable_image();
  img->set_encoding(pb::ENCODING_RAW_BGRA8);
  img->set_width(7);
  img->set_height(3);
  img->set_stride(28);
  img->set_data(std::string(bytes, static_cast<char>(id)));
  img->set_bottom_up(true);
  f->mutable_timing()->set_total_ms(12.5);
  f->mutable_memory()->set_points(99);
  f->mutable_memory()->set_coverage(0.25);
  f->set_rung(pb::RUNG_SKIP_WRITE);
  f->set_sampler_steps(2);
  f->set_memory_written(true);
  f->set_poses_skipped(3);
  f->set_frames_dropped(4);
  f->set_predicted_ms(16.0);
  f->set_sequence(id + 1);
  return r;
}

TEST(WireView, ParsesFramesIntoTheSameMemoryEachTime) {
  wire::SessionResponseView view;
  ASSERT_TRUE(view.ParseFromString(FullFrame(1, 84).SerializeAsString()));
  ASSERT_TRUE(view.has_frame());
  EXPECT_FALSE(view.has_event());
  const wire::Frame& f = view.frame();
  EXPECT_EQ(f.frame_id(), 1u);
  EXPECT_EQ(f.capture_time_ns(), -5);
  EXPECT_EQ(f.timecode().rate().num(), 30000u);
  EXPECT_TRUE(f.timecode().drop_frame());
  ASSERT_EQ(f.rendered_c2w().m_size(), 16);
  EXPECT_EQ(f.rendered_c2w().m(15), 7.5);
  EXPECT_EQ(f.image().encoding(), 4);
  EXPECT_EQ(f.image().stride(), 28u);
  EXPECT_TRUE(f.image().bottom_up());
  EXPECT_EQ(f.rung(), 3);
  EXPECT_EQ(f.sequence(), 2u);
  EXPECT_EQ(f.memory().coverage(), 0.25);
  const wire::Frame* frame_before = &view.frame();
  const char* pixels_before = view.frame().image().data().data();
  // Frames of the same size reuse every sub-message and the pixel buffer: no allocation.
  for (uint64_t id = 2; id < 5; ++id) {
    ASSERT_TRUE(view.ParseFromString(FullFrame(id, 84).SerializeAsString()));
    EXPECT_EQ(&view.frame(), frame_before);
    EXPECT_EQ(view.frame().image().data().data(), pixels_before);
    EXPECT_EQ(view.frame().image().data(), std::string(84, static_cast<char>(id)));
  }
  // An event in between leaves the frame's memory in place (cleared, not freed).
  pb::SessionResponse event;
  event.mutable_event()->set_kind(pb::EVENT_KIND_SESSION_OPENED);
  event.mutable_event()->set_world_id("w-1");
  event.mutable_event()->mutable_settings()->mutable_size()->set_width(64);
  ASSERT_TRUE(view.ParseFromString(event.SerializeAsString()));
  EXPECT_FALSE(view.has_frame());
  EXPECT_EQ(view.event().kind(), 1);
  EXPECT_EQ(view.event().world_id(), "w-1");
  EXPECT_EQ(view.event().settings().size().width(), 64u);
  ASSERT_TRUE(view.ParseFromString(FullFrame(9, 40).SerializeAsString()));
  EXPECT_EQ(view.frame().image().data().data(), pixels_before);
  EXPECT_EQ(view.frame().image().data().size(), 40u);
}

}  // namespace
