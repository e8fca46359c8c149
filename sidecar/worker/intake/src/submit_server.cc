// submit_server.cc: Beast HTTP/1.1 server on a Unix socket (see submit_server.h).
//
// SECURITY: untrusted local clients, identified by SO_PEERCRED at accept. Limits:
// 16 KiB of headers, the profile's body size, 30 s to send a request, keep-alive
// connections closed when idle. An unknown peer's request is answered 403 after its
// headers, without reading its body. Answers never echo message content.
// ERRORS: each failure becomes an HTTP status with a JSON error body.
#include "sidecar/intake/submit_server.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "foundation/random.h"
#include "foundation/utf8.h"
#include "mailformat/message_headers.h"
#include "mailformat/mime.h"
#include "sidecar/base/log.h"
#include "sidecar/base/log_limiter.h"
#include "sidecar/base/metrics.h"
#include "sidecar/intake/http_framing.h"
#include "sidecar/intake/submission_policy.h"
#include "sidecar/intake/submit_json.h"

namespace sidecar::submit {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;
using Stream = beast::basic_stream<local>;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// kHeaderLimit and kReadBufferBytes (which bounds chunk headers and trailers) come
// from http_framing.h, with the framing rules.
constexpr auto kIdleTimeout = std::chrono::seconds(75);
constexpr auto kLingerTimeout = std::chrono::seconds(5);
constexpr std::size_t kMaxLinger = std::size_t{256} << 20;  // stop discarding after this

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Every string in an answer is valid UTF-8 (a recipient or an SMTP reply may not be).
void writeString(JsonWriter& w, std::string_view s) {
  const std::string valid = foundation::utf8::sanitize(s);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void writeSmtpReply(JsonWriter& w, const mailformat::SmtpReply& reply) {
  w.Key("smtp");
  w.StartObject();
  w.Key("code");
  w.Int(reply.code);
  w.Key("message");
  writeString(w, reply.text);
  w.EndObject();
}

void writeRecipients(JsonWriter& w, const std::vector<mailformat::RecipientReply>& recipients) {
  w.Key("recipients");
  w.StartArray();
  for (const auto& r : recipients) {
    w.StartObject();
    w.Key("address");
    writeString(w, r.address);
    w.Key("status");
    w.String(r.reply.isPositive() ? "accepted" : r.reply.isTransient() ? "deferred" : "rejected");
    w.Key("code");
    w.Int(r.reply.code);
    w.Key("message");
    writeString(w, r.reply.text);
    w.EndObject();
  }
  w.EndArray();
}

// One JSON object: `fill` writes its members.
template <typename Fn>
std::string jsonObject(Fn&& fill) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  fill(w);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string errorBody(std::string_view code, std::string_view message,
                      const mailformat::SmtpReply* reply = nullptr,
                      const std::vector<mailformat::RecipientReply>* recipients = nullptr) {
  return jsonObject([&](JsonWriter& w) {
    w.Key("error");
    w.StartObject();
    w.Key("code");
    writeString(w, code);
    w.Key("message");
    writeString(w, message);
    if (reply != nullptr && reply->code != 0) writeSmtpReply(w, *reply);
    if (recipients != nullptr && !recipients->empty()) writeRecipients(w, *recipients);
    w.EndObject();
  });
}

// {"status": ...}, with the message id first for asynchronous submissions.
std::string statusBody(std::string_view status, std::string_view id = {}) {
  return jsonObject([&](JsonWriter& w) {
    if (!id.empty()) {
      w.Key("id");
      writeString(w, id);
    }
    w.Key("status");
    writeString(w, status);
  });
}

// {"status":"not_ready","reason":...}: what stops mail from being sent.
std::string notReadyBody(std::string_view reason) {
  return jsonObject([&](JsonWriter& w) {
    w.Key("status");
    writeString(w, "not_ready");
    if (!reason.empty()) {
      w.Key("reason");
      writeString(w, reason);
    }
  });
}

std::string sentBody(const relay::SendResult& send) {
  return jsonObject([&](JsonWriter& w) {
    w.Key("status");
    const bool partial = std::any_of(send.recipients.begin(), send.recipients.end(),
                                     [](const auto& r) { return !r.reply.isPositive(); });
    w.String(partial ? "partially_sent" : "sent");
    writeSmtpReply(w, send.reply);
    writeRecipients(w, send.recipients);
  });
}

std::string statusBodyOf(const std::string& id, const MessageStatus& status) {
  return jsonObject([&](JsonWriter& w) {
    w.Key("id");
    writeString(w, id);
    w.Key("status");
    w.String(toString(status.state));
    w.Key("attempts");
    w.Uint(status.attempts);
    if (status.state == MessageState::Retrying) {
      w.Key("next_attempt_in_seconds");
      w.Int64(status.next_attempt_in_seconds);
    }
    if (status.attempts == 0) return;
    if (status.last.no_credential) {
      w.Key("detail");
      w.String("no valid SMTP credential");
      return;
    }
    w.Key("outcome");
    w.String(relay::toString(status.last.send.outcome));
    if (status.last.send.reply.code != 0) writeSmtpReply(w, status.last.send.reply);
    writeRecipients(w, status.last.send.recipients);
    if (!status.last.send.detail.empty()) {
      w.Key("detail");
      writeString(w, status.last.send.detail);
    }
  });
}

// The media type of a Content-Type value, without parameters.
std::string_view mediaType(std::string_view content_type) {
  auto media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return media;
}

// The BLAKE2b-256 digest (hex) of a request as sent: media type, query and body, each
// length-prefixed so that no two requests share an encoding. The profile is not in it:
// a key is scoped to its profile already.
std::string requestDigest(std::string_view media, std::string_view query, std::string_view body) {
  static constexpr unsigned char kContext[] = "smtp-sidecar Idempotency-Key request v1";
  crypto_generichash_state state;
  // libsodium fails these only for sizes out of its range, which ours never are; an
  // empty digest would then only mean "no content check" (the first outcome).
  if (crypto_generichash_init(&state, kContext, sizeof kContext - 1, crypto_generichash_BYTES) !=
      0) {
    return {};
  }
  for (std::string_view part : {media, query, body}) {
    unsigned char length[8];
    for (std::size_t i = 0; i < sizeof length; ++i) {
      length[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(part.size()) >> (8 * i));
    }
    if (crypto_generichash_update(&state, length, sizeof length) != 0 ||
        crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(part.data()),
                                  part.size()) != 0) {
      return {};
    }
  }
  unsigned char digest[crypto_generichash_BYTES];
  if (crypto_generichash_final(&state, digest, sizeof digest) != 0) return {};
  char hex[2 * crypto_generichash_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

// A JSON submission becomes a MIME message here; the Message-ID's domain is the
// sender's, as mail clients do.
std::string buildJsonMessage(const mailformat::mime::Message& message) {
  mailformat::mime::BuildOptions options;
  options.date = std::chrono::system_clock::now();
  const auto& from = message.from.address;
  options.message_id = foundation::randomHex(16) + from.substr(from.rfind('@'));
  options.boundary_seed = foundation::randomHex(12);
  return mailformat::mime::build(message, options);
}

}  // namespace

// What the server and its sessions share; all on the one io thread, so no locking.
struct ServerShared {
  std::chrono::steady_clock::duration request_timeout;
  std::size_t max_pending_bytes;
  std::size_t pending_bytes = 0;     // reserved by bodies being read or processed
  std::size_t live_connections = 0;  // sessions not yet destroyed
  // Warn lines caused by a peer: at most 5 per 10 s per (event, uid).
  log::LogLimiter peer_log{5, std::chrono::seconds(10)};
  std::function<void()> connection_closed;  // resumes an accept paused at the limit
};

namespace {

// A warn line caused by a peer, within its log budget; "suppressed" counts the lines
// left out since the last one.
void peerWarn(ServerShared& shared, std::string_view event, std::uint32_t uid,
              std::initializer_list<log::Field> fields) {
  const auto admitted = shared.peer_log.admit(std::string(event) + ":" + std::to_string(uid),
                                              std::chrono::steady_clock::now());
  if (!admitted) return;
  std::vector<log::Field> all(fields);
  all.push_back({"uid", uid});
  if (*admitted > 0) all.push_back({"suppressed", static_cast<std::int64_t>(*admitted)});
  log::writeFields(log::Level::Warn, event, all);
}

// The bytes of one request body, reserved against listen.max_pending_bytes until the
// message has been handed on (or refused).
class BodyReservation {
 public:
  explicit BodyReservation(std::shared_ptr<ServerShared> shared) : shared_(std::move(shared)) {}
  BodyReservation(const BodyReservation&) = delete;
  BodyReservation& operator=(const BodyReservation&) = delete;
  ~BodyReservation() { release(); }

  bool reserve(std::size_t bytes) {
    release();
    if (bytes > shared_->max_pending_bytes - shared_->pending_bytes) return false;
    shared_->pending_bytes += bytes;
    held_ = bytes;
    return true;
  }
  void release() {
    shared_->pending_bytes -= held_;
    held_ = 0;
  }

 private:
  std::shared_ptr<ServerShared> shared_;
  std::size_t held_ = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `state` null: the peer has no profile (every request gets 403).
  Session(local::socket socket, Dispatcher& dispatcher, profile::Peer peer,
          std::shared_ptr<ProfileState> state, std::shared_ptr<ServerShared> shared)
      : stream_(std::move(socket)),
        dispatcher_(dispatcher),
        peer_(peer),
        state_(std::move(state)),
        limits_(std::move(shared)),
        budget_(limits_) {
    ++limits_->live_connections;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    --limits_->live_connections;
    if (limits_->connection_closed) limits_->connection_closed();
  }

  void start() { read(); }

 private:
  std::size_t maxMessageBytes() const { return state_->profile.max_message_bytes; }

  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // The profile's limit is known before the body arrives.
    if (state_) parser_->body_limit(maxMessageBytes());
    stream_.expires_after(requests_served_ == 0 ? limits_->request_timeout : kIdleTimeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onHeader(ec); });
  }

  // Errors of the header or the body read: an answer, or a silent close when the
  // client went away or took too long.
  void readFailed(beast::error_code ec, bool in_body) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof || ec == http::error::partial_message) {
      return close();
    }
    if (!state_) {
      // A peer without a profile learns nothing more (its body is never read, and
      // Beast's default body limit may have stopped the header read).
      return fail(403, "peer_not_allowed",
                  "no profile allows this user to send through the sidecar", false);
    }
    if (ec == http::error::body_limit) {
      // Answered before the body was read: no keep-alive, then a lingering close.
      ++state_->stats.size_refused;
      return fail(413, "message_too_large",
                  "the message is larger than " + std::to_string(maxMessageBytes()) + " bytes",
                  false);
    }
    if (ec == http::error::header_limit || (ec == http::error::buffer_overflow && !in_body)) {
      return fail(431, "headers_too_large", "request headers are larger than 16 KiB", false);
    }
    if (ec == http::error::buffer_overflow) {
      // Beast 1.74 keeps a chunk header (with its extensions) or the trailer section in
      // the read buffer until it ends; the buffer's fixed size is what bounds them.
      return fail(400, "malformed_request",
                  "a chunk header or the trailer section is longer than " +
                      std::to_string(kReadBufferBytes / 1024) + " KiB",
                  false);
    }
    fail(400, "malformed_request", "malformed HTTP request", false);
  }

  void onHeader(beast::error_code ec) {
    if (ec) return readFailed(ec, false);
    if (!state_) {
      // The body is never read: answer after the headers, then a lingering close.
      return fail(403, "peer_not_allowed",
                  "no profile allows this user to send through the sidecar", false);
    }
    const auto& header = parser_->get();
    if (auto why = framingError(header)) return fail(400, "malformed_request", why, false);
    // The body's bytes are reserved before they are read: the sum over all connections
    // stays within listen.max_pending_bytes.
    const std::size_t announced = parser_->content_length()
                                      ? static_cast<std::size_t>(*parser_->content_length())
                                  : parser_->chunked() ? maxMessageBytes()
                                                       : 0;
    if (!budget_.reserve(announced)) {
      return fail(503, "server_busy", "too many request bytes in flight; try again shortly", false,
                  1);
    }
    // Beast reads as much as the buffer has room for, and a new buffer has 512 bytes:
    // room for the announced body (up to the buffer's fixed limit) makes a small message
    // one read instead of one per 512 bytes. Kept for the connection's next requests.
    const std::size_t room = std::min(kReadBufferBytes, buffer_.size() + announced);
    if (buffer_.capacity() < room) buffer_.reserve(room);
    const auto expect = header[http::field::expect];
    if (!expect.empty()) {
      if (!beast::iequals(expect, "100-continue") || header.version() < 11) {
        return fail(417, "expectation_failed", "only Expect: 100-continue is understood", false);
      }
      if (!parser_->is_done()) return sendContinue();
    }
    readBody();
  }

  // RFC 9110 10.1.1: the client waits for this before it sends the body.
  void sendContinue() {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        self->readBody();
                      });
  }

  void readBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec) return readFailed(ec, true);
    stream_.expires_never();
    request_ = parser_->release();
    ++requests_served_;
    route();
    budget_.release();  // the body now lives in the message handed on, or is gone
  }

  void route() {
    const auto target =
        splitTarget(std::string_view(request_.target().data(), request_.target().size()));
    const bool keep_alive = request_.keep_alive();
    if (target.path == "/v1/messages") {
      if (request_.method() != http::verb::post) return methodNotAllowed("POST");
      return submitMessage(target.query);
    }
    if (target.path.rfind("/v1/messages/", 0) == 0) {
      if (request_.method() != http::verb::get) return methodNotAllowed("GET");
      return messageStatus(target.path.substr(std::string_view("/v1/messages/").size()));
    }
    if (target.path == "/v1/health") {
      if (request_.method() != http::verb::get) return methodNotAllowed("GET");
      return respond(200, statusBody("ok"), keep_alive);
    }
    if (target.path == "/v1/ready") {
      if (request_.method() != http::verb::get) return methodNotAllowed("GET");
      if (dispatcher_.ready()) return respond(200, statusBody("ready"), keep_alive);
      return respond(503, notReadyBody(dispatcher_.notReadyReason()), keep_alive, 5);
    }
    if (target.path == "/metrics") {
      if (request_.method() != http::verb::get) return methodNotAllowed("GET");
      return dispatcher_.metrics([self = shared_from_this(), keep_alive](std::string text) {
        asio::post(self->stream_.get_executor(), [self, keep_alive, text = std::move(text)] {
          self->respond(200, std::move(text), keep_alive, 0, metrics::kContentType);
        });
      });
    }
    fail(404, "not_found", "no such endpoint", keep_alive);
  }

  void submitMessage(std::string_view query) {
    const bool keep_alive = request_.keep_alive();
    // Idempotency-Key: a client that lost the answer (a broken connection) submits again
    // with the same key and gets the first message's id instead of a second message.
    const auto key_field = request_["Idempotency-Key"];
    const std::string_view idempotency_key(key_field.data(), key_field.size());
    if (!idempotency_key.empty()) {
      const bool visible = idempotency_key.size() <= 255 &&
                           std::all_of(idempotency_key.begin(), idempotency_key.end(),
                                       [](char c) { return c > 0x20 && c < 0x7f; });
      if (!visible) {
        return fail(400, "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters", keep_alive);
      }
      if (!wantsAsync()) {
        return fail(400, "idempotency_key_needs_async",
                    "Idempotency-Key is honoured for asynchronous submissions only "
                    "(Prefer: respond-async)",
                    keep_alive);
      }
    }
    const auto media = mediaType(request_[http::field::content_type]);
    // What a retry under the same key must repeat (before the body is parsed away).
    const std::string request_digest =
        idempotency_key.empty() ? std::string() : requestDigest(media, query, request_.body());
    Envelope envelope;
    std::string message;
    if (beast::iequals(media, "message/rfc822")) {
      auto parsed_envelope = parseEnvelopeQuery(query);
      if (auto* err = std::get_if<ApiError>(&parsed_envelope)) {
        return fail(err->http_status, err->code, err->message, keep_alive);
      }
      auto normalized = normalizeRawMessage(request_.body());
      if (auto* err = std::get_if<ApiError>(&normalized)) {
        return fail(err->http_status, err->code, err->message, keep_alive);
      }
      envelope = std::move(std::get<Envelope>(parsed_envelope));
      message = std::move(std::get<std::string>(normalized));
    } else if (beast::iequals(media, "application/json")) {
      if (!query.empty()) {
        return fail(400, "malformed_query",
                    "a JSON submission carries its addresses in the body, not the query",
                    keep_alive);
      }
      auto parsed = parseJsonSubmissionInPlace(request_.body());
      // The submission holds copies of what it needs: the body can go before the
      // message is built (one body-sized buffer less at the peak).
      request_.body().clear();
      request_.body().shrink_to_fit();
      if (auto* err = std::get_if<ApiError>(&parsed)) {
        return fail(err->http_status, err->code, err->message, keep_alive);
      }
      auto& submission = std::get<JsonSubmission>(parsed);
      message = buildJsonMessage(submission.message);
      if (message.size() > maxMessageBytes()) {
        ++state_->stats.size_refused;
        return fail(
            413, "message_too_large",
            "the encoded message is larger than " + std::to_string(maxMessageBytes()) + " bytes",
            keep_alive);
      }
      envelope = std::move(submission.envelope);
    } else {
      return fail(415, "unsupported_media_type",
                  "Content-Type must be application/json or message/rfc822", keep_alive);
    }
    request_.body().clear();
    request_.body().shrink_to_fit();
    Origin origin;
    if (!authorize(envelope, message, origin, keep_alive)) return;
    origin.idempotency_key = std::string(idempotency_key);
    origin.request_digest = request_digest;
    if (dispatcher_.full(message.size(), envelope.recipients.size())) {
      return fail(429, "queue_full",
                  "too many messages or bytes in flight (listen.max_queue, "
                  "listen.max_queue_bytes); try again shortly",
                  keep_alive, 5);
    }
    if (!withinRate(keep_alive)) return;
    ++state_->stats.accepted;
    if (wantsAsync()) {
      // Answered once the message is durable (the spool's group commit), on this
      // connection's executor; the connection reads nothing meanwhile.
      return dispatcher_.enqueue(std::move(origin), std::move(envelope), std::move(message),
                                 [self = shared_from_this(), keep_alive](EnqueueOutcome outcome) {
                                   asio::post(self->stream_.get_executor(),
                                              [self, keep_alive, outcome = std::move(outcome)] {
                                                self->onEnqueued(outcome, keep_alive);
                                              });
                                 });
    }
    dispatcher_.submit(std::move(origin), std::move(envelope), std::move(message),
                       [self = shared_from_this(), keep_alive](SubmitResult result) {
                         // Called on a sending thread: hop back to this connection's executor.
                         asio::post(self->stream_.get_executor(),
                                    [self, keep_alive, result = std::move(result)] {
                                      self->onSent(result, keep_alive);
                                    });
                       });
  }

  // The profile's rules (intake/submission_policy.h, shared with the SMTP intake), as
  // HTTP answers. False when a refusal has been answered.
  bool authorize(Envelope& envelope, std::string& message, Origin& origin, bool keep_alive) {
    auto& state = *state_;
    const Profile& p = state.profile;
    const auto verdict = intake::authorizeMessage(p, envelope, message);
    switch (verdict.refusal) {
      case intake::Refusal::None:
        break;
      case intake::Refusal::MissingSender:
        fail(400, "missing_sender",
             "no sender given, and the profile has no default_sender and the message not "
             "exactly one From address",
             keep_alive);
        return false;
      case intake::Refusal::UnknownLocalRecipient:
        fail(422, "unknown_local_recipient",
             "\"" + verdict.detail + "\" has no domain and the profile has no alias for it",
             keep_alive);
        return false;
      case intake::Refusal::SenderNotAllowed:
        ++state.stats.sender_refused;
        peerWarn(*limits_, "sender_not_allowed", peer_.uid,
                 {{"profile", p.name}, {"pid", static_cast<std::int64_t>(peer_.pid)}});
        fail(403, "sender_not_allowed", intake::describe(verdict.sender), keep_alive);
        return false;
      case intake::Refusal::TooManyRecipients:
        ++state.stats.recipients_refused;
        fail(422, "too_many_recipients",
             "at most " + std::to_string(p.max_recipients) + " recipients per message", keep_alive);
        return false;
    }
    origin.peer = peer_;
    origin.profile = p.name;
    origin.credential_path = p.credential_path;
    origin.message_id = verdict.headers.message_id;
    return true;
  }

  // The profile's token bucket, last: only a message that would be sent takes a token.
  bool withinRate(bool keep_alive) {
    auto& state = *state_;
    const Profile& p = state.profile;
    const auto now = std::chrono::steady_clock::now();
    if (state.bucket.take(now)) return true;
    ++state.stats.rate_limited;
    const auto retry = state.bucket.retryAfterSeconds(now);
    peerWarn(*limits_, "rate_limited", peer_.uid,
             {{"profile", p.name}, {"retry_after_seconds", static_cast<std::int64_t>(retry)}});
    fail(429, "rate_limited",
         "profile " + p.name + " sends at most " + std::to_string(p.rate_per_minute) +
             " messages per minute",
         keep_alive, static_cast<int>(std::min<std::int64_t>(retry, 86400)));
    return false;
  }

  void onEnqueued(const EnqueueOutcome& outcome, bool keep_alive) {
    if (!outcome.id) {
      const auto& why = outcome.refusal;
      return fail(why.status, why.code, why.message, keep_alive, why.retry_after_seconds);
    }
    response_ = std::make_shared<Response>();
    response_->set(http::field::location, "/v1/messages/" + *outcome.id);
    respond(202, statusBody("queued", *outcome.id), keep_alive);
  }

  void onSent(const SubmitResult& result, bool keep_alive) {
    if (result.no_credential) {
      return fail(503, "no_credential", "the sidecar holds no valid SMTP credential at the moment",
                  keep_alive, 5);
    }
    const auto& send = result.send;
    switch (send.outcome) {
      case relay::SendOutcome::Accepted:
        return respond(200, sentBody(send), keep_alive);
      case relay::SendOutcome::Rejected:
        return respond(502,
                       errorBody("smtp_rejected", "the SMTP server refused the message",
                                 &send.reply, &send.recipients),
                       keep_alive);
      case relay::SendOutcome::AuthRefused:
        return respond(503,
                       errorBody("credential_refused",
                                 "the SMTP server refused the leased credential", &send.reply),
                       keep_alive, 5);
      case relay::SendOutcome::TlsFailure:
        return respond(502,
                       errorBody("smtp_tls_failed",
                                 "TLS with the SMTP server failed: " + send.detail, &send.reply),
                       keep_alive);
      case relay::SendOutcome::TemporaryFailure:
        return respond(
            503,
            errorBody("smtp_unavailable",
                      "the SMTP server is unavailable: " +
                          (send.detail.empty() ? std::string("temporary failure") : send.detail),
                      &send.reply),
            keep_alive, 30);
    }
  }

  // RFC 7240: "Prefer: respond-async" asks for 202 and a status URL.
  bool wantsAsync() const {
    const auto prefer = request_[http::field::prefer];
    return std::string_view(prefer.data(), prefer.size()).find("respond-async") !=
           std::string_view::npos;
  }

  void messageStatus(std::string_view id) {
    const bool keep_alive = request_.keep_alive();
    auto status = intake::isMessageId(id) ? dispatcher_.status(std::string(id)) : std::nullopt;
    if (!status || !intake::statusVisibleTo(status->profile, state_->profile)) {
      return fail(404, "not_found", "no message with this id", keep_alive);
    }
    respond(200, statusBodyOf(std::string(id), *status), keep_alive);
  }

  void methodNotAllowed(const char* allow) {
    response_ = std::make_shared<Response>();
    response_->set(http::field::allow, allow);
    fail(405, "method_not_allowed", std::string("use ") + allow, request_.keep_alive());
  }

  void fail(unsigned status, std::string_view code, const std::string& message, bool keep_alive,
            int retry_after = 0) {
    budget_.release();  // a refused body holds no bytes, even while it is drained
    if (status >= 500 || status == 413 || status == 431 || status == 403 || status == 400) {
      peerWarn(*limits_, "request_failed", peer_.uid,
               {{"status", static_cast<int>(status)}, {"code", code}});
    }
    respond(status, errorBody(code, message), keep_alive, retry_after);
  }

  void respond(unsigned status, std::string body, bool keep_alive, int retry_after = 0,
               std::string_view content_type = "application/json") {
    if (!response_) response_ = std::make_shared<Response>();
    response_->version(11);
    response_->result(status);
    response_->set(http::field::server, "smtp-sidecar");
    response_->set(http::field::content_type, content_type);
    if (retry_after > 0) response_->set(http::field::retry_after, std::to_string(retry_after));
    response_->keep_alive(keep_alive);
    response_->body() = std::move(body);
    response_->prepare_payload();
    stream_.expires_after(limits_->request_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        self->response_.reset();
                        if (ec) return self->close();
                        if (!keep_alive) return self->lingeringClose();
                        self->read();
                      });
  }

  // After an early answer (413 before the body was read) the client may still be
  // sending. Closing now would reset the connection and the client would never see the
  // answer, so stop writing, then read and discard what arrives for a short while
  // (as nginx's lingering_close does).
  void lingeringClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(local::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    discard_.resize(64 * 1024);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > kMaxLinger) return self->close();
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(local::socket::shutdown_both, ignored);
    stream_.close();
  }

  Stream stream_;
  Dispatcher& dispatcher_;
  const profile::Peer peer_;
  const std::shared_ptr<ProfileState> state_;
  const std::shared_ptr<ServerShared> limits_;
  BodyReservation budget_;
  beast::flat_buffer buffer_{kReadBufferBytes};
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  std::shared_ptr<Response> response_;
  std::size_t requests_served_ = 0;
  std::vector<char> discard_;
  std::size_t lingered_ = 0;
};

}  // namespace

