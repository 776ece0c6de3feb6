// The extern "C" entry points: argument checks, handle look-ups, and nothing else.
//
// Handles are not pointers to the objects: ls_client* and ls_session* are ids from a registry
// (never reused), so a destroyed, closed or made-up handle is reported (LS_CLOSED /
// LS_INVALID_ARGUMENT) instead of being dereferenced, and a call that races ls_session_close
// on another thread keeps the session alive (shared ownership) until it returns.
#include <cstddef>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "client.h"
#include "session.h"

namespace ls {
namespace {

constexpr uintptr_t kClientTag = 0x1, kSessionTag = 0x2, kFirstId = 0x1000;

struct Handles {
  std::mutex mu;
  uintptr_t next_id = kFirstId;  // ids are never reused
  std::unordered_map<uintptr_t, std::shared_ptr<ClientImpl>> clients;
  struct Session {
    std::shared_ptr<SessionImpl> impl;
    uintptr_t client;  // the client handle it was opened from
  };
  std::unordered_map<uintptr_t, Session> sessions;

  uintptr_t issue(uintptr_t tag) { return (next_id++ << 4) | tag; }
  // Whether `h` was issued with `tag` (and so, if absent now, was destroyed or closed).
  bool was_issued(uintptr_t h, uintptr_t tag) const {
    return (h & 0xF) == tag && (h >> 4) >= kFirstId && (h >> 4) < next_id;
  }
};

Handles& handles() {
  static Handles* h = new Handles;  // never destroyed: safe in static destructors and at exit
  return *h;
}

std::string pointer(const void* p) { return format("%p", p); }

std::shared_ptr<ClientImpl> find_client(ls_client* client, ls_status* st) {
  auto h = reinterpret_cast<uintptr_t>(client);
  if (client == nullptr) {
    *st = invalid("client", "NULL", "a client from ls_client_connect");
    return nullptr;
  }
  Handles& r = handles();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.clients.find(h);
  if (it != r.clients.end()) return it->second;
  *st = r.was_issued(h, kClientTag)
            ? fail(LS_CLOSED, "client: " + pointer(client) + ": destroyed (ls_client_destroy)")
            : invalid("client", pointer(client), "a client from ls_client_connect");
  return nullptr;
}

std::shared_ptr<SessionImpl> find_session(ls_session* session, ls_status* st) {
  auto h = reinterpret_cast<uintptr_t>(session);
  if (session == nullptr) {
    *st = invalid("session", "NULL", "a session from ls_session_open");
    return nullptr;
  }
  Handles& r = handles();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.sessions.find(h);
  if (it != r.sessions.end()) return it->second.impl;
  *st = r.was_issued(h, kSessionTag)
            ? fail(LS_CLOSED, "session: " + pointer(session) +
                                  ": closed (ls_session_close or ls_client_destroy ran)")
            : invalid("session", pointer(session), "a session from ls_session_open");
  return nullptr;
}

template <class T>
ls_status require(const T* p, const char* field) {
  if (p == nullptr) return invalid(field, "NULL", "a pointer to write the result to");
  return LS_OK;
}

ls_status require_text(const char* text, const char* field, const char* expected) {
  if (text == nullptr || text[0] == '\0') return invalid(field, text ? "\"\"" : "NULL", expected);
  return LS_OK;
}

}  // namespace
}  // namespace ls

using namespace ls;

#define LS_STR2(x) #x
#define LS_STR(x) LS_STR2(x)

