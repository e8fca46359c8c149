// keeper_main.cc: the keeper role: Vault login, the leased SMTP credential, and the
// answers to the worker's credential requests.
//
// SECURITY: the only process with the Vault token and the credential. It trusts
// nothing the worker sends: every message is decoded by ipc.h and a malformed one
// ends this process (after revoking what it holds). It answers a CredentialRequest
// with one credential and nothing else; it never forwards Vault data wholesale.
// ERRORS: permanent login errors exit with kExitConfig (the supervisor stops);
// temporary ones (Vault unreachable) are retried with backoff while the worker
// reports not-ready.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "sidecar/base/log.h"
#include "sidecar/base/seccomp.h"
#include "sidecar/ipc/fd_passing.h"
#include "sidecar/ipc/handoff.h"
#include "sidecar/ipc/ipc.h"
#include "sidecar/ipc/roles.h"
#include "sidecar/keeper/credential_keeper.h"
#include "sidecar/keeper/handoff_memory.h"
#include "sidecar/keeper/keeper.h"
#include "sidecar/keeper/vault_requests.h"
#include "vault/client.h"

namespace sidecar {
namespace {

class Keeper {
 public:
  Keeper(const Config& config, std::string config_path, vault::Client& client,
         const telemetry::VaultRequestRecorder& vault_requests)
      : credentials_(config.vault, client, foundation::systemClock(), foundation::systemUniform(),
                     config.credentialPaths()),
        client_(client),
        spool_(config.spool),
        config_path_(std::move(config_path)),
        secret_id_from_environment_(config.vault.secret_id_from_environment),
        vault_requests_(vault_requests) {}

  int run() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
    if (signal_fd_ < 0) return 1;

    if (!receiveHandoffMemory()) return fatal("no hand-off memory message from the supervisor");
    if (secret_id_from_environment_ && !receiveSecretId()) {
      return fatal("no secret_id from the supervisor");
    }
    takeOverPredecessor();
    if (int code = startWithBackoff(); code >= 0) return code;
    saveHandoff();

    while (true) {
      // Renewals, rotations and revocations that are due, then wait until the next
      // one or a message, whichever comes first.
      CredentialKeeper::Changes changes;
      const auto next = credentials_.tick(changes);
      publish(changes);
      saveHandoff();
      warnIfSecretIdExpiring();
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          next - foundation::systemClock().now());
      const int timeout_ms = static_cast<int>(std::clamp<std::int64_t>(wait.count() + 1, 0, 60000));
      pollfd fds[3] = {{signal_fd_, POLLIN, 0}, {kControlFd, POLLIN, 0}, {peer_fd_, POLLIN, 0}};
      const nfds_t count = peer_fd_ >= 0 ? 3 : 2;
      if (::poll(fds, count, timeout_ms) < 0) {
        if (errno == EINTR) continue;
        return fatal("poll failed");
      }
      if (fds[0].revents != 0) {
        signalfd_siginfo info{};
        if (::read(signal_fd_, &info, sizeof info) == sizeof info) {
          if (info.ssi_signo != SIGHUP) return stop();
          reload();
        }
      }
      if (fds[1].revents != 0 && !onControl()) return stop();
      if (count == 3 && fds[2].revents != 0 && !onPeer()) return fatal("malformed worker message");
    }
  }

