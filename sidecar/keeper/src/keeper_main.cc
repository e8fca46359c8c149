// keeper_main.cc: the keeper role: Vault login, the leased SMTP credential, and the
// answers to the worker's credential requests.
//
// SECURITY: the only process with the Vault token and the credential. It trusts
// nothing the worker sends: every message is decoded by ipc.h and a malformed one
// ends this process (after revoking what it holds). It answers a CredentialRequest
// with one credential and nothing else; it never forwards Vault data wholesale.
// ERRORS: permanent login errors exit with kExitConfig (the supervisor stops);
// temporary ones (Vault unreachable) are retried with backoff while the worker
// reports not-ready. Once started, every Vault call runs on the Vault-call thread
// (vault_call_thread.h): this loop answers the worker from the published state, so a
// Vault that hangs delays nothing while a credential is valid.
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
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
#include "sidecar/keeper/keeper_answers.h"
#include "sidecar/keeper/spool_key_answer.h"
#include "sidecar/keeper/vault_call_thread.h"
#include "sidecar/keeper/vault_requests.h"
#include "vault/client.h"

namespace sidecar {
namespace {

// Runs `fn` on a thread whose stack is ours: zeroed and unmapped once it returned (a
// thread's stack from the C library would be cached, with its contents, for reuse).
int onScratchStack(std::function<int()> fn) {
  constexpr std::size_t kStackBytes = std::size_t{1} << 20;
  void* stack = ::mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return fn();
  struct Call {
    std::function<int()>* fn;
    int result = 1;
  } call{&fn};
  pthread_attr_t attr;
  pthread_t thread;
  bool ran = false;
  if (::pthread_attr_init(&attr) == 0) {
    if (::pthread_attr_setstack(&attr, stack, kStackBytes) == 0 && ::pthread_create(
                                                                       &thread, &attr,
                                                                       [](void* p) -> void* {
                                                                         auto* c =
                                                                             static_cast<Call*>(p);
                                                                         c->result = (*c->fn)();
                                                                         return nullptr;
                                                                       },
                                                                       &call) == 0) {
      ran = ::pthread_join(thread, nullptr) == 0;
    }
    ::pthread_attr_destroy(&attr);
  }
  if (!ran) call.result = fn();
  sodium_memzero(stack, kStackBytes);
  ::munmap(stack, kStackBytes);
  return call.result;
}

class Keeper {
 public:
  Keeper(const Config& config, std::string config_path, vault::Client& client,
         const telemetry::VaultRequestRecorder& vault_requests)
      : credentials_(config.vault, client, foundation::systemClock(), foundation::systemUniform(),
                     config.credentialPaths()),
        client_(client),
        vault_thread_(credentials_, foundation::systemClock()),
        spool_(config.spool),
        config_path_(std::move(config_path)),
        secret_id_from_environment_(config.vault.secret_id_from_environment),
        vault_requests_(vault_requests) {
    credentials_.useOAuth2Clients(config.oauth2);
  }

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
    // The start-up's Vault calls (hand-off, login, the first leases) run on a stack of
    // their own, wiped and unmapped afterwards; every later call runs on the Vault
    // thread. Otherwise this thread's stack, which from then on only answers the
    // worker, would keep what libcurl, OpenSSL and BLAKE2b left in its frames (the
    // first password among it) for the life of the process.
    const int code = onScratchStack([this] {
      takeOverPredecessor();
      const int started = startWithBackoff();
      if (started < 0) saveHandoff();
      return started;
    });
    if (code >= 0) return code;
    // From here on only the Vault-call thread touches credentials_, client_ and the
    // hand-off record (it rewrites the record after each round).
    vault_thread_.afterEachRound([this](CredentialKeeper&) {
      saveHandoff();
      warnIfSecretIdExpiring();
    });
    if (auto s = vault_thread_.start(); !s) {
      log::error("keeper_start_failed", {{"error", s.error().message}});
      (void)credentials_.revokeAll();
      return 1;
    }
    takePublished();

