// worker_main.cc: the worker role: the submission socket, SMTP sending, and the
// keeper link through which it obtains one credential per send.
//
// SECURITY: faces local clients (every request is parsed by submit_request.h /
// submit_json.h) and the SMTP server. It never sees the Vault token. Each send asks
// the keeper for its profile's credential; the worker keeps one locked copy of each
// credential path's current credential, shared by the sends using it (a new SMTP
// connection builds its AUTH line from it, in locked memory), and destroys (zeroes) it when the
// keeper hands out another, retires that lease, or the link drops. A malformed keeper message ends
// this process.
// ERRORS: HTTP answers to clients; exit 1 on a broken keeper link protocol (the
// supervisor restarts the worker, and the socket it inherited keeps queueing clients).
#include <malloc.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "foundation/random.h"
#include "sidecar/base/log.h"
#include "sidecar/base/seccomp.h"
#include "sidecar/intake/smtp_server.h"
#include "sidecar/intake/submit_server.h"
#include "sidecar/ipc/fd_passing.h"
#include "sidecar/ipc/ipc.h"
#include "sidecar/ipc/roles.h"
#include "sidecar/ipc/smtp_listeners.h"
#include "sidecar/relay/smtp_sender.h"
#include "sidecar/spool/store.h"
#include "sidecar/worker/audit.h"
#include "sidecar/worker/dispatcher.h"
#include "sidecar/worker/keeper_link.h"
#include "sidecar/worker/sidecar_metrics.h"
#include "sidecar/worker/worker.h"
#include "sidecar/worker/worker_setup.h"

