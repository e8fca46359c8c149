// smtp_sender.h: the contract of the worker's SMTP sender: a message, a leased
// credential, a result. Implemented by the relay room's client
// (asio_smtp_sender.h).
//
// SECURITY: the credential is shared for the duration of the sends that use it, never
// copied; its secret reaches the wire only as the AUTH line the client builds in
// locked memory. The server is verified against the configured CA (TLS is required
// unless the operator explicitly allowed plaintext). Server replies are untrusted and go
// through mailformat/smtp_reply.h; nothing the client sends (AUTH) is ever captured or logged.
// ERRORS: SendResult carries the outcome class and the server's reply.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/secret.h"
#include "mailformat/envelope.h"
#include "mailformat/smtp_reply.h"
#include "sidecar/base/config.h"
#include "sidecar/ipc/credential.h"

namespace sidecar::relay {

using ipc::CredentialKind;
using ipc::SmtpCredential;
using mailformat::RecipientReply;
using mailformat::SmtpReply;

enum class SendOutcome {
  Accepted,          // the server took the message (2xx after DATA)
  Rejected,          // a 5xx: sending it again will fail the same way
  AuthRefused,       // 535: the credential is no longer valid (454 is Temporary)
  TemporaryFailure,  // a 4xx, connection refused, timeout: try again later
  TlsFailure,        // the server's certificate did not verify, or TLS could not start
};

const char* toString(SendOutcome outcome) noexcept;

struct SendResult {
  SendOutcome outcome = SendOutcome::TemporaryFailure;
  SmtpReply reply;     // the reply that decided the outcome (code 0 if none)
  std::string detail;  // our own description (of a connection or TLS failure), safe to log
  // The server's answer to each RCPT TO, in envelope order. When some recipients are
  // refused and others accepted, the message goes to the accepted ones (Accepted).
  std::vector<RecipientReply> recipients;
  // The message went over a connection kept from an earlier one (no new login).
  bool reused_connection = false;
};

}  // namespace sidecar::relay

// ---- the event-loop sender ----
namespace boost::asio {
class io_context;
}

namespace sidecar::relay {

// How the sender's transactions started, counted since it was made: the figures that
// say whether the wire is used well (a transaction pipelined behind the previous one's
// end of data costs one round trip; one on an idle connection two with DATA; a new
// connection a few more).
struct SenderStats {
  std::uint64_t pipelined = 0;           // MAIL written behind the previous end of data
  std::uint64_t on_idle_connection = 0;  // MAIL on a connection with nothing in flight
  std::uint64_t on_new_connection = 0;   // the first message of a new connection
  std::uint64_t connections_opened = 0;  // connection attempts (any outcome)
};

// Sends on the asio event loop: no thread per message, never blocking it. Each
// credential (lease) has its own connections, so an authenticated SMTP connection is
// reused for the next message with the same credential and never for another; retire()
// closes a lease's connections once its sends have finished. At most max_connections
// connections at once; more messages wait in order.
class AsyncSmtpSender {
 public:
  using Done = std::function<void(SendResult)>;
  virtual ~AsyncSmtpSender() = default;
  // `done` runs on the io thread. The credential is shared, not copied: the sends of
  // one lease use the caller's one locked copy, from which a new connection builds its
  // AUTH line (in locked memory too); the send lets go of it when done.
  virtual void send(mailformat::Envelope envelope, std::shared_ptr<const std::string> message,
                    std::shared_ptr<const SmtpCredential> credential, Done done) = 0;
  // The lease was revoked: no new transfer uses its connections, which are closed
  // when the transfers on them end.
  virtual void retire(const std::string& lease_id) = 0;
  virtual std::size_t active() const = 0;   // messages on a connection
  virtual std::size_t waiting() const = 0;  // messages waiting for a connection
  virtual std::size_t pools() const = 0;    // credentials with open connections
  virtual SenderStats stats() const = 0;
};

}  // namespace sidecar::relay
