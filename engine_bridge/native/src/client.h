// A connected client: one channel whose receive limit is the server's send limit, the unary
// RPCs (server info, worlds), and the Session method the sessions stream on.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "convert.h"
#include "latentstage/v1/service.grpc.pb.h"

namespace ls {

class ClientImpl {
 public:
  // Connect: GetServerInfo on a bootstrap channel (default limits: the reply is small), check
  // the protocol revision, then open the channel used from then on, whose limits are the
  // server's (receive = limits.max_send_bytes, send = limits.max_receive_bytes).
  static ls_status connect(const ls_connect_options& options, std::shared_ptr<ClientImpl>* out);

  ls_status server_info(ls_server_info* out);
  ls_status create_world(const pb::WorldSpec& spec, ls_world_info* out);
  ls_status save_world(const char* world_id, const char* name, char* out_name,
                       size_t out_name_size, uint64_t* out_bytes);
  ls_status load_world(const char* snapshot_name, const char* label, ls_world_info* out);
  ls_status delete_world(const char* world_id, bool force);
  ls_status list_worlds(ls_world_info* out, size_t capacity, size_t* count);

  // Cancel every unary call in flight (ls_client_destroy): they return LS_CANCELLED.
  void cancel_calls();

  // Authorization metadata on a context (every call and stream).
  void authorize(grpc::ClientContext* context) const;
  // The world header a proxy routes by (docs/scale-out.md); nothing for "".
  static void route(grpc::ClientContext* context, const std::string& world_id);

  grpc::ChannelInterface* channel() const { return channel_.get(); }
  const grpc::internal::RpcMethod& session_method() const { return *session_method_; }
  uint32_t timeout_ms() const { return timeout_ms_; }
  const ls_server_info& info_at_connect() const { return info_; }
  const std::string& target() const { return target_; }

 private:
  // A unary call with the client's deadline, cancellable by cancel_calls().
  // ``world_id`` (when not empty) travels in the header x-latentstage-world (routing by world).
  template <class Request, class Reply, class Method>
  ls_status unary(Method method, const Request& request, Reply* reply, const char* what,
                  const std::string& world_id = "");

  std::string target_;
  std::string token_;
  uint32_t timeout_ms_ = 10000;
  ls_server_info info_{};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::LatentStageService::Stub> stub_;
  std::unique_ptr<grpc::internal::RpcMethod> session_method_;
  std::mutex calls_mu_;
  std::set<grpc::ClientContext*> calls_;  // unary calls in flight
  bool cancelled_ = false;                // cancel_calls() ran: new calls fail at once
};

}  // namespace ls
