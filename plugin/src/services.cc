// services.cc: broker, controller, stdio and backend gRPC services (see services.h).
//
// SECURITY: reached only over the mutually authenticated TLS socket. ConnInfo addresses
// come from the host and are only dialled with the same mutual TLS. Request data and
// internal_data are handed to the Engine unparsed; only their size is bounded there.
// Logs name operations, paths and error messages, never request data.
// ERRORS: ProtoError in replies (see services.h); a broken broker stream only ends that
// stream; Setup fails with a message if the broker never announced the id.
#include "plugin/services.h"

#include "plugin/grpc_host.h"
#include "plugin/log.h"

namespace smtpplugin {

// ---------------------------------------------------------------------------- broker

grpc::Status BrokerService::StartStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<plugin::ConnInfo, plugin::ConnInfo>* stream) {
  (void)context;
  plugin::ConnInfo info;
  // The host keeps this stream open for our lifetime; it only ever sends. Read returns
  // false when the host closes it or the server shuts down.
  while (stream->Read(&info)) {
    if (info.has_knock() && info.knock().knock()) continue;  // multiplexing only; unused
    record(info);
  }
  bool expected = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    expected = shutdown_;
  }
  // The host holds this stream for our whole life (go-plugin opens it once per client).
  // Its end without a Shutdown means the host is gone: don't linger as an orphan.
  if (!expected && on_host_gone_) {
    logLine(LogLevel::Warn, "broker stream closed by the host without a shutdown: exiting");
    on_host_gone_();
  }
  return grpc::Status::OK;
}

void BrokerService::record(const plugin::ConnInfo& info) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    conns_[info.service_id()] = info;
  }
  changed_.notify_all();
  logLine(LogLevel::Debug, "broker: connection info received",
          {{"service_id", std::to_string(info.service_id())}, {"network", info.network()}});
}

std::optional<plugin::ConnInfo> BrokerService::waitFor(std::uint32_t id,
                                                       std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool found =
      changed_.wait_for(lock, timeout, [&] { return shutdown_ || conns_.count(id) != 0; });
  if (!found || shutdown_) return std::nullopt;
  auto it = conns_.find(id);
  plugin::ConnInfo out = it->second;
  conns_.erase(it);  // each id is used once
  return out;
}

void BrokerService::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_ = true;
  }
  changed_.notify_all();
}

// ---------------------------------------------------------------------------- controller

grpc::Status ControllerService::Shutdown(grpc::ServerContext* context, const plugin::Empty* request,
                                         plugin::Empty* reply) {
  (void)context;
  (void)request;
  (void)reply;
  logLine(LogLevel::Info, "shutdown requested by the host");
  if (on_shutdown_) on_shutdown_();
  return grpc::Status::OK;
}

// ---------------------------------------------------------------------------- stdio

grpc::Status StdioService::StreamStdio(grpc::ServerContext* context, const plugin::Empty* request,
                                       grpc::ServerWriter<plugin::StdioData>* writer) {
  (void)request;
  (void)writer;
  // We never forward stdout/stderr over gRPC (logs go to stderr directly); keeping the
  // stream open avoids the host's "stdio service not available" noise.
  std::unique_lock<std::mutex> lock(mutex_);
  while (!shutdown_ && !context->IsCancelled()) {
    changed_.wait_for(lock, std::chrono::milliseconds(500));
  }
  return grpc::Status::OK;
}

void StdioService::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_ = true;
  }
  changed_.notify_all();
}

// ---------------------------------------------------------------------------- translation