namespace sidecar {
namespace {

namespace asio = boost::asio;
constexpr auto kDrainDeadline = std::chrono::seconds(20);

// Every message allocates its buffers (the request, the MIME text, the SMTP flight that
// carries it; for large messages megabytes). With glibc's defaults the top of the
// heap is given back (brk) when a message ends and faulted in again, page by page, for
// the next one. Keeping up to 8 MiB of free heap and serving blocks below 1 MiB from
// the heap stops that churn; the memory stays with this process, as it would be
// needed again for the next message anyway.
void keepHeapForMessages() {
  if (::mallopt(M_TRIM_THRESHOLD, 8 << 20) != 1 || ::mallopt(M_MMAP_THRESHOLD, 1 << 20) != 1) {
    log::warn("mallopt_failed");  // only slower
  }
}

}  // namespace

int runWorker(const Config& config, const std::string& config_path) {
  if (config.process.seccomp) {
    if (auto s = installSeccompFilter(SeccompRole::Worker); !s) {
      log::error("seccomp_failed", {{"error", s.error().message}});
      return kExitConfig;
    }
  }
  keepHeapForMessages();
  asio::io_context io;
  audit::Log audit;
  if (auto s = audit.open(config.audit.file); !s) {
    log::error("worker_start_failed", {{"error", s.error().message}});
    return 1;
  }
  std::optional<spool::Store> store;
  if (!config.spool.directory.empty()) {
    auto opened = spool::Store::open(config.spool.directory, worker::spoolLimits(config.spool));
    if (!opened) {
      log::error("worker_start_failed", {{"error", opened.error().message}});
      return opened.error().kind == foundation::ErrorKind::Permanent ? kExitConfig : 1;
    }
    store = std::move(*opened);
  } else {
    log::warn("spool_disabled",
              {{"detail", "asynchronous messages live in memory only: a restart loses them"}});
  }
  worker::KeeperLink keeper(io);
  telemetry::WorkerMetrics metrics;
  worker::WorkerDispatcher dispatcher(io, keeper, config, audit, metrics, std::move(store));
  keeper.onRetired([&dispatcher](const std::string& lease_id) { dispatcher.retire(lease_id); });
  keeper.onConnected([&dispatcher] { dispatcher.keeperConnected(); });
  submit::SubmitServer server(io, config.listen, config.profiles, dispatcher);
  dispatcher.setProfileMetrics([&server](metrics::Registry& registry) {
    telemetry::exportProfileStats(server.profileStats(), server.peersRefused(), registry);
  });
  if (auto s = server.adopt(kListenFd); !s) {
    log::error("worker_start_failed", {{"error", s.error().message}});
    return 1;
  }
  // The SMTP intake on the listeners the supervisor made (if configured): same profiles
  // and dispatcher as the HTTP intake.
  intake::SmtpServer smtp(io, config.listen, server, dispatcher);
  for (int i = 0; i < 3; ++i) {
    const int fd = ipc::kSmtpListenFds[i];
    if (!ipc::isListeningSocket(fd)) continue;
    if (auto s = i == 0 ? smtp.adoptUnix(fd) : smtp.adoptTcp(fd); !s) {
      log::error("worker_start_failed", {{"error", s.error().message}});
      return 1;
    }
  }

  // The supervisor hands over the keeper channel (again after a keeper restart).
  asio::posix::stream_descriptor control(io, kControlFd);
  ipc::Packet control_packet;
  std::function<void()> wait_control = [&] {
    control.async_wait(asio::posix::stream_descriptor::wait_read,
                       [&](boost::system::error_code ec) {
                         if (ec) return;
                         int fd = -1;
                         if (!ipc::receivePacket(kControlFd, control_packet, fd)) {
                           log::info("supervisor_gone");
                           return io.stop();
                         }
                         ipc::Reader r(control_packet.view());
                         if (!r.header() || !ipc::decodePeerChannel(r) || fd < 0) {
                           log::error("worker_fatal", {{"error", "malformed control message"}});
                           std::_Exit(1);
                         }
                         keeper.connect(fd);
                         wait_control();
                       });
  };
  wait_control();

  // SIGHUP (forwarded by the supervisor once the file validated): apply what can
  // change while running.
  Config current = config;
  asio::signal_set hangups(io, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangups.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      auto fresh = loadConfig(config_path, config.vault.secret_id_from_environment);
      if (!fresh) {
        log::error("config_reload_refused", {{"error", fresh.error().message}});
        return wait_hangup();
      }
      log::setMinimumLevel(fresh->process.log_level);
      // Who applies what: config.cc's parameter table (the supervisor names the keys
      // that need a restart).
      const worker::WorkerReload changed = worker::workerReload(current, *fresh);
      if (changed.sender) dispatcher.reconfigure(*fresh);
      if (changed.profiles) {
        server.setProfiles(fresh->profiles);
        dispatcher.setCredentialPaths(fresh->credentialPaths());
      }
      // Reopened on every SIGHUP: after log rotation the old file was moved away.
      if (auto s = audit.reopen(fresh->audit.file); !s) {
        log::error("audit_reopen_failed", {{"error", s.error().message}});
      }
      current = std::move(*fresh);
      log::info("worker_reloaded", {{"changed", static_cast<std::int64_t>(changed.changed)}});
      wait_hangup();
    });
  };
  wait_hangup();

  asio::signal_set signals(io, SIGTERM, SIGINT);
  asio::steady_timer drain_timer(io);
  auto drain_deadline = std::chrono::steady_clock::now();
  std::function<void()> wait_for_drain = [&] {
    if (dispatcher.mustDrain() == 0 || std::chrono::steady_clock::now() > drain_deadline) {
      return io.stop();
    }
    drain_timer.expires_after(std::chrono::milliseconds(50));
    drain_timer.async_wait([&](boost::system::error_code) { wait_for_drain(); });
  };
  signals.async_wait([&](boost::system::error_code ec, int signo) {
    if (ec) return;
    log::info("worker_stopping", {{"signal", signo}, {"in_flight", dispatcher.inFlight()}});
    if (dispatcher.asyncPending() > 0 && !dispatcher.spooled()) {
      log::warn("async_messages_at_risk",
                {{"messages", static_cast<std::int64_t>(dispatcher.asyncPending())},
                 {"detail", "no spool: messages not sent before the drain deadline are lost"}});
    }
    server.close();
    smtp.close();
    dispatcher.stop();
    drain_deadline = std::chrono::steady_clock::now() + kDrainDeadline;
    wait_for_drain();
  });

  log::info("worker_ready", {{"socket", config.listen.socket_path},
                             {"smtp_socket", config.listen.smtp_socket_path},
                             {"smtp_port", config.listen.smtp_port}});
  io.run();
  if (dispatcher.asyncPending() > 0) {
    if (dispatcher.spooled()) {
      log::info("spool_kept", {{"messages", static_cast<std::int64_t>(dispatcher.asyncPending())}});
    } else {
      log::error("async_messages_lost",
                 {{"messages", static_cast<std::int64_t>(dispatcher.asyncPending())}});
    }
  }
  return 0;
}

}  // namespace sidecar
