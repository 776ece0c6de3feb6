// Status codes and the thread-local last error (see latentstage.h, "Rules").
#pragma once

#include <grpcpp/support/status.h>

#include <exception>
#include <new>
#include <string>

#include "latentstage/latentstage.h"

namespace ls {

// Store `message` as the calling thread's last error and return `status`.
ls_status fail(ls_status status, std::string message);

// "<field>: got <value>, expected <expected>": the server's wording (runtime/errors.py).
ls_status invalid(const std::string& field, const std::string& value,
                  const std::string& expected);

// The calling thread's last error ("" if none).
const char* last_error();

// A gRPC status as an ls_status. Codes the header lists keep their numbers; UNKNOWN and
// DATA_LOSS become LS_INTERNAL, PERMISSION_DENIED LS_UNAUTHENTICATED, ABORTED LS_UNAVAILABLE
// and OUT_OF_RANGE LS_INVALID_ARGUMENT.
ls_status status_of(grpc::StatusCode code);

// Fail with a gRPC status: the server's message verbatim, prefixed by `context` (e.g.
// "target 127.0.0.1:1: ") only when given.
ls_status fail_grpc(const grpc::Status& status, const std::string& context = "");

// printf-style formatting into a std::string.
#if defined(__GNUC__)
#define LS_PRINTF_LIKE __attribute__((format(printf, 1, 2)))
#else
#define LS_PRINTF_LIKE
#endif
std::string format(const char* fmt, ...) LS_PRINTF_LIKE;

// Run `body` (returning ls_status): no exception crosses the C boundary.
template <class F>
ls_status guarded(const char* function, F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(LS_RESOURCE_EXHAUSTED, std::string(function) + ": out of memory");
  } catch (const std::exception& exc) {
    return fail(LS_INTERNAL, std::string(function) + ": internal error: " + exc.what() +
                                 " (please report it)");
  } catch (...) {
    return fail(LS_INTERNAL, std::string(function) + ": internal error (please report it)");
  }
}

}  // namespace ls