Request requestFromProto(const pb::Request& in) {
  Request r;
  r.operation = in.operation();
  r.path = in.path();
  r.data_json = in.data();
  r.display_name = in.display_name();
  r.mount_point = in.mount_point();
  if (in.has_secret()) {
    LeaseIn lease;
    lease.internal_data = in.secret().internal_data();
    if (in.secret().has_lease_options()) {
      const auto& o = in.secret().lease_options();
      lease.ttl_ns = o.ttl();
      lease.max_ttl_ns = o.maxttl();
      lease.increment_ns = o.increment();
      if (o.has_issue_time()) {
        lease.issue_time_s = o.issue_time().seconds();
        lease.has_issue_time = o.issue_time().seconds() > 0;  // Go's zero time is negative
      }
    }
    r.secret = std::move(lease);
  }
  return r;
}

void responseToProto(const foundation::Result<Response>& result, pb::HandleRequestReply& reply) {
  if (!result.ok()) {
    auto* err = reply.mutable_err();
    switch (result.error().kind) {
      case foundation::ErrorKind::Permanent:
        err->set_err_type(1);
        break;  // user error: 400
      case foundation::ErrorKind::Temporary:
        err->set_err_type(0);
        break;  // retryable: 500
      case foundation::ErrorKind::Internal:
        err->set_err_type(2);
        break;  // internal: 500
    }
    err->set_err_msg(result.error().message);
    return;
  }
  const Response& r = result.value();
  if (r.refusal == Response::Refusal::UnsupportedPath) {
    reply.mutable_err()->set_err_type(6);
    reply.mutable_err()->set_err_msg("unsupported path");
    return;
  }
  if (r.refusal == Response::Refusal::UnsupportedOperation) {
    reply.mutable_err()->set_err_type(5);
    reply.mutable_err()->set_err_msg("unsupported operation");
    return;
  }
  if (r.none) return;
  auto* out = reply.mutable_response();
  out->set_data(r.data_json.empty() ? "null" : r.data_json);
  for (const auto& w : r.warnings) out->add_warnings(w);
  if (r.secret) {
    auto* secret = out->mutable_secret();
    secret->set_internal_data(r.secret->internal_data.empty() ? "null" : r.secret->internal_data);
    auto* opts = secret->mutable_lease_options();
    opts->set_ttl(r.secret->ttl_ns);
    opts->set_maxttl(r.secret->max_ttl_ns);
    opts->set_renewable(r.secret->renewable);
    opts->mutable_issue_time()->set_seconds(r.secret->issue_time_s);
    opts->mutable_issue_time()->set_nanos(0);
  }
}

// ---------------------------------------------------------------------------- backend

struct BackendService::Mount {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<SystemView> system_view;
  SystemClock clock;
  SodiumRandom random;
  std::unique_ptr<Engine> engine;
};

BackendService::BackendService(BrokerService& broker,
                               std::shared_ptr<grpc::ChannelCredentials> host_credentials,
                               MailStoreFactory& mail_stores)
    : broker_(broker), host_credentials_(std::move(host_credentials)), mail_stores_(mail_stores) {}

BackendService::~BackendService() = default;

std::shared_ptr<BackendService::Mount> BackendService::mount() {
  std::lock_guard<std::mutex> lock(mutex_);
  return mount_;
}

grpc::Status BackendService::Setup(grpc::ServerContext* context, const pb::SetupArgs* args,
                                   pb::SetupReply* reply) {
  (void)context;
  // The host sends the ConnInfo for this id on the broker stream at about the same
  // time as this call; go-plugin waits 5 s, we allow 10.
  auto info = broker_.waitFor(args->broker_id(), std::chrono::seconds(10));
  if (!info) {
    reply->set_err("broker: no connection info for id " + std::to_string(args->broker_id()));
    logLine(LogLevel::Error, "setup failed", {{"error", reply->err()}});
    return grpc::Status::OK;
  }
  if (info->network() != "unix" && info->network() != "tcp") {
    reply->set_err("broker: unsupported network '" + info->network().substr(0, 16) + "'");
    return grpc::Status::OK;
  }
  auto m = std::make_shared<Mount>();
  m->channel = dialHost(info->network(), info->address(), host_credentials_);
  m->storage = makeGrpcStorage(m->channel);
  m->system_view = makeGrpcSystemView(m->channel);
  m->engine =
      std::make_unique<Engine>(*m->storage, *m->system_view, mail_stores_, m->clock, m->random);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    mount_ = std::move(m);
  }
  const auto plugin_name = args->config().find("plugin_name");
  logLine(LogLevel::Info, "setup complete",
          {{"backend_uuid", args->backenduuid()},
           {"plugin_name", plugin_name != args->config().end() ? plugin_name->second : ""}});
  return grpc::Status::OK;
}

