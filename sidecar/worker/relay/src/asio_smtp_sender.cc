// asio_smtp_sender.cc: the relay room's SMTP client on the event loop (see
// asio_smtp_sender.h).
//
// Shape: a Connection is one TCP (+TLS) session to the server, logged in with one
// credential. It keeps one read outstanding at all times (replies, and a server that
// hangs up or says 421 while idle) and writes "flights": every queued command that may
// go before the replies to the ones already written. With PIPELINING a message costs
// one flight for MAIL, every RCPT and DATA (or BDAT with the body when CHUNKING is
// offered) and, for DATA, one for the body, behind which the next message's MAIL, RCPT
// and DATA go in the same flight (RFC 2920 3.1: the end of data may be followed by the
// next transaction). Without PIPELINING each command waits for its reply. Replies are
// paired with their commands in order (`inflight_`), counted by ReplyCollector.
//
// The sender keeps the connections per credential (pool key: lease id and path, as the
// libcurl sender did), a global FIFO of messages waiting for a connection, and the
// destination's connection limit and reconnect backoff.
//
// SECURITY: see asio_smtp_sender.h. The AUTH messages are SecretBytes written alone
// (never merged into a flight buffer of ordinary memory) and dropped (zeroed) once
// written. After the 220 to STARTTLS any further byte the server sent in the clear
// ends the connection as a TLS failure; the reply collector and the capabilities are
// replaced after the handshake.
// ERRORS: I/O errors, timeouts and protocol errors end the connection; the messages it
// carried get TemporaryFailure (TlsFailure for TLS, AuthRefused for 535 to AUTH, never
// for 454 or a timeout) with a detail; server refusals are classified by reply code. Done callbacks
// are posted, never run inside the connection's own call stack.
#include "sidecar/relay/asio_smtp_sender.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "foundation/clock.h"
#include "mailformat/smtp_reply.h"
#include "sidecar/base/log.h"
#include "sidecar/relay/ehlo.h"
#include "sidecar/relay/sasl.h"
#include "sidecar/relay/smtp_diagnosis.h"

namespace sidecar::relay {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using mailformat::ReplyCollector;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

foundation::Result<std::shared_ptr<ssl::context>> makeSmtpTlsContext(const SmtpSettings& settings) {
  using foundation::Error;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return Error::internal("SSL_CTX_set_min_proto_version failed");
  }
  boost::system::error_code ec;
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return Error::internal("set_verify_mode: " + ec.message());
  if (settings.tls != SmtpTls::None) {
    ctx->load_verify_file(settings.ca_file, ec);
    if (ec) return Error::permanent("smtp.ca_file " + settings.ca_file + ": " + ec.message());
  }
  return ctx;
}

const char* prepareSmtpTls(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (param == nullptr) return "SSL_get0_param";
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (!ec) {
    // An address literal: checked against the certificate's IP SANs; no SNI (RFC 6066 3).
    if (X509_VERIFY_PARAM_set1_ip_asc(param, address.to_string().c_str()) != 1) {
      return "X509_VERIFY_PARAM_set1_ip_asc";
    }
    return nullptr;
  }
  // SSL_set_tlsext_host_name, without the macro's C cast.
  if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str())) != 1) {
    return "SSL_set_tlsext_host_name";
  }
  if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1) {
    return "X509_VERIFY_PARAM_set1_host";
  }
  return nullptr;
}

const char* toString(SendOutcome outcome) noexcept {
  switch (outcome) {
    case SendOutcome::Accepted:
      return "accepted";
    case SendOutcome::Rejected:
      return "rejected";
    case SendOutcome::AuthRefused:
      return "auth_refused";
    case SendOutcome::TemporaryFailure:
      return "temporary_failure";
    case SendOutcome::TlsFailure:
      return "tls_failure";
  }
  return "?";
}

