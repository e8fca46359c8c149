// server.h: the plugin process: go-plugin handshake, AutoMTLS gRPC server on a unix
// socket, the services of services.h, and orderly shutdown.
//
// SECURITY: runs as the Vault/OpenBao server's user, started by it. Trusts only a TLS
// client presenting a certificate that chains to PLUGIN_CLIENT_CERT. The socket is
// created with umask 077. SIGINT is ignored (go-plugin rule: the host stops us through
// GRPCController.Shutdown); SIGTERM stops us cleanly.
// ERRORS: start-up failures are written to stderr (hclog JSON) and give exit status 1;
// a clean shutdown returns 0.
#pragma once

namespace smtpplugin {

int runPlugin();

}  // namespace smtpplugin