grpc::Status BackendService::HandleRequest(grpc::ServerContext* context,
                                           const pb::HandleRequestArgs* args,
                                           pb::HandleRequestReply* reply) {
  (void)context;
  auto m = mount();
  if (!m) {
    reply->mutable_err()->set_err_type(2);
    reply->mutable_err()->set_err_msg("backend not set up");
    return grpc::Status::OK;
  }
  const Request request = requestFromProto(args->request());
  auto result = m->engine->handle(request);
  if (!result.ok()) {
    logLine(
        result.error().kind == foundation::ErrorKind::Permanent ? LogLevel::Info : LogLevel::Warn,
        "request failed",
        {{"operation", request.operation},
         {"path", request.path.substr(0, 128)},
         {"kind", foundation::toString(result.error().kind)},
         {"error", result.error().message}});
  } else if (request.operation != "rollback") {
    logLine(LogLevel::Debug, "request",
            {{"operation", request.operation}, {"path", request.path.substr(0, 128)}});
  }
  responseToProto(result, *reply);
  return grpc::Status::OK;
}

grpc::Status BackendService::SpecialPaths(grpc::ServerContext* context, const pb::Empty* request,
                                          pb::SpecialPathsReply* reply) {
  (void)context;
  (void)request;
  // Ask for seal-wrapping of the config (it holds the database password) where the
  // server supports it; nothing is unauthenticated or root-only.
  reply->mutable_paths()->add_seal_wrap_storage("config");
  // ... and of the token signing keys (their private halves).
  reply->mutable_paths()->add_seal_wrap_storage("jwt/keys");
  return grpc::Status::OK;
}

grpc::Status BackendService::HandleExistenceCheck(grpc::ServerContext* context,
                                                  const pb::HandleExistenceCheckArgs* args,
                                                  pb::HandleExistenceCheckReply* reply) {
  (void)context;
  (void)args;
  // No existence check: every write is an "update", as for most Vault engines' paths
  // without an ExistenceCheck; policies grant "update" on config and roles.
  reply->set_check_found(false);
  return grpc::Status::OK;
}

grpc::Status BackendService::Cleanup(grpc::ServerContext* context, const pb::Empty* request,
                                     pb::Empty* reply) {
  (void)context;
  (void)request;
  (void)reply;
  std::shared_ptr<Mount> old;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    old = std::move(mount_);
  }
  if (old) old->engine->invalidate();
  logLine(LogLevel::Info, "cleanup");
  return grpc::Status::OK;
}

grpc::Status BackendService::InvalidateKey(grpc::ServerContext* context,
                                           const pb::InvalidateKeyArgs* args, pb::Empty* reply) {
  (void)context;
  (void)reply;
  if (args->key() == "config") {
    if (auto m = mount()) m->engine->invalidate();
  }
  return grpc::Status::OK;
}

grpc::Status BackendService::Initialize(grpc::ServerContext* context,
                                        const pb::InitializeArgs* args,
                                        pb::InitializeReply* reply) {
  (void)context;
  (void)args;
  (void)reply;
  return grpc::Status::OK;
}

grpc::Status BackendService::Type(grpc::ServerContext* context, const pb::Empty* request,
                                  pb::TypeReply* reply) {
  (void)context;
  (void)request;
  reply->set_type(1);  // logical.TypeLogical: a secrets engine
  return grpc::Status::OK;
}

}  // namespace smtpplugin