const char* toString(MessageState state) noexcept {
  switch (state) {
    case MessageState::Queued:
      return "queued";
    case MessageState::Sending:
      return "sending";
    case MessageState::Retrying:
      return "retrying";
    case MessageState::Sent:
      return "sent";
    case MessageState::Failed:
      return "failed";
  }
  return "unknown";
}

SubmitServer::SubmitServer(asio::io_context& io, ListenSettings settings,
                           std::vector<Profile> profiles, Dispatcher& dispatcher)
    : settings_(std::move(settings)),
      shared_(std::make_shared<ServerShared>()),
      dispatcher_(dispatcher),
      acceptor_(io),
      accept_retry_(io) {
  shared_->request_timeout = std::chrono::seconds(settings_.request_timeout_seconds);
  shared_->max_pending_bytes = settings_.max_pending_bytes;
  shared_->connection_closed = [this] {
    if (accept_paused_ && acceptor_.is_open() && shared_->live_connections < connectionLimit()) {
      accept_paused_ = false;
      accept();
    }
  };
  setProfiles(std::move(profiles));
}

void SubmitServer::setProfiles(std::vector<Profile> profiles) {
  const auto now = std::chrono::steady_clock::now();
  std::map<std::string, std::shared_ptr<ProfileState>> states;
  for (const auto& p : profiles) {
    auto it = states_.find(p.name);
    if (it != states_.end()) {
      it->second->profile = p;
      it->second->bucket.reconfigure(p.rate_per_minute, p.burst, now);
      states.emplace(p.name, it->second);
    } else {
      states.emplace(p.name, std::make_shared<ProfileState>(p, now));
    }
  }
  states_ = std::move(states);  // sessions of a removed profile keep theirs until they end
  profiles_ = std::move(profiles);
}

