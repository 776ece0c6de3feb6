#include "client.h"

#include <cctype>
#include <chrono>
#include <climits>

namespace ls {
namespace {

constexpr char kSessionMethod[] = "/latentstage.v1.LatentStageService/Session";

std::chrono::system_clock::time_point deadline_after(uint32_t ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

int clamp_int(uint64_t bytes) {
  return bytes > static_cast<uint64_t>(INT_MAX) ? INT_MAX : static_cast<int>(bytes);
}

grpc::ChannelArguments base_arguments() {
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix("latentstage-native/" + std::to_string(LS_VERSION_MAJOR) + "." +
                          std::to_string(LS_VERSION_MINOR) + "." +
                          std::to_string(LS_VERSION_PATCH));
  // A dead peer is noticed within ~15 s even on an idle stream (the server allows pings
  // every 5 s); a restarted server is reconnected to within 2 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return args;
}

// Whether a status was made by the gRPC library rather than sent by the server: those get the
// target as context, the server's own messages pass through verbatim.
bool transport_status(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAVAILABLE ||
         st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         st.error_code() == grpc::StatusCode::CANCELLED;
}

}  // namespace

ls_status ClientImpl::connect(const ls_connect_options& o, std::shared_ptr<ClientImpl>* out) {
  if (o.target == nullptr || o.target[0] == '\0') {
    return invalid("connect_options.target", o.target ? "\"\"" : "NULL",
                   "\"host:port\", e.g. \"127.0.0.1:50051\"");
  }
  if (o.timeout_ms == 0) {
    return invalid("connect_options.timeout_ms", "0", "> 0 milliseconds (default 10000)");
  }
  auto client = std::make_shared<ClientImpl>();
  client->target_ = o.target;
  client->timeout_ms_ = o.timeout_ms;
  if (o.token && o.token[0]) client->token_ = std::string("Bearer ") + o.token;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (o.use_tls) {
    grpc::SslCredentialsOptions ssl;
    if (o.tls_roots_pem) ssl.pem_root_certs = o.tls_roots_pem;
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }

  // Bootstrap: the server's limits, over a channel with gRPC's default limits.
  pb::GetServerInfoResponse reply;
  {
    auto boot = grpc::CreateCustomChannel(client->target_, creds, base_arguments());
    auto stub = pb::LatentStageService::NewStub(boot);
    grpc::ClientContext ctx;
    client->authorize(&ctx);
    ctx.set_deadline(deadline_after(client->timeout_ms_));
    grpc::Status st = stub->GetServerInfo(&ctx, pb::GetServerInfoRequest(), &reply);
    if (!st.ok()) {
      if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
          st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return fail(LS_UNAVAILABLE,
                    format("connect_options.target: got \"%s\", expected a LatentStage server "
                           "answering within %u ms (%s)",
                           o.target, o.timeout_ms, st.error_message().c_str()));
      }
      if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        return fail(LS_UNIMPLEMENTED,
                    format("connect_options.target: \"%s\" has no latentstage.v1."
                           "LatentStageService (not a LatentStage server, or one older than "
                           "protocol revision %d): %s",
                           o.target, LS_PROTOCOL_REVISION, st.error_message().c_str()));
      }
      return fail_grpc(st);
    }
  }
  server_info_from_proto(reply.info(), &client->info_);
  if (client->info_.protocol_revision != LS_PROTOCOL_REVISION) {
    return fail(LS_FAILED_PRECONDITION,
                format("server_info.protocol_revision: got %u, expected %d (this library "
                       "speaks latentstage.v1 revision %d; use a matching server or library)",
                       client->info_.protocol_revision, LS_PROTOCOL_REVISION,
                       LS_PROTOCOL_REVISION));
  }

  grpc::ChannelArguments args = base_arguments();
  // The fix for 1080p+ raw frames: gRPC's C++ default receive limit is 4 MiB.
  args.SetMaxReceiveMessageSize(clamp_int(client->info_.max_send_bytes + 64 * 1024));
  args.SetMaxSendMessageSize(clamp_int(client->info_.max_receive_bytes));
  client->channel_ = grpc::CreateCustomChannel(client->target_, creds, args);
  client->stub_ = pb::LatentStageService::NewStub(client->channel_);
  client->session_method_ = std::make_unique<grpc::internal::RpcMethod>(
      kSessionMethod, grpc::internal::RpcMethod::BIDI_STREAMING, client->channel_);
  *out = std::move(client);
  return LS_OK;
}

void ClientImpl::authorize(grpc::ClientContext* context) const {
  if (!token_.empty()) context->AddMetadata("authorization", token_);
}

