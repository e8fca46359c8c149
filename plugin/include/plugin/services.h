// services.h: the gRPC services the plugin serves to the Vault/OpenBao host:
// plugin.GRPCBroker (records the host's ConnInfo by id), plugin.GRPCController
// (Shutdown), plugin.GRPCStdio (kept open, no data) and pb.Backend (Setup dials the
// broker for Storage/SystemView, HandleRequest runs the Engine). This is the protocol
// layer only; all engine logic is in engine.h.
//
// SECURITY: only the host reaches these services: the server requires and verifies a
// client certificate issued by PLUGIN_CLIENT_CERT (mutual TLS, server.cc). Request
// contents are passed to the Engine, which validates them. Responses may carry a new
// SMTP password (creds), which lives only in the serialised reply.
// ERRORS: the Backend answers with ProtoError (never a gRPC error status) so the host
// gets a clear message: Permanent -> 1 (user error), Temporary -> 0 (retryable),
// Internal -> 2, unknown path -> 6, unknown operation -> 5. Setup failures go in
// SetupReply.err.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "backend.grpc.pb.h"
#include "go_plugin.grpc.pb.h"
#include "plugin/engine.h"
#include "plugin/mail_store.h"

namespace smtpplugin {

class BrokerService final : public plugin::GRPCBroker::Service {
 public:
  // `on_host_gone` runs when the host's stream ends without a Shutdown first: the host
  // died or dropped us, and nobody will ever call this plugin again.
  explicit BrokerService(std::function<void()> on_host_gone = {})
      : on_host_gone_(std::move(on_host_gone)) {}

  grpc::Status StartStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<plugin::ConnInfo, plugin::ConnInfo>* stream) override;

  // Records a ConnInfo (also the seam for tests).
  void record(const plugin::ConnInfo& info);
  // Waits until the host sent the ConnInfo for `id` (it may come before or after Setup).
  std::optional<plugin::ConnInfo> waitFor(std::uint32_t id, std::chrono::milliseconds timeout);
  void shutdown();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint32_t, plugin::ConnInfo> conns_;
  bool shutdown_ = false;
  std::function<void()> on_host_gone_;
};

class ControllerService final : public plugin::GRPCController::Service {
 public:
  explicit ControllerService(std::function<void()> on_shutdown)
      : on_shutdown_(std::move(on_shutdown)) {}
  grpc::Status Shutdown(grpc::ServerContext* context, const plugin::Empty* request,
                        plugin::Empty* reply) override;

 private:
  std::function<void()> on_shutdown_;
};

class StdioService final : public plugin::GRPCStdio::Service {
 public:
  grpc::Status StreamStdio(grpc::ServerContext* context, const plugin::Empty* request,
                           grpc::ServerWriter<plugin::StdioData>* writer) override;
  void shutdown();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool shutdown_ = false;
};

class BackendService final : public pb::Backend::Service {
 public:
  BackendService(BrokerService& broker, std::shared_ptr<grpc::ChannelCredentials> host_credentials,
                 MailStoreFactory& mail_stores);
  ~BackendService() override;

  grpc::Status HandleRequest(grpc::ServerContext* context, const pb::HandleRequestArgs* args,
                             pb::HandleRequestReply* reply) override;
  grpc::Status SpecialPaths(grpc::ServerContext* context, const pb::Empty* request,
                            pb::SpecialPathsReply* reply) override;
  grpc::Status HandleExistenceCheck(grpc::ServerContext* context,
                                    const pb::HandleExistenceCheckArgs* args,
                                    pb::HandleExistenceCheckReply* reply) override;
  grpc::Status Cleanup(grpc::ServerContext* context, const pb::Empty* request,
                       pb::Empty* reply) override;
  grpc::Status InvalidateKey(grpc::ServerContext* context, const pb::InvalidateKeyArgs* args,
                             pb::Empty* reply) override;
  grpc::Status Setup(grpc::ServerContext* context, const pb::SetupArgs* args,
                     pb::SetupReply* reply) override;
  grpc::Status Initialize(grpc::ServerContext* context, const pb::InitializeArgs* args,
                          pb::InitializeReply* reply) override;
  grpc::Status Type(grpc::ServerContext* context, const pb::Empty* request,
                    pb::TypeReply* reply) override;

 private:
  struct Mount;
  std::shared_ptr<Mount> mount();

  BrokerService& broker_;
  std::shared_ptr<grpc::ChannelCredentials> host_credentials_;
  MailStoreFactory& mail_stores_;
  std::mutex mutex_;
  std::shared_ptr<Mount> mount_;
};

// Translation between pb and the engine's types (pure; unit-tested).
Request requestFromProto(const pb::Request& in);
void responseToProto(const foundation::Result<Response>& result, pb::HandleRequestReply& reply);

}  // namespace smtpplugin