namespace {

SendOutcome classify(const SmtpReply& reply) {
  // Only 535 (RFC 4954: 5.7.8 credentials invalid) says the login is gone. 454 (the
  // server's auth backend is down, e.g. its database) and a dropped connection are
  // temporary; 530 and 534 are about TLS or the mechanism, not this credential. Each
  // AuthRefused makes the keeper replace the lease, so a false one costs a credential.
  if (reply.code == 535) return SendOutcome::AuthRefused;
  if (reply.isPermanent()) return SendOutcome::Rejected;
  return SendOutcome::TemporaryFailure;
}

SendResult failure(SendOutcome outcome, std::string detail, SmtpReply reply = {}) {
  SendResult r;
  r.outcome = outcome;
  r.detail = std::move(detail);
  r.reply = std::move(reply);
  return r;
}

bool hasEightBit(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool hasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// How a message goes after its command (Connection::Out::body): as DATA content (lines
// starting with '.' get another one, RFC 5321 4.5.2; a missing final CRLF is added, then
// the terminating ".\r\n"), or as a BDAT chunk (the bytes as they are, a missing final
// CRLF added).
enum class BodyForm { None, Data, Bdat };

constexpr std::string_view kDot = ".";
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kEndOfData = ".\r\n";
// A DATA body with more lines starting with '.' than this is copied (dot-stuffed) into
// one buffer rather than written as that many pieces.
constexpr std::size_t kMaxBodyPieces = 32;

bool endsWithCrlf(std::string_view message) {
  return message.size() >= 2 && message.substr(message.size() - 2) == kCrlf;
}

// The message's wire form as pieces pointing into the message itself (and constants), in
// order: no copy of the message. False (pieces partly filled) when it would take more
// than kMaxBodyPieces.
bool bodyPieces(std::string_view message, BodyForm form, std::vector<std::string_view>& pieces) {
  std::size_t added = 0;
  auto add = [&](std::string_view piece) {
    if (piece.empty()) return true;
    pieces.push_back(piece);
    return ++added <= kMaxBodyPieces;
  };
  if (form == BodyForm::Data) {
    std::size_t from = 0;
    std::size_t line = 0;  // the start of the line looked at
    while (line < message.size()) {
      if (message[line] == '.') {
        if (!add(message.substr(from, line - from)) || !add(kDot)) return false;
        from = line;
      }
      const std::size_t nl = message.find('\n', line);
      if (nl == std::string_view::npos) break;
      line = nl + 1;
    }
    if (!add(message.substr(from))) return false;
  } else if (!add(message)) {
    return false;
  }
  if (!endsWithCrlf(message) && !add(kCrlf)) return false;
  if (form == BodyForm::Data && !add(kEndOfData)) return false;
  return true;
}

// The same wire form, appended to `out` (a copy: TLS, or a body of many pieces).
void appendBody(std::string& out, std::string_view message, BodyForm form) {
  out.reserve(out.size() + message.size() + message.size() / 64 + 8);
  if (form == BodyForm::Data) {
    std::size_t pos = 0;
    while (pos < message.size()) {
      if (message[pos] == '.') out.push_back('.');
      const std::size_t nl = message.find('\n', pos);
      const std::size_t end = nl == std::string_view::npos ? message.size() : nl + 1;
      out.append(message.data() + pos, end - pos);
      pos = end;
    }
  } else {
    out.append(message);
  }
  if (!endsWithCrlf(message)) out.append(kCrlf);
  if (form == BodyForm::Data) out.append(kEndOfData);
}

// One message, from send() to its done callback (across a retry on a fresh connection).
struct Tx {
  mailformat::Envelope envelope;
  std::shared_ptr<const std::string> message;
  std::shared_ptr<const SmtpCredential> credential;
  AsyncSmtpSender::Done done;
  std::string key;
  bool retried_fresh = false;  // already tried again on a new connection
  bool needs_fresh = false;    // must go on a connection opened for it
  // The current attempt.
  bool reused = false;
  bool failed = false;  // refused before the end of data
  SmtpReply failure;
  std::vector<RecipientReply> recipients;
  std::size_t accepted = 0;

  void resetAttempt() {
    reused = false;
    failed = false;
    failure = {};
    recipients.clear();
    accepted = 0;
  }
};

class Connection;

// What a connection reports to (and asks of) its sender. Calls come from the
// connection's handlers; the sender posts anything that could re-enter.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void finished(Connection& c, std::shared_ptr<Tx> tx, SendResult result) = 0;
  virtual void idle(Connection& c) = 0;    // ready for a message
  virtual void closed(Connection& c) = 0;  // gone; its messages were finished first
  virtual void setupFailed() = 0;          // could not connect / greet / log in
  virtual void setupSucceeded() = 0;
  // A waiting message for this connection's credential that may be pipelined now.
  virtual std::shared_ptr<Tx> nextFor(Connection& c) = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, ConnectionOwner& owner, const SmtpSettings& settings,
             std::shared_ptr<ssl::context> tls, std::string key,
             std::shared_ptr<const SmtpCredential> credential)
      : io_(io),
        owner_(&owner),
        settings_(settings),
        tls_context_(std::move(tls)),
        stream_(io, *tls_context_),
        timer_(io),
        key_(std::move(key)),
        credential_(std::move(credential)) {}

  const std::string& key() const { return key_; }
  bool ready() const { return state_ == State::Ready; }
  bool idleNow() const { return state_ == State::Ready && txs_.empty() && !open_; }
  bool closing() const { return state_ == State::Closing || state_ == State::Closed; }
  bool hasMessages() const { return !txs_.empty(); }
  bool retired() const { return retired_; }
  // No more messages: idle now means QUIT now, busy means QUIT after the last one.
  void retire() {
    retired_ = true;
    if (idleNow()) quit();
  }
  bool mayTakeMore() const {
    return !retired_ && state_ == State::Ready && assigned_ < settings_.max_messages_per_connection;
  }
  // A session without mail (doctor): NOOP once ready, then QUIT.
  void probeOnly() { probe_mode_ = true; }
  const SmtpProbeResult& probeResult() const { return probe_; }
  // The sender is going away: no more calls into it, close without QUIT.
  void abandon() {
    owner_ = nullptr;
    shutdownSocket();
  }

  void start(std::shared_ptr<Tx> first) {
    if (first) {
      first->reused = false;
      ++assigned_;
      txs_.push_back(first);
    }
    touch();
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(settings_.host, ec);
    const auto port = settings_.port;
    if (!ec) return connect({tcp::endpoint(address, port)});
    // A name: getaddrinfo on Asio's resolver thread, not on the loop.
    auto resolver = std::make_shared<tcp::resolver>(io_);
    resolver->async_resolve(
        settings_.host, std::to_string(port),
        [self = shared_from_this(), resolver](boost::system::error_code rec,
                                              tcp::resolver::results_type results) {
          if (self->state_ == State::Closed) return;
          if (rec) {
            self->probe_.failure = SmtpProbeResult::Failure::Resolve;
            return self->fail(SendOutcome::TemporaryFailure, "resolve: " + rec.message());
          }
          std::vector<tcp::endpoint> endpoints;
          for (const auto& r : results) endpoints.push_back(r.endpoint());
          self->connect(std::move(endpoints));
        });
  }

  // A message for this ready connection (idle, or pipelined behind the end of data).
  void send(std::shared_ptr<Tx> tx) {
    tx->reused = true;  // only a connection's first message comes with its login (start())
    ++assigned_;
    txs_.push_back(tx);
    if (!prepareTransaction(tx)) return;
    flush();
  }

 private:
  enum class State {
    Connecting,
    Greeting,
    Ehlo,
    StartTls,
    Handshake,
    Auth,
    Ready,
    Closing,
    Closed
  };
  enum class Expect {
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    AuthLoginUser,
    AuthLoginPassword,
    AuthOAuthError,
    Rset,
    Mail,
    Rcpt,
    Data,
    EndOfData,
    Bdat,
    Noop,
    Quit
  };
  struct Pending {
    Expect expect;
    std::shared_ptr<Tx> tx;
    std::size_t recipient = 0;
  };
  // A command (or body) waiting to be written, with the reply it will get.
  struct Out {
    std::string text;
    foundation::SecretBytes secret;  // written alone, from locked memory
    bool barrier = false;            // waits for every earlier reply
    std::optional<Pending> pending;
    // After `text`: the message in its wire form, written from the message itself
    // (gathered, not copied, on a plaintext connection).
    std::shared_ptr<const std::string> body = nullptr;
    BodyForm form = BodyForm::None;
  };

  void touch() {
    last_activity_ = Clock::now();
    armTimer();
  }

  bool busy() const {
    return state_ != State::Ready || !inflight_.empty() || writing_ || !txs_.empty();
  }