std::map<std::string, profile::ProfileStats> SubmitServer::profileStats() const {
  std::map<std::string, profile::ProfileStats> out;
  for (const auto& [name, state] : states_) out.emplace(name, state->stats);
  return out;
}

std::shared_ptr<ProfileState> SubmitServer::admit(const profile::Peer& peer) {
  const Profile* matched = profile::match(profiles_, peer);
  if (matched != nullptr) return states_.at(matched->name);
  ++peers_refused_;
  peerWarn(*shared_, "peer_not_allowed", peer.uid,
           {{"gid", peer.gid}, {"pid", static_cast<std::int64_t>(peer.pid)}});
  return nullptr;
}

SubmitServer::~SubmitServer() {
  shared_->connection_closed = nullptr;  // sessions may outlive the server
  close();
}

std::size_t SubmitServer::connectionLimit() const {
  constexpr rlim_t kKeptDescriptors = 64;
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur == RLIM_INFINITY) {
    return settings_.max_connections;
  }
  const rlim_t room = nofile.rlim_cur > 2 * kKeptDescriptors ? nofile.rlim_cur - kKeptDescriptors
                                                             : nofile.rlim_cur / 2;
  return std::min<std::size_t>(settings_.max_connections, static_cast<std::size_t>(room));
}

foundation::Status SubmitServer::adopt(int listening_fd) {
  beast::error_code ec;
  acceptor_.assign(local(), listening_fd, ec);
  if (ec) return foundation::Error::internal("cannot adopt the listening socket: " + ec.message());
  // systemd's default soft limit (1024) would cap connections long before the hard
  // one; use what the hard limit allows.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
      log::warn("nofile_limit_unchanged", {{"error", std::strerror(errno)}});
    }
  }
  accept();
  return {};
}

