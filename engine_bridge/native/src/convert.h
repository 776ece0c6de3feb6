// The C structs of latentstage.h to and from the wire messages, and their validation.
//
// Validation here is what the library can say without the server (enum ranges, finite
// numbers, a pose's rotation form against the session's convention); everything else is the
// server's, whose messages come back verbatim. Errors use the server's wording:
// "<field>: got <value>, expected <expected>".
#pragma once

#include <cstring>
#include <string>

#include "errors.h"
#include "latentstage/latentstage.h"
#include "latentstage/v1/service.pb.h"
#include "wire_view.pb.h"

namespace ls {

namespace pb = latentstage::v1;
namespace wire = latentstage::native::wire;

// Copy a caller's struct that starts with `uint32_t struct_size` over `*out` (already holding
// the defaults): fields beyond the caller's struct_size keep their defaults, so code built
// against an older header works. A struct_size below the first version's is refused.
template <class T>
ls_status read_sized(const T* in, T* out, const char* name, size_t min_size) {
  if (in == nullptr) return invalid(name, "NULL", std::string("a ") + name + " struct");
  uint32_t size = in->struct_size;
  if (size < min_size) {
    return invalid(std::string(name) + ".struct_size", std::to_string(size),
                   format("sizeof(ls_%s) = %zu (call ls_%s_init first)", name, sizeof(T), name));
  }
  std::memcpy(out, in, size < sizeof(T) ? size : sizeof(T));
  out->struct_size = sizeof(T);
  return LS_OK;
}

// A double as the server prints it (repr-like, %.17g trimmed to %.6g when exact enough).
std::string num(double value);

// Copy `text` into a fixed char array (NUL-terminated, truncated to fit).
void copy_text(const std::string& text, char* dst, size_t capacity);

ls_status check_lens(const ls_lens& lens, const std::string& field);
ls_status check_session_options(const ls_session_options& options);
ls_status check_pose(const ls_pose& pose, int32_t convention, const std::string& field);

void lens_to_proto(const ls_lens& lens, pb::Lens* out);
// Open from the options; `attach_world_id` non-empty attaches to that world instead.
void open_to_proto(const ls_session_options& options, const std::string& attach_world_id,
                   pb::Open* out);
// Fill a reused Pose in place (no allocation once its forms are stable).
void pose_to_proto(const ls_pose& pose, pb::Pose* out);
// The frame's scalars and pointers into the view (which must outlive `out`'s use).
void frame_from_wire(const wire::Frame& frame, int64_t received_ns, ls_frame* out);
void server_info_from_proto(const pb::ServerInfo& info, ls_server_info* out);
void world_from_proto(const pb::WorldInfo& world, ls_world_info* out);

}  // namespace ls
