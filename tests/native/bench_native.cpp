// latentstage_bench: frame-available latency, client CPU time, allocations and bytes copied
// per frame, for the native library and for the bare gRPC C++ transport (the generated stub
// reading each SessionResponse), against a running server. `latentstage bench native`
// (bench/native.py) runs it next to the Python client; see docs/benchmarks.md.
//
//   latentstage_bench --target 127.0.0.1:50051 --client native|bare --size 1280x720
//                     --frames 100 --warmup 10
//
// One LOCKSTEP pose in flight: each frame's latency is pose submitted -> frame available to
// the consumer (native: ls_session_acquire_frame returned; bare: Read returned the frame).
// Prints one JSON object. Counters come from liblatentstage_counters.so when it is preloaded.
#include <dlfcn.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "latentstage/latentstage.h"
#include "latentstage/v1/service.grpc.pb.h"

namespace {

namespace pb = latentstage::v1;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string target = "127.0.0.1:50051";
  std::string client = "native";
  uint32_t width = 256, height = 256;
  int frames = 100, warmup = 10;
};

struct Counters {
  uint64_t allocs = 0, alloc_bytes = 0, copied = 0;
  double cpu_s = 0;
};

Counters read_counters() {
  using Fn = void (*)(uint64_t*);
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "lsbench_counters"));
  Counters c;
  if (fn) {
    uint64_t v[3];
    fn(v);
    c.allocs = v[0];
    c.alloc_bytes = v[1];
    c.copied = v[2];
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  c.cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
            (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  return c;
}

// The pose of frame i: an orbit of the canonical camera (OpenCV convention, metres).
void pose_matrix(int i, double m[16]) {
  double a = 0.05 * i, c = std::cos(a), s = std::sin(a);
  // camera x right, y down, z forward; forward = (c, s, 0), right = (s, -c, 0), down = (0,0,-1)
  const double r[16] = {s, 0, c, 0.3 * c, -c, 0, s, 0.3 * s, 0, -1, 0, 1.6, 0, 0, 0, 1};
  std::memcpy(m, r, sizeof r);
}

struct Result {
  std::vector<double> latency_ms, server_ms;
  Counters before, after;
  uint64_t payload = 0, frame_allocations = 0;
};

int fail(const std::string& what) {
  std::fprintf(stderr, "latentstage_bench: %s\n", what.c_str());
  return 1;
}

int run_native(const Args& a, Result* out) {
  ls_connect_options co;
  ls_connect_options_init(&co);
  co.target = a.target.c_str();
  ls_client* client = nullptr;
  if (ls_client_connect(&co, &client) != LS_OK) return fail(ls_last_error());
  ls_session_options o;
  ls_session_options_init(&o);
  o.width = a.width;
  o.height = a.height;
  o.convention = LS_CONVENTION_OPENCV;
  o.pacing = LS_PACING_LOCKSTEP;
  o.lens.kind = LS_LENS_FOV;
  o.lens.fov_deg = 70;
  o.client_name = "bench-native";
  ls_session* s = nullptr;
  if (ls_session_open(client, &o, &s) != LS_OK) return fail(ls_last_error());
  for (int i = 0; i < a.warmup + a.frames; ++i) {
    if (i == a.warmup) out->before = read_counters();
    double m[16];
    pose_matrix(i, m);
    auto t0 = Clock::now();
    if (ls_session_submit_matrix4(s, static_cast<uint64_t>(i), 0, m) != LS_OK) {
      return fail(ls_last_error());
    }
    const ls_frame* f = nullptr;
    for (;;) {
      ls_status st = ls_session_acquire_frame(s, 60000, &f);
      if (st != LS_OK) return fail(ls_last_error());
      if (f->frame_id == static_cast<uint64_t>(i)) break;
      ls_session_release_frame(s, f);
    }
    auto t1 = Clock::now();
    if (i >= a.warmup) {
      out->latency_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      out->server_ms.push_back(f->total_ms);
      out->payload = f->size_bytes;
    }
    ls_session_release_frame(s, f);
  }
  out->after = read_counters();
  ls_session_stats stats;
  ls_session_get_stats(s, &stats);
  out->frame_allocations = stats.frame_allocations;
  ls_session_close(s);
  ls_client_destroy(client);
  return 0;
}

int run_bare(const Args& a, Result* out) {
  // The transport alone: the generated stub, a reused request and response message, the
  // receive limit raised by hand (what every client must do for large raw frames).
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(a.target, grpc::InsecureChannelCredentials(), args);
  auto stub = pb::LatentStageService::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Session(&ctx);
  pb::SessionRequest req;
  pb::Open* open = req.mutable_open();
  open->mutable_new_world()->mutable_empty();
  open->mutable_size()->set_width(a.width);
  open->mutable_size()->set_height(a.height);
  open->set_encoding(pb::ENCODING_RAW_BGRA8);
  open->set_convention(pb::CONVENTION_OPENCV);
  open->set_pacing(pb::PACING_LOCKSTEP);
  open->mutable_lens()->mutable_fov()->set_fov_deg(70);
  open->set_client_name("bench-bare");
  pb::SessionResponse resp;
  if (!stream->Write(req) || !stream->Read(&resp) || !resp.has_event()) {
    return fail("bare: the session did not open: " + stream->Finish().error_message());
  }
  pb::SessionRequest pose_req;
  for (int i = 0; i < a.warmup + a.frames; ++i) {
    if (i == a.warmup) out->before = read_counters();
    double m[16];
    pose_matrix(i, m);
    pb::Pose* p = pose_req.mutable_pose();
    p->set_frame_id(static_cast<uint64_t>(i));
    p->mutable_position()->set_x(m[3]);
    p->mutable_position()->set_y(m[7]);
    p->mutable_position()->set_z(m[11]);
    auto* rm = p->mutable_rotation()->mutable_matrix()->mutable_m();
    rm->Resize(9, 0.0);
    const int idx[9] = {0, 1, 2, 4, 5, 6, 8, 9, 10};
    for (int k = 0; k < 9; ++k) rm->Set(k, m[idx[k]]);
    auto t0 = Clock::now();
    if (!stream->Write(pose_req)) return fail("bare: write failed");
    for (;;) {
      if (!stream->Read(&resp)) return fail("bare: " + stream->Finish().error_message());
      if (resp.has_frame() && resp.frame().frame_id() == static_cast<uint64_t>(i)) break;
    }
    auto t1 = Clock::now();
    if (i >= a.warmup) {
      out->latency_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      out->server_ms.push_back(resp.frame().timing().total_ms());
      out->payload = resp.frame().image().data().size();
    }
  }
  out->after = read_counters();
  ctx.TryCancel();
  stream->Finish();
  return 0;
}

void print_json(const Args& a, const Result& r) {
  auto list = [](const std::vector<double>& v) {
    std::string s = "[";
    char buf[32];
    for (size_t i = 0; i < v.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%.4f", i ? "," : "", v[i]);
      s += buf;
    }
    return s + "]";
  };
  double n = static_cast<double>(r.latency_ms.size());
  std::printf(
      "{\"client\": \"%s\", \"width\": %u, \"height\": %u, \"frames\": %zu, "
      "\"latency_ms\": %s, \"server_ms\": %s, \"cpu_ms_per_frame\": %.4f, "
      "\"allocs_per_frame\": %.2f, \"alloc_bytes_per_frame\": %.1f, "
      "\"copied_bytes_per_frame\": %.1f, \"payload_bytes\": %llu, "
      "\"counters\": %s, \"frame_allocations\": %s}\n",
      a.client.c_str(), a.width, a.height, r.latency_ms.size(), list(r.latency_ms).c_str(),
      list(r.server_ms).c_str(), (r.after.cpu_s - r.before.cpu_s) * 1e3 / n,
      (r.after.allocs - r.before.allocs) / n, (r.after.alloc_bytes - r.before.alloc_bytes) / n,
      (r.after.copied - r.before.copied) / n, static_cast<unsigned long long>(r.payload),
      dlsym(RTLD_DEFAULT, "lsbench_counters") ? "true" : "false",
      a.client == "native" ? std::to_string(r.frame_allocations).c_str() : "null");
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--target") a.target = v;
    else if (k == "--client") a.client = v;
    else if (k == "--frames") a.frames = std::atoi(v.c_str());
    else if (k == "--warmup") a.warmup = std::atoi(v.c_str());
    else if (k == "--size") std::sscanf(v.c_str(), "%ux%u", &a.width, &a.height);
    else return fail("unknown option " + k);
  }
  Result r;
  int rc = a.client == "bare" ? run_bare(a, &r) : a.client == "native" ? run_native(a, &r)
                                                                      : fail("--client: " + a.client);
  if (rc == 0) print_json(a, r);
  return rc;
}