void SubmitServer::accept() {
  if (shared_->live_connections >= connectionLimit()) {
    // Further clients wait in the listen backlog until a connection closes; accepting
    // and closing them would only turn waiting into failing.
    if (!accept_paused_) {
      accept_paused_ = true;
      peerWarn(*shared_, "connections_at_limit", 0,
               {{"connections", shared_->live_connections}, {"limit", connectionLimit()}});
    }
    return;
  }
  acceptor_.async_accept([this](beast::error_code ec, local::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) return acceptFailed(ec);
    // The kernel's record of who connected: it cannot be forged by the client.
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        len != sizeof cred) {
      log::error("peer_credentials_unavailable", {{"error", std::strerror(errno)}});
      beast::error_code ignored;
      socket.close(ignored);
      return accept();
    }
    const profile::Peer peer{static_cast<std::uint32_t>(cred.uid),
                             static_cast<std::uint32_t>(cred.gid),
                             static_cast<std::int32_t>(cred.pid)};
    std::shared_ptr<ProfileState> state = admit(peer);
    std::make_shared<Session>(std::move(socket), dispatcher_, peer, std::move(state), shared_)
        ->start();
    accept();
  });
}

// Out of descriptors or kernel memory: retrying at once would spin (the pending
// connection stays pending), so wait a little; one log line per interval.
void SubmitServer::acceptFailed(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_aborted) return accept();  // that client gave up
  peerWarn(*shared_, "accept_failed", 0,
           {{"error", ec.message()}, {"connections", shared_->live_connections}});
  accept_retry_.expires_after(std::chrono::milliseconds(100));
  accept_retry_.async_wait([this](const boost::system::error_code& wait_ec) {
    if (!wait_ec && acceptor_.is_open()) accept();
  });
}

void SubmitServer::close() {
  beast::error_code ignored;
  accept_retry_.cancel();
  acceptor_.close(ignored);
}

}  // namespace sidecar::submit
