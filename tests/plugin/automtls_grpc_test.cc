// automtls_grpc_test.cc: AutoMTLS over real gRPC (unix sockets, TLS 1.3, system OpenSSL)
// with a go-plugin-style P-521 host certificate, in both directions: the host calling
// our pb.Backend, and our brokered pb.Storage client calling the host. The most fragile
// part of the protocol (docs/PLUGIN.md), so it is guarded here without Vault.
// SECURITY: test-only; throwaway keys; sockets in a private mkdtemp directory.
// ERRORS: doctest assertions; servers are shut down at the end of each subcase.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "fakes.h"
#include "foundation/secret.h"
#include "plugin/automtls.h"
#include "plugin/grpc_host.h"
#include "plugin/services.h"

using namespace smtpplugin;

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/plugin-mtls-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    (void)::unlink((path + "/plugin.sock").c_str());
    (void)::unlink((path + "/host.sock").c_str());
    (void)::rmdir(path.c_str());
  }
  std::string path;
};

std::shared_ptr<grpc::ServerCredentials> serverCredentials(const TlsIdentity& self,
                                                           const std::string& trusted) {
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = trusted;
  opts.pem_key_cert_pairs.push_back({self.key_pem, self.cert_pem});
  return grpc::SslServerCredentials(opts);
}

std::shared_ptr<grpc::ChannelCredentials> channelCredentials(const TlsIdentity& self,
                                                             const std::string& trusted) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = trusted;
  opts.pem_private_key = self.key_pem;
  opts.pem_cert_chain = self.cert_pem;
  return grpc::SslCredentials(opts);
}

class HostStorage final : public pb::Storage::Service {
 public:
  grpc::Status Get(grpc::ServerContext*, const pb::StorageGetArgs* args,
                   pb::StorageGetReply* reply) override {
    if (args->key() == "config") {
      reply->mutable_entry()->set_key("config");
      reply->mutable_entry()->set_value("{}");
    }
    return grpc::Status::OK;
  }
};

}  // namespace

TEST_CASE("AutoMTLS with a P-521 host certificate: host -> plugin and plugin -> host") {
  foundation::initSecretMemoryOrDie();
  auto host = generateTlsIdentity("P-521");
  auto plugin_id = generateTlsIdentity();
  auto stranger = generateTlsIdentity("P-521");
  REQUIRE(host.ok());
  REQUIRE(plugin_id.ok());
  REQUIRE(stranger.ok());
  TempDir dir;

  // The plugin's server, as server.cc builds it.
  smtpplugin::testing::FakeDatabase db;
  smtpplugin::testing::FakeMailStoreFactory factory(db);
  BrokerService broker;
  BackendService backend(broker, channelCredentials(*plugin_id, host->cert_pem), factory);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + dir.path + "/plugin.sock",
                           serverCredentials(*plugin_id, host->cert_pem));
  builder.RegisterService(&backend);
  auto server = builder.BuildAndStart();
  REQUIRE(server != nullptr);

  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  SUBCASE("the host, presenting its P-521 certificate, reaches pb.Backend") {
    auto channel = grpc::CreateCustomChannel("unix:" + dir.path + "/plugin.sock",
                                             channelCredentials(*host, plugin_id->cert_pem), args);
    auto stub = pb::Backend::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::TypeReply reply;
    const auto status = stub->Type(&ctx, pb::Empty(), &reply);
    CHECK_MESSAGE(status.ok(), status.error_message());
    CHECK(reply.type() == 1);
  }
  SUBCASE("a client whose certificate the host did not issue is refused") {
    auto channel =
        grpc::CreateCustomChannel("unix:" + dir.path + "/plugin.sock",
                                  channelCredentials(*stranger, plugin_id->cert_pem), args);
    auto stub = pb::Backend::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    pb::TypeReply reply;
    CHECK_FALSE(stub->Type(&ctx, pb::Empty(), &reply).ok());
  }
  SUBCASE("our brokered storage client reaches the host's P-521 server") {
    HostStorage storage_service;
    grpc::ServerBuilder host_builder;
    host_builder.AddListeningPort("unix:" + dir.path + "/host.sock",
                                  serverCredentials(*host, plugin_id->cert_pem));
    host_builder.RegisterService(&storage_service);
    auto host_server = host_builder.BuildAndStart();
    REQUIRE(host_server != nullptr);
    auto channel =
        dialHost("unix", dir.path + "/host.sock", channelCredentials(*plugin_id, host->cert_pem));
    auto storage = makeGrpcStorage(channel);
    auto got = storage->get("config");
    REQUIRE_MESSAGE(got.ok(), (got.ok() ? std::string() : got.errorMessage()));
    REQUIRE(got.value().has_value());
    CHECK(*got.value() == "{}");
    auto missing = storage->get("nothing");
    REQUIRE(missing.ok());
    CHECK_FALSE(missing.value().has_value());
    host_server->Shutdown();
  }
  server->Shutdown();
}