    while (true) {
      // Wait for a message, the Vault thread's news, or the moment a credential
      // becomes usable or expires (readiness changes then, whatever Vault does).
      const auto now = foundation::systemClock().now();
      int timeout_ms = 60000;
      auto wake_at = keeper::nextValidityChange(state_, now);
      for (const auto& held : held_requests_) {
        if (!wake_at || held.until < *wake_at) wake_at = held.until;
      }
      if (wake_at) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*wake_at - now);
        timeout_ms = static_cast<int>(std::clamp<std::int64_t>(wait.count() + 1, 0, 60000));
      }
      pollfd fds[4] = {{signal_fd_, POLLIN, 0},
                       {vault_thread_.wakeFd(), POLLIN, 0},
                       {kControlFd, POLLIN, 0},
                       {peer_fd_, POLLIN, 0}};
      const nfds_t count = peer_fd_ >= 0 ? 4 : 3;
      if (::poll(fds, count, timeout_ms) < 0) {
        if (errno == EINTR) continue;
        return fatal("poll failed");
      }
      if (fds[1].revents != 0) takePublished();
      if (!answerHeldRequests()) return fatal("cannot answer the worker");
      sendStatusIfChanged();
      if (fds[0].revents != 0) {
        signalfd_siginfo info{};
        if (::read(signal_fd_, &info, sizeof info) == sizeof info) {
          if (info.ssi_signo != SIGHUP) return stop();
          reload();
        }
      }
      if (fds[2].revents != 0 && !onControl()) return stop();
      if (count == 4 && fds[3].revents != 0 && !onPeer()) return fatal("malformed worker message");
    }
  }

 private:
  // Logs in and leases. Returns an exit code to stop with, or -1 when ready.
  [[gnu::noinline]] int startWithBackoff() {
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
  [[gnu::noinline]] bool receiveHandoffMemory() {
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
  [[gnu::noinline]] void takeOverPredecessor() {
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
  [[gnu::noinline]] void saveHandoff() {
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
  [[gnu::noinline]] bool receiveSecretId() {
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
  bool answerCredentialRequest(std::uint32_t request_id, std::uint32_t path_index,
                               bool hold_if_refused = true) {
    // Encoded straight from the keeper's copy into the (locked, reused) send packet.
    // From the Vault thread's last published state: never waits for Vault.
    bool encoded = false;
    const auto now = foundation::systemClock().now();
    const auto* usable = keeper::usablePath(state_, path_index, now);
    if (usable != nullptr && hold_if_refused && refusalPending(usable->credential->lease_id)) {
      // The worker's one retry after a 535 asks at once; the answer waits (at most
      // kHoldForReplacement) for the Vault thread to handle the refusal, so the retry
      // gets the replacement instead of the refused login again.
      held_requests_.push_back({request_id, path_index, now + kHoldForReplacement});
      return true;
    }
    if (usable != nullptr) {
      const ipc::SmtpCredential& c = *usable->credential;
      encoded = ipc::encodeCredential(request_id, usable->path, c.lease_id, state_.generation,
                                      c.kind, c.username, c.password, out_);
    } else {
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
    if (!keeper::spoolKeyShaped(wrapped)) {
      return refuse("the wrapped spool key is not Transit ciphertext");
    }
    if (!keeper::allPathsUsable(state_, foundation::systemClock().now())) {
      return refuse("not logged in to Vault yet");
    }
    // Transit is a Vault call: on the Vault thread; the answer comes back through
    // takePublished().
    vault_thread_.post(
        [this, request_id, wrapped, spool = spool_](CredentialKeeper&, CredentialKeeper::Changes&) {
          keeper::SpoolKeyAnswer answer;
          answer.request_id = request_id;
          answer.wrapped = wrapped;
          if (wrapped.empty()) {
            auto made = client_.transitDataKey(spool.transit_mount, spool.transit_key, 256);
            if (!made) {
              answer.refusal = "transit datakey: " + made.error().message;
            } else {
              answer.key = std::move(made->plaintext);
              answer.wrapped = std::move(made->ciphertext);
              log::info("spool_key_created", {{"transit_key", spool.transit_key}});
            }
          } else {
            auto opened = client_.transitDecrypt(spool.transit_mount, spool.transit_key, wrapped);
            if (!opened) {
              answer.refusal = "transit decrypt: " + opened.error().message;
              // Transit's own "never": the worker sets the old files aside and asks for
              // a new key. Anything else (Vault away, 403, 5xx): it asks again later.
              answer.lost = keeper::classifyTransitDecryptFailure(opened.error()) ==
                            keeper::SpoolKeyFailure::Lost;
            } else {
              answer.key = std::move(*opened);
              log::info("spool_key_unwrapped", {{"transit_key", spool.transit_key}});
            }
          }
          if (answer.refusal.empty() && answer.key.size() != ipc::kSpoolKeyBytes) {
            answer.refusal =
                "transit gave a data key of " + std::to_string(answer.key.size()) + " bytes";
            answer.key = foundation::SecretBytes();
          }
          vault_thread_.answerSpoolKey(std::move(answer));
        });
    return true;
  }

  bool sendSpoolKey(keeper::SpoolKeyAnswer& answer) {
    if (answer.lost) {
      log::error("spool_key_lost",
                 {{"transit_key", spool_.transit_key}, {"error", answer.refusal}});
      if (ipc::encodeSpoolKeyLost(answer.request_id, answer.refusal, out_)) {
        (void)ipc::sendPacket(peer_fd_, out_);
      }
      return true;
    }
    if (!answer.refusal.empty()) {
      log::warn("spool_key_unavailable", {{"error", answer.refusal}});
      if (ipc::encodeNoCredential(answer.request_id, out_)) (void)ipc::sendPacket(peer_fd_, out_);
      return true;
    }
    if (!ipc::encodeSpoolKey(answer.request_id, answer.wrapped, answer.key, out_)) return false;
    (void)ipc::sendPacket(peer_fd_, out_);
    out_.wipe();
    return true;
  }

  // The keeper's figures for the worker's GET /metrics: totals, no secrets, no lease ids.
  bool answerMetricsRequest(std::uint32_t request_id) {
    // The Vault thread publishes a counter as it changes, without waking this loop:
    // take the newest figures, or a round waiting on a hung Vault keeps them stale.
    takePublished();
    telemetry::KeeperFigures figures =
        keeper::keeperFigures(state_, foundation::systemClock().now(), unixNow());
    vault_requests_.fill(figures);
    if (!ipc::encodeMetrics(request_id, figures, out_)) return false;
    (void)ipc::sendPacket(peer_fd_, out_);
    return true;
  }

  void onCredentialRefused(const ipc::LeaseMessage& refused) {
    ++refusals_posted_;
    refused_leases_.insert(refused.lease_id);
    vault_thread_.post([lease_id = refused.lease_id](CredentialKeeper& credentials,
                                                     CredentialKeeper::Changes& changes) {
      credentials.credentialRefused(lease_id, changes);
      ++changes.refusals_handled;
    });
  }

  // A refusal of `lease_id` the Vault thread has not handled yet.
  bool refusalPending(const std::string& lease_id) const {
    return state_.refusals_handled < refusals_posted_ && refused_leases_.count(lease_id) != 0;
  }

  // Answers the requests held for a refused credential once every refusal was handled
  // (the replacement, or the kept credential if none could be leased), and any held
  // for longer than kHoldForReplacement from what there is.
  bool answerHeldRequests() {
    if (held_requests_.empty()) return true;
    const bool all_handled = state_.refusals_handled >= refusals_posted_;
    if (all_handled) refused_leases_.clear();
    const auto now = foundation::systemClock().now();
    std::vector<HeldRequest> still;
    for (const auto& held : held_requests_) {
      if (all_handled || now >= held.until) {
        if (!answerCredentialRequest(held.request_id, held.path_index, false)) return false;
      } else {
        still.push_back(held);
      }
    }
    held_requests_ = std::move(still);
    return true;
  }

  // The Vault thread's news: its state, leases whose connections must close, spool
  // keys. Tells the worker.
  void takePublished() {
    auto drained = vault_thread_.drain();
    state_ = std::move(drained.state);
    for (const auto& lease_id : drained.retired_leases) {
      if (peer_fd_ >= 0 &&
          ipc::encodeLease(ipc::MessageType::CredentialRetired, {lease_id}, out_)) {
        (void)ipc::sendPacket(peer_fd_, out_);
      }
    }
    for (auto& answer : drained.spool_keys) {
      if (peer_fd_ >= 0) (void)sendSpoolKey(answer);
    }
    if (drained.credential_changed) sendStatus();
  }

  ipc::StatusMessage currentStatus() const {
    const auto now = foundation::systemClock().now();
    ipc::StatusMessage m;
    m.ready = keeper::allPathsUsable(state_, now);
    m.valid_seconds = keeper::validSeconds(state_, now);
    m.reason = keeper::notReadyWord(state_, now);
    return m;
  }

  // Readiness changes by itself (a credential expires): tell the worker when it does.
  void sendStatusIfChanged() {
    const auto m = currentStatus();
    if (m.ready != sent_status_.ready || m.reason != sent_status_.reason) sendStatus();
  }

  void sendStatus() {
    const auto m = currentStatus();
    if (peer_fd_ >= 0 && ipc::encodeStatus(m, out_)) {
      (void)ipc::sendPacket(peer_fd_, out_);
      sent_status_ = m;
    }
  }

  void reload() {
    auto fresh = loadConfig(config_path_, secret_id_from_environment_);
    if (!fresh) {
      log::error("config_reload_refused", {{"error", fresh.error().message}});
      return;
    }
    log::setMinimumLevel(fresh->process.log_level);
    // The keeper's state belongs to the Vault thread: the reload runs there. A new
    // path is leased right after it; until then the keeper is not ready.
    vault_thread_.post(
        [vault = fresh->vault, paths = fresh->credentialPaths(), oauth2 = fresh->oauth2](
            CredentialKeeper& credentials, CredentialKeeper::Changes& changes) mutable {
          credentials.useOAuth2Clients(std::move(oauth2));
          for (const auto& key : credentials.reconfigure(vault, paths)) {
            log::warn("config_restart_required", {{"key", key}});
          }
          log::info("keeper_reloaded", {{"credential_paths", credentials.pathCount()}});
          changes.credential_changed = true;
        });
  }

  int stop() {
    log::info("keeper_stopping");
    // A clean stop revokes everything: nothing is left for a successor to take over.
    const auto revoked = vault_thread_.stop([this](CredentialKeeper& c) {
      if (handoff_) handoff_->clear();
      return c.revokeAll();
    });
    return revoked ? 0 : 1;
  }

  int fatal(const char* what) {
    log::error("keeper_fatal", {{"error", what}});
    (void)vault_thread_.stop([this](CredentialKeeper& c) {
      auto revoked = c.revokeAll();
      // The successor logs in again (role_id and secret_id are kept); the token and the
      // leases are revoked, so the record no longer names them.
      handoff_fingerprint_ = 0;
      saveHandoff();
      return revoked;
    });
    return 1;
  }

  CredentialKeeper credentials_;
  vault::Client& client_;  // the same client credentials_ uses (the Vault thread only)
  keeper::VaultCallThread vault_thread_;
  keeper::KeeperState state_;  // as the Vault thread last published it
  // Credential requests held while a refusal is being handled (answerHeldRequests).
  struct HeldRequest {
    std::uint32_t request_id;
    std::uint32_t path_index;
    foundation::SteadyTime until;
  };
  static constexpr std::chrono::seconds kHoldForReplacement{10};
  std::vector<HeldRequest> held_requests_;
  std::uint64_t refusals_posted_ = 0;
  std::set<std::string> refused_leases_;
  ipc::StatusMessage sent_status_;
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
  // Freed blocks are overwritten by glibc (M_PERTURB): what libcurl or OpenSSL freed in
  // this thread's arena (the start-up's answers) does not outlive the free, even when
  // later calls run on another thread with an arena of its own.
  ::mallopt(M_PERTURB, 0x5a);
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