extern "C" {

LS_API const char* ls_status_name(ls_status status) {
  switch (status) {
    case LS_OK: return "LS_OK";
    case LS_CANCELLED: return "LS_CANCELLED";
    case LS_INVALID_ARGUMENT: return "LS_INVALID_ARGUMENT";
    case LS_DEADLINE_EXCEEDED: return "LS_DEADLINE_EXCEEDED";
    case LS_NOT_FOUND: return "LS_NOT_FOUND";
    case LS_ALREADY_EXISTS: return "LS_ALREADY_EXISTS";
    case LS_RESOURCE_EXHAUSTED: return "LS_RESOURCE_EXHAUSTED";
    case LS_FAILED_PRECONDITION: return "LS_FAILED_PRECONDITION";
    case LS_UNIMPLEMENTED: return "LS_UNIMPLEMENTED";
    case LS_INTERNAL: return "LS_INTERNAL";
    case LS_UNAVAILABLE: return "LS_UNAVAILABLE";
    case LS_UNAUTHENTICATED: return "LS_UNAUTHENTICATED";
    case LS_TIMEOUT: return "LS_TIMEOUT";
    case LS_DISCONNECTED: return "LS_DISCONNECTED";
    case LS_CLOSED: return "LS_CLOSED";
    case LS_BUSY: return "LS_BUSY";
  }
  return "LS_UNKNOWN";
}

LS_API const char* ls_last_error(void) { return last_error(); }

LS_API const char* ls_version(void) {
  return LS_STR(LS_VERSION_MAJOR) "." LS_STR(LS_VERSION_MINOR) "." LS_STR(LS_VERSION_PATCH);
}

LS_API uint32_t ls_abi_version(void) { return LS_ABI_VERSION; }

LS_API size_t ls_struct_size(const char* name) {
  if (name == nullptr) return 0;
  static const struct {
    const char* name;
    size_t size;
  } kSizes[] = {{"ls_connect_options", sizeof(ls_connect_options)},
                {"ls_server_info", sizeof(ls_server_info)},
                {"ls_world_info", sizeof(ls_world_info)},
                {"ls_session_options", sizeof(ls_session_options)},
                {"ls_pose", sizeof(ls_pose)},
                {"ls_frame", sizeof(ls_frame)},
                {"ls_session_stats", sizeof(ls_session_stats)},
                {"ls_lens", sizeof(ls_lens)},
                {"ls_timecode", sizeof(ls_timecode)}};
  for (const auto& s : kSizes) {
    if (std::strcmp(s.name, name) == 0) return s.size;
  }
  return 0;
}

// ----- client -------------------------------------------------------------------------------
LS_API void ls_connect_options_init(ls_connect_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
  options->timeout_ms = 10000;
}

LS_API ls_status ls_client_connect(const ls_connect_options* options, ls_client** out) {
  return guarded("ls_client_connect", [&]() -> ls_status {
    if (ls_status st = require(out, "out")) return st;
    ls_connect_options o;
    ls_connect_options_init(&o);
    if (ls_status st = read_sized(options, &o, "connect_options", sizeof o)) return st;
    std::shared_ptr<ClientImpl> client;
    if (ls_status st = ClientImpl::connect(o, &client)) return st;
    Handles& r = handles();
    std::lock_guard<std::mutex> lock(r.mu);
    uintptr_t h = r.issue(kClientTag);
    r.clients[h] = std::move(client);
    *out = reinterpret_cast<ls_client*>(h);
    return LS_OK;
  });
}

LS_API ls_status ls_client_destroy(ls_client* client) {
  return guarded("ls_client_destroy", [&]() -> ls_status {
    if (client == nullptr) return LS_OK;
    auto h = reinterpret_cast<uintptr_t>(client);
    std::shared_ptr<ClientImpl> impl;
    std::vector<std::shared_ptr<SessionImpl>> sessions;
    {
      Handles& r = handles();
      std::lock_guard<std::mutex> lock(r.mu);
      auto it = r.clients.find(h);
      if (it == r.clients.end()) {
        return r.was_issued(h, kClientTag)
                   ? fail(LS_CLOSED, "client: " + pointer(client) + ": destroyed already")
                   : invalid("client", pointer(client), "a client from ls_client_connect");
      }
      impl = std::move(it->second);
      r.clients.erase(it);
      for (auto s = r.sessions.begin(); s != r.sessions.end();) {
        if (s->second.client == h) {
          sessions.push_back(std::move(s->second.impl));
          s = r.sessions.erase(s);
        } else {
          ++s;
        }
      }
    }
    impl->cancel_calls();
    for (auto& s : sessions) s->kill();  // frames still acquired keep their ring alive
    return LS_OK;
  });
}

LS_API ls_status ls_client_server_info(ls_client* client, ls_server_info* out) {
  return guarded("ls_client_server_info", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if ((st = require(out, "out"))) return st;
    return impl->server_info(out);
  });
}

// ----- worlds -------------------------------------------------------------------------------
LS_API ls_status ls_world_create_procedural(ls_client* client, uint64_t seed,
                                            ls_world_kind kind, const char* name,
                                            ls_world_info* out) {
  return guarded("ls_world_create_procedural", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if (kind != LS_WORLD_INDOOR && kind != LS_WORLD_OUTDOOR) {
      return invalid("kind", std::to_string(kind),
                     "LS_WORLD_INDOOR (1) or LS_WORLD_OUTDOOR (2) (ls_world_create_empty for "
                     "an empty world)");
    }
    pb::WorldSpec spec;
    spec.mutable_procedural()->set_seed(seed);
    spec.mutable_procedural()->set_kind(static_cast<pb::WorldKind>(kind));
    if (name) spec.set_name(name);
    return impl->create_world(spec, out);
  });
}