  // One timer for both limits (a reply's timeout while busy, idle_timeout while idle),
  // re-armed only when it fires or must fire earlier (busy -> idle): progress just moves
  // last_activity_, and a fired timer that finds recent progress waits for the rest.
  void armTimer() {
    if (state_ == State::Closed) return;
    const auto due = last_activity_ + (busy() ? settings_.timeout : settings_.idle_timeout);
    if (timer_armed_ && due >= timer_due_) return;
    timer_armed_ = true;
    timer_due_ = due;
    const unsigned generation = ++timer_generation_;
    timer_.expires_at(due);
    timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
      if (generation != self->timer_generation_) return;  // re-armed meanwhile
      self->timer_armed_ = false;
      if (ec || self->state_ == State::Closed) return;
      const bool was_busy = self->busy();
      const auto allowed = was_busy ? self->settings_.timeout : self->settings_.idle_timeout;
      if (Clock::now() - self->last_activity_ < allowed) return self->armTimer();
      self->probe_.failure = SmtpProbeResult::Failure::Timeout;
      if (was_busy) {
        return self->fail(SendOutcome::TemporaryFailure,
                          self->state_ == State::Connecting
                              ? "connection timed out"
                              : "timed out waiting for the SMTP server");
      }
      self->quit();
    });
  }

  void connect(std::vector<tcp::endpoint> endpoints) {
    if (endpoints.empty())
      return fail(SendOutcome::TemporaryFailure, "no address for the SMTP server");
    asio::async_connect(
        stream_.next_layer(), endpoints,
        [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
          if (self->state_ == State::Closed) return;
          if (ec) {
            self->probe_.failure = ec == asio::error::timed_out ? SmtpProbeResult::Failure::Timeout
                                                                : SmtpProbeResult::Failure::Connect;
            if (ec.category() == boost::system::system_category())
              self->probe_.os_errno = ec.value();
            return self->fail(SendOutcome::TemporaryFailure, "connect: " + ec.message());
          }
          // Commands are written in flights already: Nagle would only delay them.
          boost::system::error_code nodelay_ec;
          self->stream_.next_layer().set_option(tcp::no_delay(true), nodelay_ec);
          self->touch();
          if (self->settings_.tls == SmtpTls::Implicit) return self->handshake();
          self->state_ = State::Greeting;
          self->inflight_.push_back({Expect::Greeting, nullptr});
          self->read();
        });
  }

  void handshake() {
    const State before = state_;
    state_ = State::Handshake;
    if (const char* failed = prepareSmtpTls(stream_.native_handle(), settings_.host)) {
      return fail(SendOutcome::TlsFailure, std::string("TLS setup failed: ") + failed);
    }
    stream_.async_handshake(ssl::stream_base::client, [self = shared_from_this(),
                                                       before](boost::system::error_code ec) {
      if (self->state_ == State::Closed) return;
      if (ec) {
        self->probe_.failure = SmtpProbeResult::Failure::Tls;
        self->probe_.ssl_verify_result = SSL_get_verify_result(self->stream_.native_handle());
        return self->fail(SendOutcome::TlsFailure, "TLS handshake: " + self->tlsError(ec));
      }
      self->tls_ = true;
      self->touch();
      if (before == State::Connecting) {  // implicit TLS: the greeting comes over TLS
        self->state_ = State::Greeting;
        self->inflight_.push_back({Expect::Greeting, nullptr});
      } else {  // STARTTLS: everything known before is forgotten; ask again
        self->state_ = State::Ehlo;
        self->queue({"EHLO " + self->settings_.helo_name + "\r\n",
                     {},
                     true,
                     Pending{Expect::Ehlo, nullptr}});
        self->flush();
      }
      self->read();
    });
  }

  std::string tlsError(const boost::system::error_code& ec) {
    const long verify = SSL_get_verify_result(stream_.native_handle());
    if (verify != X509_V_OK)
      return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    return ec.message();
  }

  // ---- reading ----
  void read() {
    auto handler = [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      self->reading_ = false;
      if (self->state_ == State::Closed) return;
      if (ec) {
        if (self->state_ == State::Closing && self->inflight_.empty()) return self->close();
        // An idle connection the server closed is simply gone; a busy one failed.
        if (!self->busy()) return self->close();
        self->probe_.failure = SmtpProbeResult::Failure::Closed;
        return self->fail(SendOutcome::TemporaryFailure,
                          ec == asio::error::eof ? "the SMTP server closed the connection"
                                                 : "read: " + ec.message());
      }
      self->received(std::string_view(self->buffer_.data(), n));
    };
    reading_ = true;
    if (tls_) {
      stream_.async_read_some(asio::buffer(buffer_), std::move(handler));
    } else {
      stream_.next_layer().async_read_some(asio::buffer(buffer_), std::move(handler));
    }
  }

  void received(std::string_view bytes) {
    touch();
    // Line by line, so that a reply ending is seen exactly where it ends (STARTTLS).
    while (!bytes.empty() && state_ != State::Closed) {
      const std::size_t nl = bytes.find('\n');
      const std::size_t take = nl == std::string_view::npos ? bytes.size() : nl + 1;
      const std::size_t before = replies_.completed();
      replies_.feed(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (replies_.completed() == before) continue;
      if (!reply(replies_.last(), !bytes.empty())) return;  // handshake or closed
    }
    if (state_ != State::Closed && state_ != State::Handshake && !reading_) read();
  }

  // Returns false when reading must not go on (STARTTLS handshake, or closed).
  bool reply(const SmtpReply& r, bool more_bytes) {
    if (inflight_.empty()) {
      // Unsolicited: typically 421 before an idle timeout. Either way the session is over.
      probe_.failure = SmtpProbeResult::Failure::Protocol;
      if (busy())
        fail(SendOutcome::TemporaryFailure, "unexpected reply from the SMTP server", r);
      else
        close();
      return false;
    }
    Pending p = std::move(inflight_.front());
    inflight_.pop_front();
    if (r.code == 0) {
      probe_.failure = SmtpProbeResult::Failure::Protocol;
      fail(SendOutcome::TemporaryFailure, "unparseable reply from the SMTP server", r);
      return false;
    }
    switch (p.expect) {
      case Expect::Greeting:
        if (r.code != 220) {
          probe_.failure = SmtpProbeResult::Failure::Greeting;
          return fail(classify(r), "SMTP server greeting refused", r), false;
        }
        probe_.greeted = true;
        state_ = State::Ehlo;
        queue({"EHLO " + settings_.helo_name + "\r\n", {}, true, Pending{Expect::Ehlo, nullptr}});
        break;
      case Expect::Ehlo:
        if (r.code != 250) {
          probe_.failure = SmtpProbeResult::Failure::Protocol;
          return fail(classify(r), "EHLO refused", r), false;
        }
        caps_ = parseEhlo(r.text);
        if (!tls_) probe_.starttls_offered = caps_.starttls;
        probe_.auth_offered = caps_.auth_offered;
        if (settings_.tls == SmtpTls::StartTls && !tls_) {
          if (!caps_.starttls) {
            probe_.failure = SmtpProbeResult::Failure::NoStartTls;
            return fail(SendOutcome::TlsFailure, "the SMTP server does not offer STARTTLS", r),
                   false;
          }
          state_ = State::StartTls;
          queue({"STARTTLS\r\n", {}, true, Pending{Expect::StartTls, nullptr}});
          break;
        }
        if (!startAuth(r)) return false;
        break;
      case Expect::StartTls:
        if (r.code != 220) {
          probe_.failure = SmtpProbeResult::Failure::StartTlsRefused;
          return fail(SendOutcome::TlsFailure, "STARTTLS refused", r), false;
        }
        if (more_bytes || !inflight_.empty()) {
          probe_.failure = SmtpProbeResult::Failure::Tls;
          // Bytes after the 220 were sent before TLS and would be read as if they came
          // over it (CVE-2011-0411 class): never.
          return fail(SendOutcome::TlsFailure,
                      "the SMTP server sent data after its 220 to STARTTLS (refused: possible "
                      "command injection)"),
                 false;
        }
        replies_ = ReplyCollector();
        caps_ = {};
        handshake();
        return false;
      case Expect::Auth:
      case Expect::AuthLoginUser:
      case Expect::AuthLoginPassword:
      case Expect::AuthOAuthError:
        if (!authReply(p.expect, r)) return false;
        break;
      case Expect::Rset:
        break;  // its answer changes nothing: the next MAIL tells
      case Expect::Mail:
        if (!r.isPositive()) {
          p.tx->failed = true;
          p.tx->failure = r;
          if (!caps_.pipelining) abortLockstep(p.tx, r);
        }
        break;
      case Expect::Rcpt:
        p.tx->recipients.push_back({p.tx->envelope.recipients[p.recipient], r});
        if (r.isPositive()) ++p.tx->accepted;
        if (!caps_.pipelining && p.tx->accepted == 0 &&
            p.recipient + 1 == p.tx->envelope.recipients.size()) {
          abortLockstep(p.tx, lastRecipientFailure(*p.tx));
        }
        break;
      case Expect::Data:
        dataReply(p.tx, r);
        break;
      case Expect::EndOfData:
        endOfData(p.tx, r);
        break;
      case Expect::Bdat:
        bdatReply(p.tx, r);
        break;
      case Expect::Noop:
        if (!r.isPositive()) {
          probe_.failure = SmtpProbeResult::Failure::Protocol;
          return fail(classify(r), "NOOP refused", r), false;
        }
        quit();
        break;
      case Expect::Quit:
        close();
        return false;
    }
    if (state_ == State::Closed) return false;
    flush();
    return true;
  }

  // ---- AUTH ----
  bool startAuth(const SmtpReply& ehlo) {
    state_ = State::Auth;
    if (!credential_) return becameReady();  // a probe without a credential
    probe_.auth_tried = true;
    probe_.token_credential = credential_->kind == CredentialKind::OAuth2Token;
    // A server that asks for no AUTH at all (a test sink, a relay that trusts this host)
    // gets none, as libcurl did: nothing secret is sent, and a server that does need a
    // login refuses the sender. Over TLS this EHLO is the authentic one.
    if (!caps_.auth_offered) return becameReady();
    const auto mechanism = chooseMechanism(credential_->kind, caps_.auth);
    if (!mechanism) {
      probe_.failure = SmtpProbeResult::Failure::Auth;
      fail(SendOutcome::Rejected, "the SMTP server offers no AUTH mechanism for this credential",
           ehlo);
      return false;
    }
    mechanism_ = *mechanism;
    probe_.auth_mechanism = toString(*mechanism);
    queue({{}, authCommand(*mechanism, *credential_), true, Pending{Expect::Auth, nullptr}});
    return true;
  }

  bool authReply(Expect step, const SmtpReply& r) {
    if (r.code == 235 && step != Expect::AuthOAuthError) {
      probe_.auth_accepted = true;
      return becameReady();
    }
    if (r.code == 334) {
      if (mechanism_ == SaslMechanism::Login && step == Expect::Auth) {
        queue({{}, loginUsername(*credential_), true, Pending{Expect::AuthLoginUser, nullptr}});
        return true;
      }
      if (mechanism_ == SaslMechanism::Login && step == Expect::AuthLoginUser) {
        queue({{}, loginPassword(*credential_), true, Pending{Expect::AuthLoginPassword, nullptr}});
        return true;
      }
      if ((mechanism_ == SaslMechanism::XOAuth2 || mechanism_ == SaslMechanism::OAuthBearer) &&
          step == Expect::Auth) {
        // The token was refused; the challenge carries the server's error. Acknowledge so
        // that it ends the exchange with its final code.
        queue({oauthErrorAcknowledgement(mechanism_),
               {},
               true,
               Pending{Expect::AuthOAuthError, nullptr}});
        return true;
      }
    }
    probe_.failure = SmtpProbeResult::Failure::Auth;
    SendOutcome outcome = classify(r);
    if (step == Expect::AuthOAuthError && r.isPositive()) outcome = SendOutcome::AuthRefused;
    fail(outcome, std::string("AUTH ") + toString(mechanism_) + " refused", r);
    return false;
  }

  bool becameReady() {
    state_ = State::Ready;
    credential_.reset();  // logged in: the connection needs the secret no more
    if (owner_) owner_->setupSucceeded();
    if (probe_mode_) {
      queue({"NOOP\r\n", {}, true, Pending{Expect::Noop, nullptr}});
      return true;
    }
    // The first message was assigned at connect: start it now.
    if (!txs_.empty()) {
      auto first = txs_.front();
      if (!prepareTransaction(first)) return state_ != State::Closed;
    } else if (owner_) {
      owner_->idle(*this);
    }
    return true;
  }

  // ---- transactions ----
  // Queues MAIL, RCPTs and DATA (or BDAT with the body). False if the message was
  // finished on the spot (refused before anything was written).
  bool prepareTransaction(const std::shared_ptr<Tx>& tx) {
    const auto& env = tx->envelope;
    const std::string_view message = *tx->message;
    bool non_ascii = hasEightBit(env.from);
    bool bad_address = hasLineBreakOrNul(env.from);
    for (const auto& rcpt : env.recipients) {
      non_ascii = non_ascii || hasEightBit(rcpt);
      bad_address = bad_address || hasLineBreakOrNul(rcpt);
    }
    std::optional<SendResult> refused;
    if (bad_address || env.recipients.empty()) {
      refused = failure(SendOutcome::Rejected, "invalid envelope address");
    } else if (non_ascii && !caps_.smtputf8) {
      refused = failure(SendOutcome::Rejected,
                        "a non-ASCII address needs SMTPUTF8, which the SMTP server does not offer");
    } else if (caps_.size && caps_.size_limit != 0 && message.size() > caps_.size_limit) {
      refused = failure(SendOutcome::Rejected,
                        "the message is larger than the SMTP server's SIZE limit (" +
                            std::to_string(caps_.size_limit) + " bytes)");
    }
    if (refused) {
      tx->retried_fresh = true;  // decided here, not by the server: another try changes nothing
      finishTx(tx, std::move(*refused));
      return false;
    }
    if (needs_rset_) {
      needs_rset_ = false;
      queue({"RSET\r\n", {}, !caps_.pipelining, Pending{Expect::Rset, nullptr}});
    }
    std::string mail = "MAIL FROM:<" + env.from + ">";
    if (caps_.size) mail += " SIZE=" + std::to_string(message.size());
    if (caps_.eightbitmime && hasEightBit(message)) mail += " BODY=8BITMIME";
    if (caps_.smtputf8 && non_ascii) mail += " SMTPUTF8";
    mail += "\r\n";
    const bool lockstep = !caps_.pipelining;
    queue({std::move(mail), {}, lockstep, Pending{Expect::Mail, tx}});
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      queue(
          {"RCPT TO:<" + env.recipients[i] + ">\r\n", {}, lockstep, Pending{Expect::Rcpt, tx, i}});
    }
    open_ = true;
    if (caps_.chunking) {
      const std::size_t chunk = message.size() + (endsWithCrlf(message) ? 0 : 2);
      queue({"BDAT " + std::to_string(chunk) + " LAST\r\n",
             {},
             lockstep,
             Pending{Expect::Bdat, tx},
             tx->message,
             BodyForm::Bdat});
      open_ = false;  // the next message waits for this one's reply (RSET if it failed)
    } else {
      queue({"DATA\r\n", {}, lockstep, Pending{Expect::Data, tx}});
    }
    return true;
  }

  // Without PIPELINING nothing of a refused transaction is sent after the refusal.
  void abortLockstep(const std::shared_ptr<Tx>& tx, const SmtpReply& decisive) {
    std::erase_if(outbox_, [&](const Out& o) { return o.pending && o.pending->tx == tx; });
    open_ = false;
    needs_rset_ = true;
    finishTx(tx, failure(classify(decisive), "", decisive));
  }

  void dataReply(const std::shared_ptr<Tx>& tx, const SmtpReply& r) {
    if (r.code != 354) {
      open_ = false;
      needs_rset_ = true;
      SmtpReply decisive = tx->failed ? tx->failure : r;
      if (!tx->failed && tx->accepted == 0 && !tx->recipients.empty())
        decisive = lastRecipientFailure(*tx);
      return finishTx(tx, failure(classify(decisive), "", decisive));
    }
    if (tx->failed || tx->accepted == 0) {
      // 354 although nothing was accepted: end the (empty) data at once.
      queue({std::string(kEndOfData), {}, false, Pending{Expect::EndOfData, tx}});
    } else {
      queue({{}, {}, false, Pending{Expect::EndOfData, tx}, tx->message, BodyForm::Data});
    }
    open_ = false;
    // RFC 2920 3.1: the next transaction may follow the end of data in the same flight.
    if (owner_ && caps_.pipelining && mayTakeMore()) {
      if (auto next = owner_->nextFor(*this)) send(std::move(next));
    } else if (caps_.pipelining && state_ == State::Ready && txs_.size() == 1 &&
               (retired_ || assigned_ >= settings_.max_messages_per_connection)) {
      // This connection's last message: QUIT goes behind its end of data (RFC 2920:
      // QUIT may end a group), so the replacement connection waits one round trip less.
      state_ = State::Closing;
      queue({"QUIT\r\n", {}, false, Pending{Expect::Quit, nullptr}});
    }
  }

  static SmtpReply lastRecipientFailure(const Tx& tx) {
    for (auto it = tx.recipients.rbegin(); it != tx.recipients.rend(); ++it) {
      if (!it->reply.isPositive()) return it->reply;
    }
    return {};
  }

  void endOfData(const std::shared_ptr<Tx>& tx, const SmtpReply& r) {
    if (tx->failed || tx->accepted == 0) {
      const SmtpReply decisive = tx->failed ? tx->failure : lastRecipientFailure(*tx);
      return finishTx(tx, failure(classify(decisive), "", decisive));
    }
    SendResult result;
    result.outcome = r.isPositive() ? SendOutcome::Accepted : classify(r);
    result.reply = r;
    finishTx(tx, std::move(result));
  }

  void bdatReply(const std::shared_ptr<Tx>& tx, const SmtpReply& r) {
    if (tx->failed || tx->accepted == 0 || !r.isPositive()) {
      needs_rset_ = true;  // RFC 3030 4.1: after a refused chunk, RSET before the next MAIL
      SmtpReply decisive = tx->failed          ? tx->failure
                           : tx->accepted == 0 ? lastRecipientFailure(*tx)
                                               : r;
      return finishTx(tx, failure(classify(decisive), "", decisive));
    }
    SendResult result;
    result.outcome = SendOutcome::Accepted;
    result.reply = r;
    finishTx(tx, std::move(result));
  }

  void finishTx(const std::shared_ptr<Tx>& tx, SendResult result) {
    result.recipients = std::move(tx->recipients);
    result.reused_connection = tx->reused;
    auto it = std::find(txs_.begin(), txs_.end(), tx);
    if (it != txs_.end()) txs_.erase(it);
    if (owner_) owner_->finished(*this, tx, std::move(result));
    if (state_ != State::Ready || open_ || !txs_.empty()) return;
    if (retired_ || assigned_ >= settings_.max_messages_per_connection) return quit();
    armTimer();  // now for idle_timeout
    if (owner_) owner_->idle(*this);
  }

  // ---- writing ----
  void queue(Out out) { outbox_.push_back(std::move(out)); }

  // Writes every queued item that may go now, as one flight: one gathered write
  // (writev) of the commands and the message bodies on a plaintext connection, one
  // buffer (one TLS record, where it fits) over TLS.
  void flush() {
    if (writing_ || state_ == State::Closed || state_ == State::Handshake || outbox_.empty())
      return;
    if (outbox_.front().barrier && !inflight_.empty()) return;
    if (!outbox_.front().secret.empty()) {
      // The AUTH line: alone, from locked memory, dropped (zeroed) once written.
      write_secret_ = std::move(outbox_.front().secret);
      if (outbox_.front().pending) inflight_.push_back(std::move(*outbox_.front().pending));
      outbox_.pop_front();
      char* data = write_secret_.mutableData();
      gather_.assign(1, asio::const_buffer(data, write_secret_.size()));
      return write();
    }
    // Items move to `written_` (a deque: they stay where they are) and are kept until
    // the write completes, so the buffers can point into them.
    written_.clear();
    pieces_.clear();
    while (!outbox_.empty()) {
      Out& out = outbox_.front();
      if (!out.secret.empty()) break;
      if (!written_.empty() && (out.barrier || !caps_.pipelining)) break;
      if (out.pending) inflight_.push_back(std::move(*out.pending));
      written_.push_back(std::move(out));
      outbox_.pop_front();
      const Out& item = written_.back();
      if (!item.text.empty()) pieces_.push_back(item.text);
      const std::size_t before_body = pieces_.size();
      if (item.body && !bodyPieces(*item.body, item.form, pieces_)) {
        // Many lines starting with '.': one copy rather than that many pieces.
        pieces_.resize(before_body);
        stuffed_.emplace_back();
        appendBody(stuffed_.back(), *item.body, item.form);
        pieces_.push_back(stuffed_.back());
      }
    }
    gather_.clear();
    if (tls_) {
      // OpenSSL writes one buffer at a time: one buffer, so that the flight goes in as
      // few records (and system calls) as it can.
      write_buffer_.clear();
      for (const auto piece : pieces_) write_buffer_.append(piece);
      gather_.emplace_back(write_buffer_.data(), write_buffer_.size());
    } else {
      for (const auto piece : pieces_) gather_.emplace_back(piece.data(), piece.size());
    }
    write();
  }

  void write() {
    writing_ = true;
    touch();
    auto handler = [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->writing_ = false;
      self->write_secret_ = foundation::SecretBytes();
      self->written_.clear();  // lets go of the messages' bodies
      self->stuffed_.clear();
      if (self->state_ == State::Closed) return;
      if (ec) return self->fail(SendOutcome::TemporaryFailure, "write: " + ec.message());
      self->touch();
      self->flush();
    };
    // A view of gather_ (asio copies the buffer sequence it is given: a vector would be
    // copied, with an allocation, on every write).
    const std::span<const asio::const_buffer> buffers(gather_.data(), gather_.size());
    if (tls_) {
      asio::async_write(stream_, buffers, std::move(handler));
    } else {
      asio::async_write(stream_.next_layer(), buffers, std::move(handler));
    }
  }

  // ---- the end ----
  void quit() {
    if (state_ == State::Closing || state_ == State::Closed) return;
    if (state_ != State::Ready) return close();
    state_ = State::Closing;
    queue({"QUIT\r\n", {}, true, Pending{Expect::Quit, nullptr}});
    flush();
  }

  // Ends the connection and every message on it with `outcome`.
  void fail(SendOutcome outcome, std::string detail, SmtpReply reply = {}) {
    if (state_ == State::Closed) return;
    const bool in_setup = state_ != State::Ready && state_ != State::Closing;
    if (probe_.failure == SmtpProbeResult::Failure::None) {
      probe_.failure = SmtpProbeResult::Failure::Protocol;
    }
    probe_.detail = detail;
    probe_.reply = reply;
    // A connection that never got ready failed for a cause doctor names: the sends
    // answer with doctor's words (smtp_diagnosis.h), not our raw detail.
    if (in_setup) {
      std::string words = oneLine(diagnoseSmtp(probe_, settings_));
      // An AUTH refusal keeps naming the mechanism ("AUTH OAUTHBEARER refused"): a
      // token and a password are refused for different reasons.
      detail = probe_.failure == SmtpProbeResult::Failure::Auth ? detail + ": " + words
                                                                : std::move(words);
    }
    log::info("smtp_connection_failed", {{"detail", detail}, {"smtp_code", reply.code}});
    auto txs = std::move(txs_);
    txs_.clear();
    shutdownSocket();
    if (owner_ && in_setup) owner_->setupFailed();
    for (auto& tx : txs) {
      SendResult r = failure(outcome, detail, reply);
      r.recipients = std::move(tx->recipients);
      r.reused_connection = tx->reused;
      if (owner_) owner_->finished(*this, tx, std::move(r));
    }
    if (owner_) owner_->closed(*this);
  }

  void close() {
    if (state_ == State::Closed) return;
    if (!txs_.empty()) return fail(SendOutcome::TemporaryFailure, "the SMTP connection closed");
    shutdownSocket();
    if (owner_) owner_->closed(*this);
  }

  void shutdownSocket() {
    state_ = State::Closed;
    boost::system::error_code ec;
    timer_.cancel();
    stream_.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream_.next_layer().close(ec);
    outbox_.clear();
    inflight_.clear();
  }

  asio::io_context& io_;
  ConnectionOwner* owner_;
  const SmtpSettings& settings_;
  std::shared_ptr<ssl::context> tls_context_;
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_due_{};
  unsigned timer_generation_ = 0;
  Clock::time_point last_activity_ = Clock::now();
  std::string key_;
  std::shared_ptr<const SmtpCredential> credential_;
  State state_ = State::Connecting;
  bool tls_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool open_ = false;        // a transaction's end of data is not written yet
  bool needs_rset_ = false;  // the last transaction failed before its end of data
  bool retired_ = false;
  bool probe_mode_ = false;
  SmtpProbeResult probe_;
  unsigned assigned_ = 0;  // messages given to this connection
  EhloCapabilities caps_;
  SaslMechanism mechanism_ = SaslMechanism::Plain;
  ReplyCollector replies_;
  std::array<char, 16384> buffer_{};
  std::deque<Out> outbox_;
  std::deque<Pending> inflight_;
  std::deque<std::shared_ptr<Tx>> txs_;  // assigned, not finished, in order
  std::string write_buffer_;             // a flight over TLS, in one piece
  std::deque<Out> written_;              // the flight being written (owns what pieces_ point into)
  std::deque<std::string> stuffed_;      // bodies copied to be dot-stuffed (many '.' lines)
  std::vector<std::string_view> pieces_;
  std::vector<asio::const_buffer> gather_;
  foundation::SecretBytes write_secret_;
};

