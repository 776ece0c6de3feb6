#include "errors.h"

#include <cstdarg>
#include <cstdio>

namespace ls {
namespace {
thread_local std::string t_last_error;
}  // namespace

ls_status fail(ls_status status, std::string message) {
  t_last_error = std::move(message);
  return status;
}

ls_status invalid(const std::string& field, const std::string& value,
                  const std::string& expected) {
  return fail(LS_INVALID_ARGUMENT, field + ": got " + value + ", expected " + expected);
}

const char* last_error() { return t_last_error.c_str(); }

ls_status status_of(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return LS_OK;
    case grpc::StatusCode::CANCELLED: return LS_CANCELLED;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return LS_INVALID_ARGUMENT;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return LS_DEADLINE_EXCEEDED;
    case grpc::StatusCode::NOT_FOUND: return LS_NOT_FOUND;
    case grpc::StatusCode::ALREADY_EXISTS: return LS_ALREADY_EXISTS;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return LS_RESOURCE_EXHAUSTED;
    case grpc::StatusCode::FAILED_PRECONDITION: return LS_FAILED_PRECONDITION;
    case grpc::StatusCode::UNIMPLEMENTED: return LS_UNIMPLEMENTED;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::ABORTED: return LS_UNAVAILABLE;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return LS_UNAUTHENTICATED;
    default: return LS_INTERNAL;
  }
}

ls_status fail_grpc(const grpc::Status& status, const std::string& context) {
  std::string message = status.error_message();
  if (message.empty()) message = format("gRPC status %d", static_cast<int>(status.error_code()));
  return fail(status_of(status.error_code()), context + message);
}

std::string format(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  if (n < 0) return std::string();
  if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
  std::string out(static_cast<size_t>(n) + 1, '\0');
  va_start(args, fmt);
  std::vsnprintf(out.data(), out.size(), fmt, args);
  va_end(args);
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace ls