LS_API ls_status ls_world_create_with_id(ls_client* client, const char* world_id,
                                         ls_world_kind kind, uint64_t seed, const char* name,
                                         ls_world_info* out) {
  return guarded("ls_world_create_with_id", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if ((st = require_text(world_id, "world_id", "a world id of A-Z a-z 0-9 . _ -"))) return st;
    if (kind != LS_WORLD_EMPTY && kind != LS_WORLD_INDOOR && kind != LS_WORLD_OUTDOOR) {
      return invalid("kind", std::to_string(kind),
                     "LS_WORLD_EMPTY (0), LS_WORLD_INDOOR (1) or LS_WORLD_OUTDOOR (2)");
    }
    pb::WorldSpec spec;
    if (kind == LS_WORLD_EMPTY) {
      spec.mutable_empty();
    } else {
      spec.mutable_procedural()->set_seed(seed);
      spec.mutable_procedural()->set_kind(static_cast<pb::WorldKind>(kind));
    }
    spec.set_world_id(world_id);
    if (name) spec.set_name(name);
    return impl->create_world(spec, out);
  });
}

LS_API ls_status ls_world_create_empty(ls_client* client, const char* name,
                                       ls_world_info* out) {
  return guarded("ls_world_create_empty", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    pb::WorldSpec spec;
    spec.mutable_empty();
    if (name) spec.set_name(name);
    return impl->create_world(spec, out);
  });
}

LS_API ls_status ls_world_create_from_image(ls_client* client, const uint8_t* image,
                                            size_t image_size, const float* depth,
                                            uint32_t depth_width, uint32_t depth_height,
                                            const ls_lens* lens, const char* name,
                                            ls_world_info* out) {
  return guarded("ls_world_create_from_image", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if (image == nullptr || image_size == 0) {
      return invalid("image", image ? "0 bytes" : "NULL", "a PNG or JPEG file's bytes");
    }
    pb::WorldSpec spec;
    pb::SeedImage* seed = spec.mutable_seed_image();
    seed->set_image(image, image_size);
    if (depth != nullptr) {
      if (depth_width == 0 || depth_height == 0) {
        return invalid("depth_width/depth_height", format("%ux%u", depth_width, depth_height),
                       "the image or latent size (> 0) when depth is given");
      }
      pb::Depth* d = seed->mutable_depth();
      d->set_width(depth_width);
      d->set_height(depth_height);
      d->set_data(depth, size_t{depth_width} * depth_height * sizeof(float));  // little-endian
    }
    if (lens != nullptr && lens->kind != LS_LENS_NONE) {
      if ((st = check_lens(*lens, "lens"))) return st;
      lens_to_proto(*lens, seed->mutable_lens());
    }
    if (name) spec.set_name(name);
    return impl->create_world(spec, out);
  });
}

LS_API ls_status ls_world_save(ls_client* client, const char* world_id, const char* name,
                               char* out_name, size_t out_name_size, uint64_t* out_bytes) {
  return guarded("ls_world_save", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if ((st = require_text(world_id, "world_id", "a world id (ls_world_info.world_id)"))) {
      return st;
    }
    return impl->save_world(world_id, name, out_name, out_name_size, out_bytes);
  });
}

LS_API ls_status ls_world_load(ls_client* client, const char* snapshot_name, const char* label,
                               ls_world_info* out) {
  return guarded("ls_world_load", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if ((st = require_text(snapshot_name, "snapshot_name", "a snapshot name (ls_world_save)"))) {
      return st;
    }
    return impl->load_world(snapshot_name, label, out);
  });
}

LS_API ls_status ls_world_delete(ls_client* client, const char* world_id, int32_t force) {
  return guarded("ls_world_delete", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if ((st = require_text(world_id, "world_id", "a world id (ls_world_info.world_id)"))) {
      return st;
    }
    return impl->delete_world(world_id, force != 0);
  });
}

LS_API ls_status ls_world_list(ls_client* client, ls_world_info* out, size_t capacity,
                               size_t* count) {
  return guarded("ls_world_list", [&]() -> ls_status {
    ls_status st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if ((st = require(count, "count"))) return st;
    if (capacity > 0 && out == nullptr) {
      return invalid("out", "NULL", format("an array of capacity = %zu ls_world_info", capacity));
    }
    return impl->list_worlds(out, capacity, count);
  });
}