class AsioSmtpSender final : public AsyncSmtpSender, public ConnectionOwner {
 public:
  AsioSmtpSender(asio::io_context& io, SmtpSettings settings, std::size_t max_connections)
      : io_(io),
        settings_(std::move(settings)),
        max_connections_(std::max<std::size_t>(1, max_connections)),
        backoff_timer_(io),
        alive_(std::make_shared<bool>(true)) {
    auto tls = makeSmtpTlsContext(settings_);
    if (tls) {
      tls_ = std::move(tls).value();
    } else {
      tls_error_ = tls.error().message;
      log::error("smtp_tls_setup_failed", {{"detail", tls_error_}});
    }
  }

  ~AsioSmtpSender() override {
    *alive_ = false;
    for (auto& c : all_) c->abandon();
  }

  void send(mailformat::Envelope envelope, std::shared_ptr<const std::string> message,
            std::shared_ptr<const SmtpCredential> credential, Done done) override {
    auto tx = std::make_shared<Tx>();
    tx->envelope = std::move(envelope);
    tx->message = std::move(message);
    tx->key = credential->lease_id + " " + credential->credential_path;
    tx->credential = std::move(credential);
    tx->done = std::move(done);
    if (!tls_) {
      SmtpProbeResult setup;
      setup.failure = SmtpProbeResult::Failure::Tls;
      setup.detail = tls_error_;
      return complete(tx,
                      failure(SendOutcome::TlsFailure, oneLine(diagnoseSmtp(setup, settings_))));
    }
    waiting_.push_back(std::move(tx));
    pump();
  }

