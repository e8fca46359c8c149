// submit_server.h: the HTTP/1.1 submission API on a Unix socket (Boost.Beast).
//
// SECURITY: the listener faces every local process that can open the socket (mode
// from listen.socket_mode, group listen.socket_group). Each connection's peer is
// identified at accept by SO_PEERCRED and mapped to a profile (profile.h); a peer
// without one gets 403 for every request. Requests are size-limited (headers 16 KiB,
// body the profile's max_message_bytes), idle connections time out, and all parsing
// of what a client sends goes through submit_request.h and message_headers.h. The
// profile's sender, recipient and rate rules are applied before a message is handed
// on. No credential ever reaches this code.
// ERRORS: HTTP answers with a stable JSON body {"error":{"code","message"}}.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "foundation/result.h"
#include "sidecar/base/config.h"
#include "sidecar/intake/profile.h"
#include "sidecar/intake/submission_policy.h"
#include "sidecar/intake/submit_request.h"
#include "sidecar/relay/smtp_sender.h"

namespace sidecar::submit {

struct SubmitResult {
  bool no_credential = false;  // nothing was sent: the sidecar holds no valid credential
  relay::SendResult send;
};

// Where an asynchronous submission stands.
enum class MessageState { Queued, Sending, Retrying, Sent, Failed };
const char* toString(MessageState state) noexcept;

struct MessageStatus {
  MessageState state = MessageState::Queued;
  unsigned attempts = 0;
  SubmitResult last;                         // the last attempt's result (when attempts > 0)
  std::int64_t next_attempt_in_seconds = 0;  // when Retrying
  std::string profile;                       // who submitted it: only peers of this profile may ask
};

// Who submitted a message, for the credential choice and the audit log.
struct Origin {
  profile::Peer peer;
  std::string profile;
  std::string credential_path;  // the profile's
  std::string message_id;       // from the message's headers; may be empty
  // The client's Idempotency-Key (asynchronous only; may be empty): a second
  // submission with the same key from the same profile gets the first one's id.
  std::string idempotency_key;
  // With a key: the BLAKE2b digest (hex) of the request as the client sent it (media
  // type, query, body): the same key with other content is refused, not answered with
  // the first message (a JSON message gets its Date and Message-ID here, so the
  // message bytes themselves differ between two identical requests).
  std::string request_digest;
};

// What the server hands a parsed submission to. All calls happen on the server's
// io thread; `done` may be called from any thread.
// Why enqueue() refused a message: the HTTP answer (429 when the queue or the spool is
// full, 503 when the spool cannot take it now), always with Retry-After.
struct EnqueueRefusal {
  unsigned status = 429;
  std::string code = "queue_full";
  std::string message = "the queue is full; try again shortly";
  int retry_after_seconds = 5;
};

// enqueue()'s answer: the message id, or why it was refused.
struct EnqueueOutcome {
  std::optional<std::string> id;
  EnqueueRefusal refusal;  // when !id
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // Synchronous: one attempt, answered through `done`.
  virtual void submit(Origin origin, Envelope envelope, std::string message,
                      std::function<void(SubmitResult)> done) = 0;
  // Asynchronous: queued and retried until sent, refused, or past the retry deadline.
  // `done` gets the message id once it is accepted (with a spool: on disk, durable),
  // or why not. It may run before enqueue() returns, or later on the io thread (the
  // spool's group commit), never on another thread.
  virtual void enqueue(Origin origin, Envelope envelope, std::string message,
                       std::function<void(EnqueueOutcome)> done) = 0;
  virtual std::optional<MessageStatus> status(const std::string& id) const = 0;
  // No room for another message of this many bytes and recipients (sync or async; by
  // count and by bytes): answer 429 with Retry-After.
  virtual bool full(std::size_t message_bytes, std::size_t recipients) const = 0;
  virtual bool ready() const = 0;
  // Why not ready, in plain words, for GET /v1/ready's 503 (empty: no reason known).
  virtual std::string notReadyReason() const { return {}; }
  // GET /metrics: the Prometheus text exposition, through `done` (which may run later,
  // after the keeper answered).
  virtual void metrics(std::function<void(std::string)> done) = 0;
};

using intake::ProfileState;  // a profile with its token bucket and counters
struct ServerShared;         // limits and counters the server shares with its connections

class SubmitServer {
 public:
  SubmitServer(boost::asio::io_context& io, ListenSettings settings, std::vector<Profile> profiles,
               Dispatcher& dispatcher);
  // SIGHUP: new profiles for connections accepted after the call; a profile that
  // keeps its name keeps its counters and bucket (resized) and its new limits apply
  // to open connections' next requests too.
  void setProfiles(std::vector<Profile> profiles);
  ~SubmitServer();

  // Counters per profile name (for metrics), and peers refused for having none.
  std::map<std::string, profile::ProfileStats> profileStats() const;
  std::uint64_t peersRefused() const noexcept { return peers_refused_; }
  // The state of the profile `peer` gets (shared with the SMTP intake), or nullptr
  // (counted and logged as refused).
  std::shared_ptr<ProfileState> admit(const profile::Peer& peer);

  // Serves on an already listening socket (inherited from the supervisor, which owns
  // the socket file).
  foundation::Status adopt(int listening_fd);
  // Stops accepting; open connections finish their request. The socket file belongs
  // to the supervisor.
  void close();

 private:
  void accept();
  void acceptFailed(const boost::system::error_code& ec);
  // listen.max_connections, and fewer when RLIMIT_NOFILE leaves less room (descriptors
  // are kept for SMTP connections, the keeper link and the audit file).
  std::size_t connectionLimit() const;
  ListenSettings settings_;
  std::shared_ptr<ServerShared> shared_;
  bool accept_paused_ = false;  // at the connection limit: resumed when one closes
  std::vector<Profile> profiles_;
  std::map<std::string, std::shared_ptr<ProfileState>> states_;
  std::uint64_t peers_refused_ = 0;
  Dispatcher& dispatcher_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;  // backoff after EMFILE and kin
};

}  // namespace sidecar::submit
