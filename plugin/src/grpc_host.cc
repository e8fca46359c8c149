// grpc_host.cc: pb.Storage and pb.SystemView clients on the brokered channel
// (see grpc_host.h).
//
// SECURITY: TLS channel with the AutoMTLS material (credentials built once in main);
// the target name is overridden to "localhost", the SAN of the host's certificate.
// Values read from storage may be secret (config): they are handed to the engine, which
// wipes its copies.
// ERRORS: a failed RPC or a non-empty `err` in the reply is Temporary (Vault answers
// again after a restart or unseal); every call has a 30 s deadline.
#include "plugin/grpc_host.h"

#include <algorithm>
#include <chrono>
#include <climits>

#include "backend.grpc.pb.h"

namespace smtpplugin {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(30);

void setDeadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
}

foundation::Error rpcError(const char* what, const grpc::Status& status) {
  return foundation::Error::temporary(std::string(what) + ": gRPC " +
                                      std::to_string(static_cast<int>(status.error_code())) + " " +
                                      status.error_message().substr(0, 200));
}

class GrpcStorage final : public Storage {
 public:
  explicit GrpcStorage(std::shared_ptr<grpc::Channel> channel)
      : stub_(pb::Storage::NewStub(std::move(channel))) {}

  foundation::Result<std::optional<std::string>> get(std::string_view key) override {
    grpc::ClientContext ctx;
    setDeadline(ctx);
    pb::StorageGetArgs args;
    args.set_key(std::string(key));
    pb::StorageGetReply reply;
    const auto status = stub_->Get(&ctx, args, &reply);
    if (!status.ok()) return rpcError("storage get", status);
    if (!reply.err().empty()) return foundation::Error::temporary("storage get: " + reply.err());
    if (!reply.has_entry()) return std::optional<std::string>();
    return std::optional<std::string>(std::move(*reply.mutable_entry()->mutable_value()));
  }

  foundation::Status put(std::string_view key, std::string_view value) override {
    grpc::ClientContext ctx;
    setDeadline(ctx);
    pb::StoragePutArgs args;
    args.mutable_entry()->set_key(std::string(key));
    args.mutable_entry()->set_value(std::string(value));
    pb::StoragePutReply reply;
    const auto status = stub_->Put(&ctx, args, &reply);
    // The serialised request held the value (maybe a password): wipe our copy.
    std::string* v = args.mutable_entry()->mutable_value();
    if (!v->empty()) std::fill(v->begin(), v->end(), '\0');
    if (!status.ok()) return rpcError("storage put", status);
    if (!reply.err().empty()) return foundation::Error::temporary("storage put: " + reply.err());
    return {};
  }

  foundation::Status remove(std::string_view key) override {
    grpc::ClientContext ctx;
    setDeadline(ctx);
    pb::StorageDeleteArgs args;
    args.set_key(std::string(key));
    pb::StorageDeleteReply reply;
    const auto status = stub_->Delete(&ctx, args, &reply);
    if (!status.ok()) return rpcError("storage delete", status);
    if (!reply.err().empty()) return foundation::Error::temporary("storage delete: " + reply.err());
    return {};
  }

  foundation::Result<std::vector<std::string>> list(std::string_view prefix) override {
    grpc::ClientContext ctx;
    setDeadline(ctx);
    pb::StorageListArgs args;
    args.set_prefix(std::string(prefix));
    pb::StorageListReply reply;
    const auto status = stub_->List(&ctx, args, &reply);
    if (!status.ok()) return rpcError("storage list", status);
    if (!reply.err().empty()) return foundation::Error::temporary("storage list: " + reply.err());
    return std::vector<std::string>(reply.keys().begin(), reply.keys().end());
  }

 private:
  std::unique_ptr<pb::Storage::Stub> stub_;
};

class GrpcSystemView final : public SystemView {
 public:
  explicit GrpcSystemView(std::shared_ptr<grpc::Channel> channel)
      : stub_(pb::SystemView::NewStub(std::move(channel))) {}

  foundation::Result<std::int64_t> defaultLeaseTtlNs() override {
    grpc::ClientContext ctx;
    setDeadline(ctx);
    pb::TTLReply reply;
    const auto status = stub_->DefaultLeaseTTL(&ctx, pb::Empty(), &reply);
    if (!status.ok()) return rpcError("system view DefaultLeaseTTL", status);
    return static_cast<std::int64_t>(reply.ttl());
  }

  foundation::Result<std::int64_t> maxLeaseTtlNs() override {
    grpc::ClientContext ctx;
    setDeadline(ctx);
    pb::TTLReply reply;
    const auto status = stub_->MaxLeaseTTL(&ctx, pb::Empty(), &reply);
    if (!status.ok()) return rpcError("system view MaxLeaseTTL", status);
    return static_cast<std::int64_t>(reply.ttl());
  }

 private:
  std::unique_ptr<pb::SystemView::Stub> stub_;
};

}  // namespace

std::shared_ptr<grpc::Channel> dialHost(const std::string& network, const std::string& address,
                                        std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetMaxReceiveMessageSize(INT_MAX);
  args.SetMaxSendMessageSize(INT_MAX);
  const std::string target = network == "unix" ? "unix:" + address : address;
  return grpc::CreateCustomChannel(target, std::move(credentials), args);
}

std::unique_ptr<Storage> makeGrpcStorage(std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<GrpcStorage>(std::move(channel));
}

std::unique_ptr<SystemView> makeGrpcSystemView(std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<GrpcSystemView>(std::move(channel));
}

}  // namespace smtpplugin