  void retire(const std::string& lease_id) override {
    const std::string prefix = lease_id + " ";
    std::vector<std::shared_ptr<Connection>> matching;
    for (const auto& c : all_) {
      if (c->key().compare(0, prefix.size(), prefix) == 0 && !c->retired()) matching.push_back(c);
    }
    if (!matching.empty())
      log::info("smtp_connections_retired",
                {{"lease_id", lease_id}, {"connections", matching.size()}});
    for (auto& c : matching) c->retire();
  }

  std::size_t active() const override { return active_; }
  std::size_t waiting() const override { return waiting_.size(); }
  SenderStats stats() const override { return stats_; }
  std::size_t pools() const override {
    std::set<std::string> keys;
    for (const auto& c : all_) {
      if (!c->closing() && (!c->retired() || c->hasMessages())) keys.insert(c->key());
    }
    return keys.size();
  }

 private:
  // ---- ConnectionOwner ----
  void finished(Connection&, std::shared_ptr<Tx> tx, SendResult result) override {
    --active_;
    // A session logged in before its login was deleted (lease revoked from outside)
    // goes on working, and a server may have closed an idle session meanwhile: a
    // failure on a reused connection is not trusted; the message is tried once more on
    // a new connection, whose AUTH tells the truth.
    if (result.reused_connection && !tx->retried_fresh &&
        (result.outcome == SendOutcome::Rejected ||
         result.outcome == SendOutcome::TemporaryFailure)) {
      tx->retried_fresh = true;
      tx->needs_fresh = true;
      tx->resetAttempt();
      waiting_.push_front(std::move(tx));
      return postPump();
    }
    if (result.outcome == SendOutcome::AuthRefused) {
      // The credential is gone: nothing may reuse its connections.
      const std::string key = tx->key;
      for (auto& c : all_) {
        if (c->key() == key) c->retire();
      }
      // The server refused this login on a new connection: every message waiting for
      // it would get the same answer, one connection and one reconnect backoff each
      // (a backlog behind a revoked lease took minutes, and held up the messages of
      // the new credential). They end now with that answer, so their senders try
      // again with the keeper's replacement (issue 14).
      std::deque<std::shared_ptr<Tx>> others;
      for (auto& waiting : waiting_) {
        if (waiting->key == key) {
          complete(waiting, failure(SendOutcome::AuthRefused, result.detail, result.reply));
        } else {
          others.push_back(std::move(waiting));
        }
      }
      waiting_ = std::move(others);
    }
    complete(tx, std::move(result));
    postPump();
  }

