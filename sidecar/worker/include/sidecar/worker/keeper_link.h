// keeper_link.h: the worker's end of the keeper channel: it asks for each profile's
// credential (one request in flight per path, however many sends wait), keeps one
// locked copy of each path's current credential (answering from it for
// kCredentialReuse after the keeper named it), forwards a 535 as CredentialRefused,
// and fetches the keeper's figures for GET /metrics.
//
// SECURITY: the keeper's messages are decoded by ipc.h's typed decoders; a malformed
// one ends this process (the supervisor restarts it). A credential lives only in
// SecretBytes (ipc::SmtpCredential) and is dropped when the keeper names another for
// its path, retires its lease or says it is not ready, a 535 refuses it, or the link
// drops.
// ERRORS: a request that cannot be sent, or is not answered within
// kCredentialTimeout, completes with nullptr (the send answers "no credential").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "foundation/secret.h"
#include "sidecar/base/log.h"
#include "sidecar/ipc/credential.h"
#include "sidecar/ipc/fd_passing.h"
#include "sidecar/ipc/ipc.h"
#include "sidecar/ipc/keeper_figures.h"

namespace sidecar::worker {

namespace asio = boost::asio;

inline constexpr auto kCredentialTimeout = std::chrono::seconds(10);
inline constexpr auto kMetricsTimeout = std::chrono::seconds(2);  // a scrape must not hang
inline constexpr std::size_t kMaxPendingMetrics = 16;
// How long a credential the keeper has just named answers the path's sends without
// asking again. One keeper round trip per message was a quarter of the worker's system
// calls and woke the keeper for each (bench/syscalls, issue 19). Short, so a rotated
// credential is taken up within this time; a retired lease, a 535, a keeper that says
// not ready or a lost link drop the held copy at once.
inline constexpr auto kCredentialReuse = std::chrono::seconds(1);
// The keeper asks Transit, which may be slow or away: the answer may take this long.
inline constexpr auto kSpoolKeyTimeout = std::chrono::seconds(90);

// The worker's end of the keeper channel. All members are used on the io thread only.
class KeeperLink {
 public:
  using Credential = std::shared_ptr<const ipc::SmtpCredential>;
  using CredentialCallback = std::function<void(Credential)>;  // nullptr: none
  using MetricsCallback = std::function<void(std::optional<telemetry::KeeperFigures>)>;
  // The spool's data key (sidecar/spool/format.h) and its Transit-wrapped form.
  // With `lost` set, neither: Transit said it can never decrypt the wrapped form that
  // was asked about (the keeper's SpoolKeyLost, with Transit's words).
  struct SpoolKey {
    std::string wrapped;
    foundation::SecretBytes key;
    std::string lost;
  };
  using SpoolKeyCallback = std::function<void(std::optional<SpoolKey>)>;  // nullopt: not now

  explicit KeeperLink(asio::io_context& io,
                      std::chrono::steady_clock::duration credential_reuse = kCredentialReuse)
      : io_(io), credential_reuse_(credential_reuse), sweep_timer_(io) {
    sweep();
  }

  // Adopts a new channel from the supervisor; pending requests on the old one fail.
  void connect(int fd);

