#include "convert.h"

#include <cmath>
#include <cstdio>

namespace ls {
namespace {

bool finite(const double* values, int n) {
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) return false;
  }
  return true;
}

std::string list(const double* values, int n) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) out += (i ? ", " : "") + num(values[i]);
  return out + "]";
}

ls_status check_range(const std::string& field, int64_t value, int64_t lo, int64_t hi,
                      const char* expected) {
  if (value < lo || value > hi) return invalid(field, std::to_string(value), expected);
  return LS_OK;
}

}  // namespace

std::string num(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  if (std::strtod(buf, nullptr) != value) std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

void copy_text(const std::string& text, char* dst, size_t capacity) {
  if (dst == nullptr || capacity == 0) return;
  size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
  std::memcpy(dst, text.data(), n);
  dst[n] = '\0';
}

ls_status check_lens(const ls_lens& lens, const std::string& field) {
  switch (lens.kind) {
    case LS_LENS_NONE: return LS_OK;
    case LS_LENS_FOV:
      if (!(std::isfinite(lens.fov_deg) && lens.fov_deg > 0 && lens.fov_deg < 180)) {
        return invalid(field + ".fov_deg", num(lens.fov_deg), "degrees in (0, 180)");
      }
      return check_range(field + ".fov_axis", lens.fov_axis, 0, 3,
                         "0 (the convention's own), 1 horizontal, 2 vertical or 3 diagonal");
    case LS_LENS_PHYSICAL: {
      const double mm[3] = {lens.focal_length_mm, lens.sensor_width_mm, lens.sensor_height_mm};
      const char* names[3] = {"focal_length_mm", "sensor_width_mm", "sensor_height_mm"};
      for (int i = 0; i < 3; ++i) {
        if (!(std::isfinite(mm[i]) && mm[i] > 0)) {
          return invalid(field + "." + names[i], num(mm[i]), "> 0 millimetres");
        }
      }
      const double offsets[2] = {lens.offset_x, lens.offset_y};
      if (!finite(offsets, 2)) {
        return invalid(field + ".offset_x/offset_y", list(offsets, 2), "finite numbers");
      }
      return check_range(field + ".gate_fit", lens.gate_fit, 0, 3,
                         "0 or 1 horizontal, 2 vertical, 3 none");
    }
    case LS_LENS_PIXELS: {
      const double k[4] = {lens.fx, lens.fy, lens.cx, lens.cy};
      if (!finite(k, 4) || lens.fx <= 0 || lens.fy <= 0) {
        return invalid(field + ".fx/fy/cx/cy", list(k, 4),
                       "finite pixels with fx > 0 and fy > 0");
      }
      if ((lens.calib_width == 0) != (lens.calib_height == 0)) {
        return invalid(field + ".calib_width/calib_height",
                       format("%ux%u", lens.calib_width, lens.calib_height),
                       "both 0 (the output size) or both > 0");
      }
      return LS_OK;
    }
    default:
      return invalid(field + ".kind", std::to_string(lens.kind),
                     "LS_LENS_NONE (0), LS_LENS_FOV (1), LS_LENS_PHYSICAL (2) or "
                     "LS_LENS_PIXELS (3)");
  }
}

ls_status check_session_options(const ls_session_options& o) {
  const std::string f = "session_options.";
  ls_status st = LS_OK;
  if (o.world_id && o.world_id[0] && o.tracked_camera && o.tracked_camera[0]) {
    return invalid(f + "world_id", format("'%s' with tracked_camera '%s'", o.world_id,
                                          o.tracked_camera),
                   "at most one of world_id and tracked_camera");
  }
  if ((st = check_range(f + "new_world_kind", o.new_world_kind, 0, 2,
                        "LS_WORLD_EMPTY (0), LS_WORLD_INDOOR (1) or LS_WORLD_OUTDOOR (2)")))
    return st;
  if ((st = check_range(f + "width", o.width, 1, 65535, "1.. pixels (the server's limit)")))
    return st;
  if ((st = check_range(f + "height", o.height, 1, 65535, "1.. pixels (the server's limit)")))
    return st;
  if ((st = check_range(f + "encoding", o.encoding, 1, 4,
                        "LS_ENCODING_RAW_RGB8 (1), LS_ENCODING_RAW_RGBA8 (2), "
                        "LS_ENCODING_JPEG (3) or LS_ENCODING_RAW_BGRA8 (4)")))
    return st;
  if ((st = check_range(f + "jpeg_quality", o.jpeg_quality, 0, 100, "1..100 (0 = 90)")))
    return st;
  if ((st = check_range(f + "convention", o.convention, 1, 6,
                        "LS_CONVENTION_OPENCV (1) .. LS_CONVENTION_BLENDER (6)")))
    return st;
  if ((st = check_lens(o.lens, f + "lens"))) return st;
  if (!(std::isfinite(o.target_fps) && o.target_fps >= 0)) {
    return invalid(f + "target_fps", num(o.target_fps), ">= 0 frames per second (0 = none)");
  }
  if ((st = check_range(f + "sampler_steps", o.sampler_steps, 0, 4,
                        "1..4 (0 = the model's default)")))
    return st;
  if ((st = check_range(f + "pacing", o.pacing, 1, 2,
                        "LS_PACING_REALTIME (1) or LS_PACING_LOCKSTEP (2)")))
    return st;
  if ((st = check_range(f + "prediction", o.prediction, -1, 1, "-1 (default), 0 off or 1 on")))
    return st;
  if (!(std::isfinite(o.display_latency_ms) && o.display_latency_ms >= 0 &&
        o.display_latency_ms <= 1000)) {
    return invalid(f + "display_latency_ms", num(o.display_latency_ms), "0..1000 milliseconds");
  }
  if (o.client_name && std::strlen(o.client_name) > 128) {
    return invalid(f + "client_name", format("%zu characters", std::strlen(o.client_name)),
                   "at most 128 characters");
  }
  return check_range(f + "frame_buffers", o.frame_buffers, 2, 16, "2..16 buffers");
}

ls_status check_pose(const ls_pose& p, int32_t convention, const std::string& f) {
  if (!finite(p.position, 3)) {
    return invalid(f + ".position", list(p.position, 3), "finite numbers (no NaN or infinity)");
  }
  if (p.capture_time_ns < 0) {
    return invalid(f + ".capture_time_ns", std::to_string(p.capture_time_ns),
                   ">= 0 ns (0 = now)");
  }
  switch (p.rotation_form) {
    case LS_ROTATION_ROTATOR:
      if (convention != LS_CONVENTION_UNREAL) {
        return invalid(f + ".rotation_form", "LS_ROTATION_ROTATOR",
                       "quaternion or matrix: a rotator is only for LS_CONVENTION_UNREAL");
      }
      if (!finite(p.rotator, 3)) return invalid(f + ".rotator", list(p.rotator, 3), "finite");
      break;
    case LS_ROTATION_UNITY_EULER:
      if (convention != LS_CONVENTION_UNITY) {
        return invalid(f + ".rotation_form", "LS_ROTATION_UNITY_EULER",
                       "quaternion or matrix: unity_euler is only for LS_CONVENTION_UNITY");
      }
      if (!finite(p.rotator, 3)) return invalid(f + ".rotator", list(p.rotator, 3), "finite");
      break;
    case LS_ROTATION_QUATERNION: {
      if (!finite(p.quaternion, 4)) {
        return invalid(f + ".quaternion", list(p.quaternion, 4), "finite numbers");
      }
      const double* q = p.quaternion;
      double norm = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
      if (std::fabs(norm - 1.0) > 1e-3) {
        return invalid(f + ".quaternion", list(q, 4),
                       format("a unit quaternion (|q| = %.6f, allowed 1 +- 1e-3)", norm));
      }
      break;
    }
    case LS_ROTATION_MATRIX:
      if (convention == LS_CONVENTION_UNREAL) {
        return invalid(f + ".rotation_form", "LS_ROTATION_MATRIX",
                       "rotator or quaternion: Unreal's FMatrix is row-vector, so a matrix "
                       "copied from it would be the transpose (a valid rotation the server "
                       "cannot detect)");
      }
      if (!finite(p.matrix, 9)) return invalid(f + ".matrix", list(p.matrix, 9), "finite");
      break;
    default:
      return invalid(f + ".rotation_form", std::to_string(p.rotation_form),
                     "LS_ROTATION_ROTATOR (1), LS_ROTATION_QUATERNION (2), "
                     "LS_ROTATION_MATRIX (3) or LS_ROTATION_UNITY_EULER (4)");
  }
  if (p.timecode.valid && (p.timecode.rate_num == 0 || p.timecode.rate_den == 0)) {
    return invalid(f + ".timecode.rate_num/rate_den",
                   format("%u/%u", p.timecode.rate_num, p.timecode.rate_den),
                   "a frame rate > 0, e.g. 30000/1001 or 25/1");
  }
  return check_lens(p.lens, f + ".lens");
}

void lens_to_proto(const ls_lens& lens, pb::Lens* out) {
  switch (lens.kind) {
    case LS_LENS_FOV: {
      auto* fov = out->mutable_fov();
      fov->set_fov_deg(lens.fov_deg);
      fov->set_axis(static_cast<pb::FovAxis>(lens.fov_axis));
      break;
    }
    case LS_LENS_PHYSICAL: {
      auto* p = out->mutable_physical();
      p->set_focal_length_mm(lens.focal_length_mm);
      p->set_sensor_width_mm(lens.sensor_width_mm);
      p->set_sensor_height_mm(lens.sensor_height_mm);
      p->set_offset_x(lens.offset_x);
      p->set_offset_y(lens.offset_y);
      p->set_gate_fit(static_cast<pb::GateFit>(lens.gate_fit));
      break;
    }
    case LS_LENS_PIXELS: {
      auto* k = out->mutable_pixels();
      k->set_fx(lens.fx);
      k->set_fy(lens.fy);
      k->set_cx(lens.cx);
      k->set_cy(lens.cy);
      k->set_width(lens.calib_width);
      k->set_height(lens.calib_height);
      break;
    }
    default: break;
  }
}

void open_to_proto(const ls_session_options& o, const std::string& attach_world_id,
                   pb::Open* out) {
  out->Clear();
  if (!attach_world_id.empty()) {
    out->set_world_id(attach_world_id);
  } else if (o.tracked_camera && o.tracked_camera[0]) {
    out->set_tracked_camera(o.tracked_camera);
  } else if (o.world_id && o.world_id[0]) {
    out->set_world_id(o.world_id);
  } else {
    auto* spec = out->mutable_new_world();
    if (o.new_world_kind == LS_WORLD_EMPTY) {
      spec->mutable_empty();
    } else {
      spec->mutable_procedural()->set_seed(o.new_world_seed);
      spec->mutable_procedural()->set_kind(static_cast<pb::WorldKind>(o.new_world_kind));
    }
    spec->set_keep(o.new_world_keep != 0);
    if (o.new_world_id && o.new_world_id[0]) spec->set_world_id(o.new_world_id);
  }
  out->mutable_size()->set_width(o.width);
  out->mutable_size()->set_height(o.height);
  out->set_encoding(static_cast<pb::Encoding>(o.encoding));
  out->set_jpeg_quality(o.jpeg_quality);
  out->set_bottom_up(o.bottom_up != 0);
  out->set_convention(static_cast<pb::Convention>(o.convention));
  if (o.lens.kind != LS_LENS_NONE) lens_to_proto(o.lens, out->mutable_lens());
  out->set_target_fps(o.target_fps);
  out->set_sampler_steps(o.sampler_steps);
  out->set_seed(o.seed);
  out->set_pacing(static_cast<pb::Pacing>(o.pacing));
  out->set_prediction(o.prediction < 0    ? pb::PREDICTION_UNSPECIFIED
                      : o.prediction == 0 ? pb::PREDICTION_OFF
                                          : pb::PREDICTION_ON);
  out->set_display_latency_ms(o.display_latency_ms);
  out->set_client_name(o.client_name ? o.client_name : "latentstage-native");
}

void pose_to_proto(const ls_pose& p, pb::Pose* out) {
  out->set_frame_id(p.frame_id);
  out->set_capture_time_ns(p.capture_time_ns);
  if (p.timecode.valid) {
    auto* tc = out->mutable_timecode();
    tc->set_hours(p.timecode.hours);
    tc->set_minutes(p.timecode.minutes);
    tc->set_seconds(p.timecode.seconds);
    tc->set_frames(p.timecode.frames);
    tc->mutable_rate()->set_num(p.timecode.rate_num);
    tc->mutable_rate()->set_den(p.timecode.rate_den);
    tc->set_drop_frame(p.timecode.drop_frame != 0);
  } else if (out->has_timecode()) {
    out->clear_timecode();
  }
  auto* pos = out->mutable_position();
  pos->set_x(p.position[0]);
  pos->set_y(p.position[1]);
  pos->set_z(p.position[2]);
  auto* rot = out->mutable_rotation();
  switch (p.rotation_form) {
    case LS_ROTATION_ROTATOR: {
      auto* r = rot->mutable_rotator();
      r->set_pitch_deg(p.rotator[0]);
      r->set_yaw_deg(p.rotator[1]);
      r->set_roll_deg(p.rotator[2]);
      break;
    }
    case LS_ROTATION_UNITY_EULER: {
      auto* e = rot->mutable_unity_euler();
      e->set_x_deg(p.rotator[0]);
      e->set_y_deg(p.rotator[1]);
      e->set_z_deg(p.rotator[2]);
      break;
    }
    case LS_ROTATION_QUATERNION: {
      auto* q = rot->mutable_quaternion();
      q->set_x(p.quaternion[0]);
      q->set_y(p.quaternion[1]);
      q->set_z(p.quaternion[2]);
      q->set_w(p.quaternion[3]);
      break;
    }
    case LS_ROTATION_MATRIX: {
      auto* m = rot->mutable_matrix()->mutable_m();
      m->Resize(9, 0.0);
      for (int i = 0; i < 9; ++i) m->Set(i, p.matrix[i]);
      break;
    }
    default: break;
  }
  if (p.lens.kind != LS_LENS_NONE) {
    lens_to_proto(p.lens, out->mutable_lens());
  } else if (out->has_lens()) {
    out->clear_lens();
  }
}

void frame_from_wire(const wire::Frame& f, int64_t received_ns, ls_frame* out) {
  const wire::Image& img = f.image();
  out->pixels = reinterpret_cast<const uint8_t*>(img.data().data());
  out->size_bytes = img.data().size();
  out->width = img.width();
  out->height = img.height();
  out->stride = img.stride();
  out->encoding = img.encoding();
  out->bottom_up = img.bottom_up() ? 1 : 0;
  out->frame_id = f.frame_id();
  out->capture_time_ns = f.capture_time_ns();
  ls_timecode& tc = out->timecode;
  tc.valid = f.has_timecode() ? 1 : 0;
  tc.hours = f.timecode().hours();
  tc.minutes = f.timecode().minutes();
  tc.seconds = f.timecode().seconds();
  tc.frames = f.timecode().frames();
  tc.rate_num = f.timecode().rate().num();
  tc.rate_den = f.timecode().rate().den();
  tc.drop_frame = f.timecode().drop_frame() ? 1 : 0;
  const auto& m = f.rendered_c2w().m();
  for (int i = 0; i < 16; ++i) out->rendered_c2w[i] = i < m.size() ? m.Get(i) : 0.0;
  out->fx = f.intrinsics().fx();
  out->fy = f.intrinsics().fy();
  out->cx = f.intrinsics().cx();
  out->cy = f.intrinsics().cy();
  out->rung = f.rung();
  out->sampler_steps = f.sampler_steps();
  out->memory_written = f.memory_written() ? 1 : 0;
  out->sequence = f.sequence();
  out->poses_skipped = f.poses_skipped();
  out->frames_dropped_server = f.frames_dropped();
  out->predicted_ms = f.predicted_ms();
  const wire::Timing& t = f.timing();
  out->queue_ms = t.queue_ms();
  out->readout_ms = t.readout_ms();
  out->generate_ms = t.generate_ms();
  out->decode_ms = t.decode_ms();
  out->write_ms = t.write_ms();
  out->encode_ms = t.encode_ms();
  out->total_ms = t.total_ms();
  const wire::MemoryStats& mem = f.memory();
  out->memory_points = mem.points();
  out->memory_capacity = mem.capacity();
  out->memory_bytes = mem.bytes();
  out->memory_used_bytes = mem.used_bytes();
  out->memory_evictions = mem.evictions();
  out->memory_writes = mem.writes();
  out->memory_coverage = mem.coverage();
  out->received_ns = received_ns;
}

void server_info_from_proto(const pb::ServerInfo& in, ls_server_info* out) {
  std::memset(out, 0, sizeof *out);
  copy_text(in.model_id(), out->model_id, sizeof out->model_id);
  copy_text(in.backend(), out->backend, sizeof out->backend);
  copy_text(in.device(), out->device, sizeof out->device);
  auto version = in.versions().find("latentstage");
  if (version != in.versions().end()) {
    copy_text(version->second, out->server_version, sizeof out->server_version);
  }
  out->protocol_revision = in.protocol_revision();
  const pb::Limits& lim = in.limits();
  out->max_width = lim.max_width();
  out->max_height = lim.max_height();
  out->max_sessions = lim.max_sessions();
  out->max_worlds = lim.max_worlds();
  out->max_send_bytes = lim.max_send_bytes();
  out->max_receive_bytes = lim.max_receive_bytes();
  out->max_fps = lim.max_fps();
  out->latent_stride = in.latent_stride();
  out->native_width = in.native_size().width();
  out->native_height = in.native_size().height();
  out->default_sampler_steps = in.default_sampler_steps();
  out->sessions = in.sessions();
  out->worlds = in.worlds();
  out->auth_required = in.auth_required() ? 1 : 0;
}

void world_from_proto(const pb::WorldInfo& in, ls_world_info* out) {
  std::memset(out, 0, sizeof *out);
  copy_text(in.world_id(), out->world_id, sizeof out->world_id);
  copy_text(in.name(), out->name, sizeof out->name);
  copy_text(in.source(), out->source, sizeof out->source);
  out->sessions = in.sessions();
  out->keep = in.keep() ? 1 : 0;
  out->points = in.memory().points();
  out->capacity = in.memory().capacity();
  out->bytes = in.memory().bytes();
  out->evictions = in.memory().evictions();
  out->writes = in.memory().writes();
  out->created_unix_ms = in.created_unix_ms();
}

}  // namespace ls