 private:
  // Logs in and leases. Returns an exit code to stop with, or -1 when ready.
  int startWithBackoff() {
    foundation::Backoff backoff(
        foundation::BackoffPolicy{std::chrono::seconds(1), std::chrono::seconds(30), 2.0, 0.2});
    while (true) {
      auto started = credentials_.start();
      if (started) return -1;
      log::error("keeper_start_failed", {{"error", started.error().message},
                                         {"kind", foundation::toString(started.error().kind)}});
      if (started.error().kind != foundation::ErrorKind::Temporary) {
        if (handoff_) handoff_->clear();
        (void)credentials_.revokeAll();
        return kExitConfig;
      }
      // Wait for the backoff, but stop at once on SIGTERM.
      pollfd p{signal_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(backoff.next().count())) > 0) {
        signalfd_siginfo info{};
        if (::read(signal_fd_, &info, sizeof info) == sizeof info && info.ssi_signo != SIGHUP) {
          return stop();
        }
      }
    }
  }

  // The supervisor's first message: the hand-off memory (issue 14), as SCM_RIGHTS; a
  // supervisor that could not create it sends the message without a descriptor.
  bool receiveHandoffMemory() {
    int fd = -1;
    if (!ipc::receivePacket(kControlFd, in_, fd)) return false;
    ipc::Reader r(in_.view());
    const bool ok = r.header() && ipc::decodeHandoffMemory(r);
    in_.wipe();
    if (!ok) {
      if (fd >= 0) ::close(fd);
      return false;
    }
    if (fd < 0) {
      log::warn("handoff_unavailable",
                {{"detail",
                  "the supervisor has no hand-off memory: a keeper crash needs a new "
                  "secret_id"}});
      return true;
    }
    auto mapped = HandoffMemory::map(fd);
    if (!mapped) {
      log::warn("handoff_unavailable", {{"error", mapped.error().message}});
      return true;
    }
    handoff_.emplace(std::move(*mapped));
    return true;
  }

  // A predecessor that died without revoking (kill -9, a crash, the OOM killer) left
  // its record: its token and leases are taken over or revoked, never orphaned.
  void takeOverPredecessor() {
    if (!handoff_) return;
    auto record = handoff_->load();
    if (!record) return;
    log::info("handoff_found", {{"accessor", record->token_accessor},
                                {"leases", static_cast<std::int64_t>(record->leases.size())}});
    CredentialKeeper::Changes changes;
    credentials_.adoptHandoff(std::move(*record), changes);
  }

  static std::uint64_t unixNow() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  }

  // A secret_id that will not outlive the current token (or has a quarter of its TTL
  // left) means the next re-login fails unless a new one is delivered: said while
  // there is time, every 15 minutes, beside smtp_sidecar_secret_id_expires_seconds.
  // (The keeper cannot mint one: only the delivery identity can, by design.)
  void warnIfSecretIdExpiring() {
    const std::uint64_t now = unixNow();
    if (now < next_secret_id_warning_) return;
    std::uint64_t left = 0;
    if (!credentials_.secretIdExpiring(now, left)) {
      next_secret_id_warning_ = now + 60;
      return;
    }
    log::warn(left == 0 ? "secret_id_expired" : "secret_id_expiring",
              {{"seconds_left", static_cast<std::int64_t>(left)},
               {"detail",
                "the next Vault login (at the token's max TTL, or after it is revoked) needs a "
                "new secret_id: restart the sidecar with a new delivery (ExecStartPre, the pod's "
                "delivery container) before then"}});
    next_secret_id_warning_ = now + 900;
  }

  // Rewrites the record when what it holds has changed.
  void saveHandoff() {
    if (!handoff_) return;
    const std::uint64_t fingerprint = credentials_.handoffFingerprint();
    if (fingerprint == handoff_fingerprint_) return;
    ipc::HandoffState state;
    credentials_.exportHandoff(state);
    if (!handoff_->store(state)) {
      log::warn("handoff_not_saved", {{"detail", "the record does not fit its slot"}});
    }
    handoff_fingerprint_ = fingerprint;
  }

  // The supervisor's message when the secret_id came in its environment.
  bool receiveSecretId() {
    int fd = -1;
    if (!ipc::receivePacket(kControlFd, in_, fd)) return false;
    if (fd >= 0) ::close(fd);
    ipc::Reader r(in_.view());
    foundation::SecretBytes secret_id;
    const bool ok = fd < 0 && r.header() && ipc::decodeSecretId(r, secret_id);
    in_.wipe();
    if (ok) credentials_.giveSecretId(std::move(secret_id));
    return ok;
  }

  bool onControl() {
    int fd = -1;
    if (!ipc::receivePacket(kControlFd, in_, fd)) return false;  // the supervisor is gone
    ipc::Reader r(in_.view());
    if (!r.header() || !ipc::decodePeerChannel(r) || fd < 0) {
      if (fd >= 0) ::close(fd);
      return false;
    }
    if (peer_fd_ >= 0) ::close(peer_fd_);
    peer_fd_ = fd;
    if (ipc::encodeHello(out_) && ipc::sendPacket(peer_fd_, out_)) sendStatus();
    return true;
  }

  // One message from the worker. False ends the keeper: the worker may be compromised.
  bool onPeer() {
    int fd = -1;
    if (!ipc::receivePacket(peer_fd_, in_, fd)) {
      if (errno != 0) return false;
      // The worker went away; the supervisor sends a new channel with the next one.
      ::close(peer_fd_);
      peer_fd_ = -1;
      return true;
    }
    if (fd >= 0) {
      ::close(fd);
      return false;  // the worker never sends descriptors
    }
    ipc::Reader r(in_.view());
    if (!r.header()) return false;
    switch (r.type()) {
      case ipc::MessageType::Hello:
        return ipc::decodeHello(r);
      case ipc::MessageType::CredentialRequest: {
        std::uint32_t path_index = 0;
        return ipc::decodeCredentialRequest(r, path_index) &&
               answerCredentialRequest(r.requestId(), path_index);
      }
      case ipc::MessageType::MetricsRequest:
        return ipc::decodeMetricsRequest(r) && answerMetricsRequest(r.requestId());
      case ipc::MessageType::SpoolKeyRequest: {
        std::string wrapped;
        return ipc::decodeSpoolKeyRequest(r, wrapped) &&
               answerSpoolKeyRequest(r.requestId(), wrapped);
      }
      case ipc::MessageType::CredentialRefused: {
        ipc::LeaseMessage refused;
        if (!ipc::decodeLease(r, refused)) return false;
        onCredentialRefused(refused);
        return true;
      }
      default:
        return false;  // a message only the keeper may send
    }
  }

  // `path_index` is the worker's word: an index out of range (a reload the keeper has
  // not seen yet) gets NoCredential; the answer names the path, which the worker checks.
  bool answerCredentialRequest(std::uint32_t request_id, std::uint32_t path_index) {
    // Encoded straight from the keeper's copy into the (locked, reused) send packet.
    bool encoded = false;
    const bool have = credentials_.withCredential(path_index, [&](const ipc::SmtpCredential& c) {
      encoded =
          ipc::encodeCredential(request_id, credentials_.path(path_index), c.lease_id,
                                credentials_.generation(), c.username, c.password, out_, c.kind);
    });
    if (!have) {
      encoded = ipc::encodeNoCredential(request_id, out_);
    }
    if (!encoded) return false;
    (void)ipc::sendPacket(peer_fd_, out_);  // a vanished worker is noticed on read
    out_.wipe();
    return true;
  }

  // The spool's data key. Only the keeper talks to Transit, and only with the key
  // the configuration names (never one the worker names). The worker's wrapped form
  // is checked for shape; Transit decrypts it only under this app's key, so the worker
  // can learn nothing but a data key made for its own spool.
  bool answerSpoolKeyRequest(std::uint32_t request_id, const std::string& wrapped) {
    auto refuse = [&](const std::string& reason) {
      log::warn("spool_key_unavailable", {{"error", reason}});
      if (ipc::encodeNoCredential(request_id, out_)) {
        (void)ipc::sendPacket(peer_fd_, out_);
      }
      return true;
    };
    if (spool_.directory.empty() || spool_.transit_key.empty()) {
      return refuse("no spool configured");
    }
    const bool shaped =
        wrapped.empty() ||
        (wrapped.rfind("vault:v", 0) == 0 &&
         wrapped.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789+/=:") == std::string::npos);
    if (!shaped) return refuse("the wrapped spool key is not Transit ciphertext");
    if (!credentials_.ready()) return refuse("not logged in to Vault yet");
    foundation::SecretBytes key;
    std::string wrapped_out = wrapped;
    if (wrapped.empty()) {
      auto made = client_.transitDataKey(spool_.transit_mount, spool_.transit_key, 256);
      if (!made) return refuse("transit datakey: " + made.error().message);
      key = std::move(made->plaintext);
      wrapped_out = std::move(made->ciphertext);
      log::info("spool_key_created", {{"transit_key", spool_.transit_key}});
    } else {
      auto opened = client_.transitDecrypt(spool_.transit_mount, spool_.transit_key, wrapped);
      if (!opened) return refuse("transit decrypt: " + opened.error().message);
      key = std::move(*opened);
      log::info("spool_key_unwrapped", {{"transit_key", spool_.transit_key}});
    }
    if (key.size() != ipc::kSpoolKeyBytes) {
      return refuse("transit gave a data key of " + std::to_string(key.size()) + " bytes");
    }
    if (!ipc::encodeSpoolKey(request_id, wrapped_out, key, out_)) return false;
    (void)ipc::sendPacket(peer_fd_, out_);
    out_.wipe();
    return true;
  }

  // The keeper's figures for the worker's GET /metrics: totals, no secrets, no lease ids.
  bool answerMetricsRequest(std::uint32_t request_id) {
    telemetry::KeeperFigures figures;
    const auto& stats = credentials_.stats();
    figures.leases_active = credentials_.leasesActive();
    figures.lease_renewals = stats.lease_renewals;
    figures.lease_renewal_failures = stats.lease_renewal_failures;
    figures.token_renewals = stats.token_renewals;
    figures.token_renewal_failures = stats.token_renewal_failures;
    figures.logins = stats.logins;
    figures.login_failures = stats.login_failures;
    for (const auto& [reason, count] : stats.rotations)
      figures.rotations.push_back({reason, count});
    for (std::size_t i = 0; i < credentials_.pathCount(); ++i) {
      figures.expiry.push_back({credentials_.path(i), credentials_.secondsToExpiry(i)});
    }
    vault_requests_.fill(figures);
    if (const std::uint64_t expires = credentials_.secretIdExpiresUnix(); expires != 0) {
      const std::uint64_t now = unixNow();
      figures.secret_id_expiry_known = true;
      figures.secret_id_expires_seconds = expires > now ? expires - now : 0;
    }
    if (!ipc::encodeMetrics(request_id, figures, out_)) return false;
    (void)ipc::sendPacket(peer_fd_, out_);
    return true;
  }

  void onCredentialRefused(const ipc::LeaseMessage& refused) {
    CredentialKeeper::Changes changes;
    credentials_.credentialRefused(refused.lease_id, changes);
    publish(changes);
  }

  // Tells the worker what changed: readiness, and leases whose connections must close.
  void publish(const CredentialKeeper::Changes& changes) {
    for (const auto& lease_id : changes.retired_leases) {
      if (peer_fd_ >= 0 &&
          ipc::encodeLease(ipc::MessageType::CredentialRetired, {lease_id}, out_)) {
        (void)ipc::sendPacket(peer_fd_, out_);
      }
    }
    if (changes.credential_changed) sendStatus();
  }

  void sendStatus() {
    if (peer_fd_ >= 0 && ipc::encodeStatus({credentials_.ready()}, out_)) {
      (void)ipc::sendPacket(peer_fd_, out_);
    }
  }

  void reload() {
    auto fresh = loadConfig(config_path_, secret_id_from_environment_);
    if (!fresh) {
      log::error("config_reload_refused", {{"error", fresh.error().message}});
      return;
    }
    log::setMinimumLevel(fresh->process.log_level);
    for (const auto& key : credentials_.reconfigure(fresh->vault, fresh->credentialPaths())) {
      log::warn("config_restart_required", {{"key", key}});
    }
    log::info("keeper_reloaded", {{"credential_paths", credentials_.pathCount()}});
    // A new path is leased at once (the next tick); until then the keeper is not ready.
    sendStatus();
  }

  int stop() {
    log::info("keeper_stopping");
    // A clean stop revokes everything: nothing is left for a successor to take over.
    if (handoff_) handoff_->clear();
    const auto revoked = credentials_.revokeAll();
    return revoked ? 0 : 1;
  }

  int fatal(const char* what) {
    log::error("keeper_fatal", {{"error", what}});
    (void)credentials_.revokeAll();
    // The successor logs in again (role_id and secret_id are kept); the token and the
    // leases are revoked, so the record no longer names them.
    handoff_fingerprint_ = 0;
    saveHandoff();
    return 1;
  }

  CredentialKeeper credentials_;
  vault::Client& client_;  // the same client credentials_ uses (this thread only)
  SpoolSettings spool_;
  std::string config_path_;
  bool secret_id_from_environment_;
  const telemetry::VaultRequestRecorder& vault_requests_;
  int signal_fd_ = -1;
  int peer_fd_ = -1;
  std::optional<HandoffMemory> handoff_;
  std::uint64_t handoff_fingerprint_ = 0;
  std::uint64_t next_secret_id_warning_ = 0;
  ipc::Packet in_;  // reused for every message: no allocation per request
  ipc::Packet out_;
};

}  // namespace