  // The keeper said ready, and the credential it named is still valid by our own clock
  // (so a keeper that stopped talking cannot keep us "ready" past its expiry).
  bool ready() const {
    return channel_ != nullptr && keeper_ready_ && std::chrono::steady_clock::now() < valid_until_;
  }
  // The keeper's word for why not (ipc::StatusMessage::reason), or "keeper_unreachable".
  std::string notReadyReason() const {
    if (channel_ == nullptr) return "keeper_unreachable";
    if (keeper_ready_ && std::chrono::steady_clock::now() >= valid_until_) {
      return "credential_expired";
    }
    return keeper_reason_.empty() ? std::string("no_credential") : keeper_reason_;
  }
  // Seconds the keeper's current credential remains valid (0: none).
  std::uint64_t credentialValidSeconds() const {
    if (!ready()) return 0;
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                          valid_until_ - std::chrono::steady_clock::now())
                                          .count());
  }

  // The credential of `path`, which is entry `path_index` of the credential paths:
  // the held copy if the keeper named it less than credential_reuse ago, else asked for.
  // Sends that ask for the same path while a request for it is on its way wait for
  // the same answer: one request in flight per path, however many messages arrive at
  // once. (One request per message used to fill the channel's buffer under a burst of
  // submissions: the send failed with EAGAIN and the message was answered "no
  // credential".) The answer is the keeper's credential at a moment after each
  // waiting send asked.
  void requestCredential(std::uint32_t path_index, std::string path, CredentialCallback callback);

  // The keeper's figures for GET /metrics; nullopt when it does not answer in time.
  void requestMetrics(MetricsCallback callback);

  void reportRefused(const std::string& lease_id);

  bool connected() const { return channel_ != nullptr; }

  // The spool's data key from the keeper (which asks Transit): `wrapped` is the form
  // kept beside the spool, empty for a new key. One request at a time; it completes
  // with nullopt when the keeper refuses (NoCredential), times out or goes away, and
  // with a SpoolKey whose `lost` says why when Transit cannot decrypt `wrapped` for good.
  void requestSpoolKey(const std::string& wrapped, SpoolKeyCallback callback);

 private:
  struct Pending {
    std::vector<CredentialCallback> callbacks;  // every send waiting for this answer
    std::string path;                           // the answer must come from this path
    std::chrono::steady_clock::time_point deadline;
  };
  struct PendingMetrics {
    MetricsCallback callback;
    std::chrono::steady_clock::time_point deadline;
  };
  // The credential held for one path: shared by the sends using it.
  struct Held {
    Credential credential;
    std::uint64_t generation = 0;
    std::chrono::steady_clock::time_point named;  // when the keeper last answered with it
  };

  static void answer(Pending& pending, const Credential& credential);

  // One timer for all requests (not one per message): fails requests the keeper has
  // not answered in time.
  void sweep();

  void waitForMessage();

  void onReadable();

  bool dispatch(std::string_view wire);

  // The keeper's answer is the credential already held: same lease and generation,
  // and (constant-time) the same bytes, so nothing depends on how generations count.
  static bool holds(const Held& held, const ipc::CredentialView& m);
  // Lets go of the copy held with this lease (retired, or refused with 535).
  void dropHeld(const std::string& lease_id);

  void forgetInFlight(const std::string& path, std::uint32_t id);

  void complete(std::uint32_t id, const Credential& credential);

  void disconnect();

  void answerSpoolKey(std::optional<SpoolKey> key);

  [[noreturn]] void fatal(const char* what) {
    log::error("worker_fatal", {{"error", what}});
    std::_Exit(1);
  }

  asio::io_context& io_;
  const std::chrono::steady_clock::duration credential_reuse_;
  std::unique_ptr<asio::posix::stream_descriptor> channel_;
  asio::steady_timer sweep_timer_;
  std::map<std::uint32_t, Pending> pending_;
  std::map<std::uint32_t, PendingMetrics> pending_metrics_;
  std::map<std::string, std::uint32_t> in_flight_;  // path -> the request sends may join
  std::map<std::string, Held> held_;                // by credential path
  ipc::Packet in_;  // reused for every message: no allocation per request
  ipc::Packet out_;
  std::uint32_t next_request_id_ = 1;
  bool keeper_ready_ = false;
  std::string keeper_reason_;
  std::chrono::steady_clock::time_point valid_until_{};
  std::function<void(const std::string&)> on_retired_;
  std::function<void()> on_connected_;
  SpoolKeyCallback spool_key_callback_;
  std::uint32_t spool_key_request_ = 0;
  std::chrono::steady_clock::time_point spool_key_deadline_{};

 public:
  void onRetired(std::function<void(const std::string&)> fn) { on_retired_ = std::move(fn); }
  // Called after each connect(): a new keeper (the spool asks it for its key).
  void onConnected(std::function<void()> fn) { on_connected_ = std::move(fn); }
};

}  // namespace sidecar::worker
