// server.cc: the plugin process (see server.h).
//
// SECURITY: see server.h. Order matters: check the cookie before anything else, listen
// before printing the handshake line, print it as the only stdout output and flush.
// The private key PEM is wiped as soon as the gRPC credentials hold it.
// ERRORS: every failing step is logged to stderr and ends the process with status 1.
#include "plugin/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "foundation/secret.h"
#include "plugin/automtls.h"
#include "plugin/handshake.h"
#include "plugin/log.h"
#include "plugin/services.h"

namespace smtpplugin {
namespace {

std::mutex g_stop_mutex;
std::condition_variable g_stop_cv;
bool g_stop = false;

void requestStop() {
  {
    std::lock_guard<std::mutex> lock(g_stop_mutex);
    g_stop = true;
  }
  g_stop_cv.notify_all();
}

bool writeAll(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

int fail(const std::string& message) {
  logLine(LogLevel::Error, message);
  return 1;
}

}  // namespace

int runPlugin() {
  // go-plugin: a Ctrl-C on the host's terminal must not kill us before the host cleans
  // up. SIGPIPE: a closed peer is an error value, not a death.
  if (::signal(SIGINT, SIG_IGN) == SIG_ERR || ::signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    return fail("cannot ignore SIGINT/SIGPIPE");
  }
  if (auto st = checkMagicCookie(std::getenv(kMagicCookieKey)); !st) {
    // Not through logLine: a human ran us by hand, or the host probes for another kind.
    const std::string msg = st.error().message + "\n";
    (void)writeAll(STDERR_FILENO, msg);
    return 1;
  }
  foundation::initSecretMemoryOrDie();
  if (auto st = checkProtocolVersions(std::getenv("PLUGIN_PROTOCOL_VERSIONS")); !st) {
    return fail(st.error().message);
  }
  auto host_cert = parseHostCertificate(std::getenv("PLUGIN_CLIENT_CERT"));
  if (!host_cert) return fail(host_cert.error().message);
  auto identity = generateTlsIdentity();
  if (!identity) return fail(identity.error().message);
  auto socket_path = makeSocketPath(std::getenv("PLUGIN_UNIX_SOCKET_DIR"), std::getenv("TMPDIR"));
  if (!socket_path) return fail(socket_path.error().message);

  // SIGTERM is handled by a dedicated thread: block it before gRPC starts its threads.
  sigset_t term_set;
  if (sigemptyset(&term_set) != 0 || sigaddset(&term_set, SIGTERM) != 0 ||
      pthread_sigmask(SIG_BLOCK, &term_set, nullptr) != 0) {
    return fail("cannot block SIGTERM");
  }
  std::thread([term_set] {
    int sig = 0;
    if (sigwait(&term_set, &sig) == 0) {
      logLine(LogLevel::Info, "SIGTERM: shutting down");
      requestStop();
    }
  }).detach();

  // Mutual TLS on our socket: the host must present a certificate chaining to its own
  // PLUGIN_CLIENT_CERT; we present our fresh self-signed one.
  grpc::SslServerCredentialsOptions server_opts(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  server_opts.pem_root_certs = host_cert.value();
  server_opts.pem_key_cert_pairs.push_back({identity->key_pem, identity->cert_pem});
  auto server_credentials = grpc::SslServerCredentials(server_opts);
  grpc::SslCredentialsOptions client_opts;
  client_opts.pem_root_certs = host_cert.value();
  client_opts.pem_private_key = identity->key_pem;
  client_opts.pem_cert_chain = identity->cert_pem;
  auto host_credentials = grpc::SslCredentials(client_opts);
  wipeString(server_opts.pem_key_cert_pairs.front().private_key);
  wipeString(client_opts.pem_private_key);
  wipeString(identity->key_pem);
  if (!server_credentials || !host_credentials) return fail("cannot build TLS credentials");

  auto mail_stores = makePgMailStoreFactory();
  BrokerService broker([] { requestStop(); });
  StdioService stdio;
  ControllerService controller([] { requestStop(); });
  BackendService backend(broker, host_credentials, *mail_stores);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path.value(), server_credentials);
  builder.SetMaxReceiveMessageSize(INT_MAX);
  builder.SetMaxSendMessageSize(INT_MAX);
  builder.RegisterService(&broker);
  builder.RegisterService(&controller);
  builder.RegisterService(&stdio);
  builder.RegisterService(&backend);
  const mode_t old_umask = ::umask(077);  // only our user (the host's) may connect
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  (void)::umask(old_umask);
  if (!server) return fail("cannot listen on " + socket_path.value());
  if (auto* health = server->GetHealthCheckService()) {
    health->SetServingStatus("plugin", true);
  }

  // Listening: now, and only now, the handshake line. Nothing else ever goes to stdout.
  if (!writeAll(STDOUT_FILENO, handshakeLine(socket_path.value(), identity->cert_der))) {
    server->Shutdown();
    (void)::unlink(socket_path.value().c_str());
    return fail("cannot write the handshake line to stdout");
  }
  logLine(LogLevel::Info, "plugin serving", {{"socket", socket_path.value()}});

  {
    std::unique_lock<std::mutex> lock(g_stop_mutex);
    g_stop_cv.wait(lock, [] { return g_stop; });
  }
  broker.shutdown();
  stdio.shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  if (::unlink(socket_path.value().c_str()) != 0 && errno != ENOENT) {
    logLine(LogLevel::Warn, "cannot remove the socket", {{"error", std::strerror(errno)}});
  }
  logLine(LogLevel::Info, "plugin stopped");
  return 0;
}

}  // namespace smtpplugin