  void idle(Connection&) override { postPump(); }

  void closed(Connection& c) override {
    std::erase_if(all_, [&](const std::shared_ptr<Connection>& p) { return p.get() == &c; });
    postPump();
  }

  void setupFailed() override { next_connect_ = Clock::now() + backoff_.next(); }
  void setupSucceeded() override { backoff_.reset(); }

  std::shared_ptr<Tx> nextFor(Connection& c) override {
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if ((*it)->key == c.key() && !(*it)->needs_fresh) {
        auto tx = std::move(*it);
        waiting_.erase(it);
        ++active_;
        ++stats_.pipelined;
        return tx;
      }
    }
    return nullptr;
  }

  // ---- scheduling ----
  void postPump() {
    if (pump_posted_) return;
    pump_posted_ = true;
    asio::post(io_, [this, alive = alive_] {
      if (!*alive) return;
      pump_posted_ = false;
      pump();
    });
  }

  Connection* idleConnection(const std::string& key) {
    for (auto& c : all_) {
      if (c->key() == key && c->idleNow() && c->mayTakeMore()) return c.get();
    }
    return nullptr;
  }

  // Gives each waiting message, in order, an idle connection of its credential or a new
  // one. Works on a snapshot: a connection may finish a message (and the sender requeue
  // it at the front) synchronously inside send().
  void pump() {
    if (pumping_) return postPump();
    // Under load every connection is busy and no new one may open: nothing can move
    // until one finishes (idle() and closed() pump again). Seen in one pass over the
    // connections, not in one per waiting message (which made each send() cost
    // waiting x connections key comparisons).
    if (all_.size() >= max_connections_ &&
        std::none_of(all_.begin(), all_.end(), [](const auto& c) { return c->idleNow(); })) {
      return;
    }
    pumping_ = true;
    auto snapshot = std::move(waiting_);
    waiting_.clear();
    std::deque<std::shared_ptr<Tx>> still;
    bool room_asked = false;
    for (auto& tx : snapshot) {
      if (!tx->needs_fresh) {
        if (Connection* c = idleConnection(tx->key)) {
          ++active_;
          ++stats_.on_idle_connection;
          c->send(std::move(tx));
          continue;
        }
      }
      if (all_.size() < max_connections_) {
        if (Clock::now() < next_connect_) {  // reconnect backoff: try again when it is over
          armBackoff();
          still.push_back(std::move(tx));
          continue;
        }
        ++active_;
        ++stats_.on_new_connection;
        ++stats_.connections_opened;
        auto c = std::make_shared<Connection>(io_, *this, settings_, tls_, tx->key, tx->credential);
        all_.push_back(c);
        c->start(std::move(tx));
        continue;
      }
      // At the limit: an idle connection (of another credential, or a stale one of this
      // one when a fresh connection is needed) makes room.
      if (!room_asked) {
        for (auto& c : all_) {
          if (c->idleNow() && (c->key() != tx->key || tx->needs_fresh)) {
            room_asked = true;
            c->retire();  // QUIT; closed() pumps again
            break;
          }
        }
      }
      still.push_back(std::move(tx));
    }
    for (auto& tx : still) waiting_.push_back(std::move(tx));
    pumping_ = false;
  }

  void armBackoff() {
    if (backoff_armed_) return;
    backoff_armed_ = true;
    backoff_timer_.expires_at(next_connect_);
    backoff_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (!*alive) return;
      backoff_armed_ = false;
      if (!ec) pump();
    });
  }

  void complete(const std::shared_ptr<Tx>& tx, SendResult result) {
    asio::post(io_, [tx, r = std::move(result)]() mutable {
      auto done = std::move(tx->done);
      tx->credential.reset();
      done(std::move(r));
    });
  }

  asio::io_context& io_;
  SmtpSettings settings_;
  std::size_t max_connections_;
  std::shared_ptr<ssl::context> tls_;
  std::string tls_error_;
  std::vector<std::shared_ptr<Connection>> all_;
  std::deque<std::shared_ptr<Tx>> waiting_;
  std::size_t active_ = 0;
  SenderStats stats_;
  bool pump_posted_ = false;
  bool pumping_ = false;
  // Reconnect delays after failed setups: 100 ms doubling to 2 s, no jitter (one
  // process's connections to one server; nothing to spread).
  foundation::Backoff backoff_{
      foundation::BackoffPolicy{std::chrono::milliseconds(100), std::chrono::seconds(2), 2.0, 0.0}};
  Clock::time_point next_connect_{};
  asio::steady_timer backoff_timer_;
  bool backoff_armed_ = false;
  std::shared_ptr<bool> alive_;
};