// ----- sessions -----------------------------------------------------------------------------
LS_API void ls_session_options_init(ls_session_options* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->new_world_kind = LS_WORLD_EMPTY;
  o->encoding = LS_ENCODING_RAW_BGRA8;
  o->jpeg_quality = 90;
  o->convention = LS_CONVENTION_UNREAL;
  o->lens.kind = LS_LENS_NONE;
  o->pacing = LS_PACING_REALTIME;
  o->prediction = -1;
  o->frame_buffers = 3;
  o->reconnect_timeout_ms = 30000;
}

LS_API ls_status ls_session_open(ls_client* client, const ls_session_options* options,
                                 ls_session** out) {
  return guarded("ls_session_open", [&]() -> ls_status {
    ls_session_options o;
    ls_session_options_init(&o);
    ls_status st;
    if ((st = read_sized(options, &o, "session_options", sizeof o))) return st;
    if (options->struct_size < offsetof(ls_session_options, reconnect_timeout_ms) +
                                   sizeof o.reconnect_timeout_ms) {
      o.reconnect_timeout_ms = 0;  // built against 0.2: reopened by hand, as it expects
    }
    if ((st = check_session_options(o))) return st;
    auto impl = find_client(client, &st);
    if (!impl) return st;
    if ((st = require(out, "out"))) return st;
    const ls_server_info& info = impl->info_at_connect();
    if (o.width > info.max_width) {
      return invalid("session_options.width", std::to_string(o.width),
                     format("1..%u pixels (the server's max_width)", info.max_width));
    }
    if (o.height > info.max_height) {
      return invalid("session_options.height", std::to_string(o.height),
                     format("1..%u pixels (the server's max_height)", info.max_height));
    }
    auto session = std::make_shared<SessionImpl>(impl, o);
    if ((st = session->open())) return st;
    Handles& r = handles();
    std::lock_guard<std::mutex> lock(r.mu);
    auto h_client = reinterpret_cast<uintptr_t>(client);
    if (r.clients.find(h_client) == r.clients.end()) {  // destroyed while this one opened
      session->kill();
      return fail(LS_CANCELLED, "client: destroyed while the session opened");
    }
    uintptr_t h = r.issue(kSessionTag);
    r.sessions[h] = Handles::Session{std::move(session), h_client};
    *out = reinterpret_cast<ls_session*>(h);
    return LS_OK;
  });
}

LS_API ls_session_state ls_session_get_state(ls_session* session) {
  ls_session_state state = LS_SESSION_CLOSED;
  guarded("ls_session_get_state", [&]() -> ls_status {
    ls_status st;
    auto impl = find_session(session, &st);
    if (!impl) return st;
    state = impl->state();
    return LS_OK;
  });
  return state;
}

LS_API ls_status ls_session_reopen(ls_session* session) {
  return guarded("ls_session_reopen", [&]() -> ls_status {
    ls_status st;
    auto impl = find_session(session, &st);
    if (!impl) return st;
    return impl->reopen();
  });
}

LS_API ls_status ls_session_close(ls_session* session) {
  return guarded("ls_session_close", [&]() -> ls_status {
    if (session == nullptr) return LS_OK;
    ls_status st;
    auto impl = find_session(session, &st);
    if (!impl) return st;
    {
      Handles& r = handles();
      std::lock_guard<std::mutex> lock(r.mu);
      if (r.sessions.erase(reinterpret_cast<uintptr_t>(session)) == 0) {
        return fail(LS_CLOSED, "session: " + pointer(session) + ": closed already");
      }
    }
    impl->close();
    return LS_OK;
  });
}

LS_API void ls_pose_init(ls_pose* pose) {
  if (pose == nullptr) return;
  std::memset(pose, 0, sizeof *pose);
  pose->struct_size = sizeof *pose;
  pose->rotation_form = LS_ROTATION_ROTATOR;
  pose->quaternion[3] = 1.0;
  pose->matrix[0] = pose->matrix[4] = pose->matrix[8] = 1.0;
  pose->lens.kind = LS_LENS_NONE;
}

LS_API ls_status ls_session_submit_pose(ls_session* session, const ls_pose* pose) {
  return guarded("ls_session_submit_pose", [&]() -> ls_status {
    ls_pose p;
    ls_pose_init(&p);
    ls_status st;
    if ((st = read_sized(pose, &p, "pose", sizeof p))) return st;
    auto impl = find_session(session, &st);
    if (!impl) return st;
    return impl->submit(p);
  });
}