int runKeeper(const Config& config, const std::string& config_path) {
  if (config.process.seccomp) {
    if (auto s = installSeccompFilter(SeccompRole::Keeper); !s) {
      log::error("seccomp_failed", {{"error", s.error().message}});
      return kExitConfig;
    }
  }
  std::vector<vault::HttpTransportPtr> transports;
  for (const auto& address : config.vault.addresses()) {
    vault::TransportOptions options;
    options.address = address;
    options.ca_file = config.vault.ca_file;
    options.vault_namespace = config.vault.vault_namespace;
    options.request_timeout = config.vault.request_timeout;
    options.connect_timeout = std::chrono::seconds(3);
    auto transport = vault::makeCurlTransport(options);
    if (!transport) {
      log::error("keeper_start_failed", {{"error", transport.error().message}});
      return kExitConfig;
    }
    transports.push_back(std::move(*transport));
  }
  // Few attempts per request: the keeper must keep answering the worker, and renewal
  // has its own backoff (vault::Lifetime) that retries what failed here.
  vault::ClientOptions options;
  options.max_attempts = static_cast<unsigned>(std::max<std::size_t>(2, transports.size()));
  // Counts every Vault request for /metrics (operation words only, never paths).
  telemetry::VaultRequestRecorder vault_requests;
  options.observer = [&vault_requests](const vault::RequestObservation& seen) {
    vault_requests.observe(seen);
  };
  vault::Client client(std::move(transports), options);
  return Keeper(config, config_path, client, vault_requests).run();
}

}  // namespace sidecar