void ClientImpl::route(grpc::ClientContext* context, const std::string& world_id) {
  // Only a plausible world id goes into the header (the server refuses others from the
  // message, naming the field); a huge or binary one would fail inside gRPC instead.
  if (world_id.empty() || world_id.size() > 64) return;
  for (char c : world_id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return;
    }
  }
  context->AddMetadata("x-latentstage-world", world_id);
}

template <class Request, class Reply, class Method>
ls_status ClientImpl::unary(Method method, const Request& request, Reply* reply,
                            const char* what, const std::string& world_id) {
  grpc::ClientContext ctx;
  authorize(&ctx);
  route(&ctx, world_id);
  ctx.set_deadline(deadline_after(timeout_ms_));
  {
    std::lock_guard<std::mutex> lock(calls_mu_);
    if (cancelled_) return fail(LS_CANCELLED, std::string(what) + ": the client is destroyed");
    calls_.insert(&ctx);
  }
  grpc::Status st = ((*stub_).*method)(&ctx, request, reply);
  {
    std::lock_guard<std::mutex> lock(calls_mu_);
    calls_.erase(&ctx);
  }
  if (st.ok()) return LS_OK;
  if (transport_status(st)) {
    return fail_grpc(st, format("%s on %s (timeout %u ms): ", what, target_.c_str(),
                                timeout_ms_));
  }
  return fail_grpc(st);  // the server's own message, verbatim
}

void ClientImpl::cancel_calls() {
  std::lock_guard<std::mutex> lock(calls_mu_);
  cancelled_ = true;
  for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
}

ls_status ClientImpl::server_info(ls_server_info* out) {
  pb::GetServerInfoResponse reply;
  ls_status st = unary(&pb::LatentStageService::Stub::GetServerInfo,
                       pb::GetServerInfoRequest(), &reply, "GetServerInfo");
  if (st == LS_OK) server_info_from_proto(reply.info(), out);
  return st;
}

ls_status ClientImpl::create_world(const pb::WorldSpec& spec, ls_world_info* out) {
  pb::CreateWorldRequest request;
  *request.mutable_spec() = spec;
  pb::CreateWorldResponse reply;
  ls_status st = unary(&pb::LatentStageService::Stub::CreateWorld, request, &reply,
                       "CreateWorld", spec.world_id());
  if (st == LS_OK && out) world_from_proto(reply.world(), out);
  return st;
}

ls_status ClientImpl::save_world(const char* world_id, const char* name, char* out_name,
                                 size_t out_name_size, uint64_t* out_bytes) {
  pb::SaveWorldRequest request;
  request.set_world_id(world_id);
  if (name) request.set_name(name);
  pb::SaveWorldResponse reply;
  ls_status st = unary(&pb::LatentStageService::Stub::SaveWorld, request, &reply, "SaveWorld",
                       world_id);
  if (st != LS_OK) return st;
  if (out_name) copy_text(reply.name(), out_name, out_name_size);
  if (out_bytes) *out_bytes = reply.bytes();
  return LS_OK;
}

ls_status ClientImpl::load_world(const char* snapshot_name, const char* label,
                                 ls_world_info* out) {
  pb::LoadWorldRequest request;
  request.mutable_snapshot()->set_name(snapshot_name);
  if (label) request.set_name(label);
  pb::LoadWorldResponse reply;
  ls_status st = unary(&pb::LatentStageService::Stub::LoadWorld, request, &reply, "LoadWorld");
  if (st == LS_OK && out) world_from_proto(reply.world(), out);
  return st;
}

ls_status ClientImpl::delete_world(const char* world_id, bool force) {
  pb::DeleteWorldRequest request;
  request.set_world_id(world_id);
  request.set_force(force);
  pb::DeleteWorldResponse reply;
  return unary(&pb::LatentStageService::Stub::DeleteWorld, request, &reply, "DeleteWorld",
               world_id);
}

ls_status ClientImpl::list_worlds(ls_world_info* out, size_t capacity, size_t* count) {
  pb::ListWorldsResponse reply;
  ls_status st = unary(&pb::LatentStageService::Stub::ListWorlds, pb::ListWorldsRequest(),
                       &reply, "ListWorlds");
  if (st != LS_OK) return st;
  size_t n = static_cast<size_t>(reply.worlds_size());
  for (size_t i = 0; i < n && i < capacity; ++i) {
    world_from_proto(reply.worlds(static_cast<int>(i)), &out[i]);
  }
  *count = n;
  return LS_OK;
}

}  // namespace ls