namespace {
ls_status submit_simple(const char* fn, ls_session* session, uint64_t frame_id,
                        int64_t capture_time_ns, const double* position, int32_t form,
                        const double* rotation, int n) {
  return guarded(fn, [&]() -> ls_status {
    if (position == nullptr) return invalid("position", "NULL", "3 numbers");
    if (rotation == nullptr) return invalid("rotation", "NULL", format("%d numbers", n));
    ls_pose p;
    ls_pose_init(&p);
    p.frame_id = frame_id;
    p.capture_time_ns = capture_time_ns;
    std::memcpy(p.position, position, sizeof p.position);
    p.rotation_form = form;
    double* dst = form == LS_ROTATION_QUATERNION ? p.quaternion
                  : form == LS_ROTATION_MATRIX   ? p.matrix
                                                 : p.rotator;
    std::memcpy(dst, rotation, sizeof(double) * n);
    ls_status st;
    auto impl = find_session(session, &st);
    if (!impl) return st;
    return impl->submit(p);
  });
}
}  // namespace

LS_API ls_status ls_session_submit_unreal(ls_session* session, uint64_t frame_id,
                                          int64_t capture_time_ns, const double location_cm[3],
                                          const double rotator_pyr_deg[3]) {
  return submit_simple("ls_session_submit_unreal", session, frame_id, capture_time_ns,
                       location_cm, LS_ROTATION_ROTATOR, rotator_pyr_deg, 3);
}

LS_API ls_status ls_session_submit_unreal_quat(ls_session* session, uint64_t frame_id,
                                               int64_t capture_time_ns,
                                               const double location_cm[3],
                                               const double quat_xyzw[4]) {
  return submit_simple("ls_session_submit_unreal_quat", session, frame_id, capture_time_ns,
                       location_cm, LS_ROTATION_QUATERNION, quat_xyzw, 4);
}

LS_API ls_status ls_session_submit_unity(ls_session* session, uint64_t frame_id,
                                         int64_t capture_time_ns, const double position_m[3],
                                         const double quat_xyzw[4]) {
  return submit_simple("ls_session_submit_unity", session, frame_id, capture_time_ns,
                       position_m, LS_ROTATION_QUATERNION, quat_xyzw, 4);
}

LS_API ls_status ls_session_submit_matrix4(ls_session* session, uint64_t frame_id,
                                           int64_t capture_time_ns, const double m[16]) {
  return guarded("ls_session_submit_matrix4", [&]() -> ls_status {
    if (m == nullptr) return invalid("matrix", "NULL", "16 numbers, row-major");
    if (m[12] != 0 || m[13] != 0 || m[14] != 0 || m[15] != 1) {
      return invalid("matrix[12..15]",
                     format("[%s, %s, %s, %s]", num(m[12]).c_str(), num(m[13]).c_str(),
                            num(m[14]).c_str(), num(m[15]).c_str()),
                     "[0, 0, 0, 1]: a row-major, column-vector camera-to-world (an FMatrix or "
                     "a Unity Matrix4x4 in memory order is the transpose)");
    }
    const double position[3] = {m[3], m[7], m[11]};
    const double rotation[9] = {m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]};
    return submit_simple("ls_session_submit_matrix4", session, frame_id, capture_time_ns,
                         position, LS_ROTATION_MATRIX, rotation, 9);
  });
}

LS_API ls_status ls_session_acquire_frame(ls_session* session, uint32_t timeout_ms,
                                          const ls_frame** out) {
  return guarded("ls_session_acquire_frame", [&]() -> ls_status {
    ls_status st;
    auto impl = find_session(session, &st);
    if (!impl) return st;
    if ((st = require(out, "out"))) return st;
    int slot = -1;
    const ls_frame* frame = nullptr;
    if ((st = impl->acquire(timeout_ms, &frame, &slot))) return st;
    register_acquired(frame, reinterpret_cast<uintptr_t>(session), impl->ring(), slot);
    *out = frame;
    return LS_OK;
  });
}

LS_API ls_status ls_session_release_frame(ls_session* session, const ls_frame* frame) {
  return guarded("ls_session_release_frame", [&]() -> ls_status {
    if (session == nullptr) return invalid("session", "NULL", "the session the frame came from");
    if (frame == nullptr) return invalid("frame", "NULL", "a frame from ls_session_acquire_frame");
    return release_acquired(reinterpret_cast<uintptr_t>(session), frame);
  });
}

LS_API ls_status ls_session_get_stats(ls_session* session, ls_session_stats* out) {
  return guarded("ls_session_get_stats", [&]() -> ls_status {
    ls_status st;
    auto impl = find_session(session, &st);
    if (!impl) return st;
    if ((st = require(out, "out"))) return st;
    return impl->stats(out);
  });
}

}  // extern "C"
