// grpc_host.h: Storage and SystemView (host.h) served by Vault/OpenBao on the brokered
// connection (pb.Storage, pb.SystemView), and the channel that reaches it.
//
// SECURITY: the channel uses the same AutoMTLS material as our server: our certificate
// as client identity, the host certificate (PLUGIN_CLIENT_CERT) as the only root, name
// "localhost". Storage values (the config holds the database password) pass through
// protobuf strings; callers wipe what they keep.
// ERRORS: gRPC failures and the host's error strings are Temporary.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "plugin/host.h"

namespace smtpplugin {

// "unix" + "/path" or "tcp" + "127.0.0.1:port" -> a TLS channel to the host.
std::shared_ptr<grpc::Channel> dialHost(const std::string& network, const std::string& address,
                                        std::shared_ptr<grpc::ChannelCredentials> credentials);

std::unique_ptr<Storage> makeGrpcStorage(std::shared_ptr<grpc::Channel> channel);
std::unique_ptr<SystemView> makeGrpcSystemView(std::shared_ptr<grpc::Channel> channel);

}  // namespace smtpplugin