// Owns one probe connection until it has closed, then reports what it saw.
class ProbeRunner final : public ConnectionOwner {
 public:
  ProbeRunner(asio::io_context& io, SmtpSettings settings,
              std::function<void(SmtpProbeResult)> done)
      : io_(io), settings_(std::move(settings)), done_(std::move(done)) {}

  static void start(asio::io_context& io, const SmtpSettings& settings,
                    std::shared_ptr<const SmtpCredential> credential,
                    std::function<void(SmtpProbeResult)> done) {
    auto tls = makeSmtpTlsContext(settings);
    if (!tls) {
      SmtpProbeResult r;
      r.failure = SmtpProbeResult::Failure::Tls;
      r.detail = tls.error().message;
      asio::post(io, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
      return;
    }
    auto runner = std::make_shared<ProbeRunner>(io, settings, std::move(done));
    runner->self_ = runner;
    runner->connection_ = std::make_shared<Connection>(
        io, *runner, runner->settings_, std::move(tls).value(), "probe", std::move(credential));
    runner->connection_->probeOnly();
    runner->connection_->start(nullptr);
  }

 private:
  void finished(Connection&, std::shared_ptr<Tx>, SendResult) override {}
  void idle(Connection&) override {}
  void setupFailed() override {}
  void setupSucceeded() override {}
  std::shared_ptr<Tx> nextFor(Connection&) override { return nullptr; }
  void closed(Connection& c) override {
    SmtpProbeResult result = c.probeResult();
    // Let go outside the connection's own call stack.
    asio::post(io_, [self = std::move(self_), result = std::move(result)]() mutable {
      auto done = std::move(self->done_);
      self->connection_.reset();
      done(std::move(result));
    });
  }

  asio::io_context& io_;
  SmtpSettings settings_;
  std::function<void(SmtpProbeResult)> done_;
  std::shared_ptr<Connection> connection_;
  std::shared_ptr<ProbeRunner> self_;
};

}  // namespace

void probeSmtp(asio::io_context& io, const SmtpSettings& settings,
               std::shared_ptr<const SmtpCredential> credential,
               std::function<void(SmtpProbeResult)> done) {
  ProbeRunner::start(io, settings, std::move(credential), std::move(done));
}

std::unique_ptr<AsyncSmtpSender> makeAsioSmtpSender(asio::io_context& io,
                                                    const SmtpSettings& settings,
                                                    std::size_t max_connections) {
  return std::make_unique<AsioSmtpSender>(io, settings, max_connections);
}

}  // namespace sidecar::relay
