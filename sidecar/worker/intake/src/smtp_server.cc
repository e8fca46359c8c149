// smtp_server.cc: the SMTP intake on Asio (see smtp_server.h).
//
// SECURITY: untrusted local clients, identified by the kernel at accept. One
// connection reads only when its session asks for input, so a delivery holds back
// whatever the client pipelines behind it; replies never echo message content.
// ERRORS: SMTP replies; socket errors end the connection.
#include "sidecar/intake/smtp_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "mailformat/message_headers.h"
#include "sidecar/base/log.h"
#include "sidecar/intake/peer_identity.h"
#include "sidecar/intake/submission_policy.h"
#include "sidecar/intake/submit_request.h"

namespace sidecar::intake {

namespace asio = boost::asio;
using Socket = asio::generic::stream_protocol::socket;

namespace {

constexpr auto kLingerTimeout = std::chrono::seconds(5);
constexpr std::size_t kReadChunk = 64 * 1024;
// Our own detail in a reply: with "451 4.7.5 TLS with the next hop failed: " in front,
// within the 512 octets of an RFC 5321 reply line.
constexpr std::size_t kMaxDetailInReply = 400;

// "5.1.1 rest" -> ("5.1.1", "rest") when the text starts with an enhanced code of the
// given class; the upstream reply's own code is reused, not invented.
std::pair<std::string, std::string> splitEnhanced(std::string_view text, char klass) {
  std::size_t i = 0;
  auto digits = [&](std::size_t max) {
    std::size_t n = 0;
    while (i < text.size() && n < max && text[i] >= '0' && text[i] <= '9') ++i, ++n;
    return n > 0;
  };
  if (!text.empty() && text[0] == klass && text.size() > 1 && text[1] == '.') {
    i = 2;
    if (digits(3) && i < text.size() && text[i] == '.' && (++i, digits(3)) &&
        (i == text.size() || text[i] == ' ')) {
      const auto rest = i == text.size() ? std::string_view{} : text.substr(i + 1);
      return {std::string(text.substr(0, i)), std::string(rest)};
    }
  }
  return {std::string(), std::string(text)};
}

std::string firstLine(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

}  // namespace

SmtpReply replyForResult(const submit::SubmitResult& result) {
  if (result.no_credential) {
    return {451, "4.3.0",
            "the sidecar holds no valid SMTP credential at the moment; try again later", false};
  }
  const auto& send = result.send;
  switch (send.outcome) {
    case relay::SendOutcome::Accepted: {
      std::string refused;
      std::size_t refused_count = 0;
      for (const auto& r : send.recipients) {
        if (r.reply.isPositive()) continue;
        ++refused_count;
        refused +=
            "\n" + r.address + ": " + std::to_string(r.reply.code) + " " + firstLine(r.reply.text);
      }
      auto [enhanced, text] = splitEnhanced(send.reply.text, '2');
      if (refused_count == 0) {
        return {250, "2.0.0", "sent; next hop: " + firstLine(text), false};
      }
      // One reply covers every recipient: it says which ones the next hop refused.
      return {250, "2.0.0",
              "sent to " + std::to_string(send.recipients.size() - refused_count) + " of " +
                  std::to_string(send.recipients.size()) +
                  " recipients; refused by the next hop:" + refused,
              false};
    }
    case relay::SendOutcome::Rejected: {
      auto [enhanced, text] = splitEnhanced(send.reply.text, '5');
      const int code = send.reply.isPermanent() ? send.reply.code : 554;
      return {code, enhanced.empty() ? "5.0.0" : enhanced,
              "the next hop refused the message: " + firstLine(text), false};
    }
    case relay::SendOutcome::AuthRefused:
      return {451, "4.7.0", "the next hop refused the sidecar's SMTP credential; try again later",
              false};
    case relay::SendOutcome::TlsFailure:
      // The detail is doctor's words (relay/smtp_diagnosis.h), one printable line; cut
      // so the reply stays within RFC 5321's 512-octet line.
      return {451, "4.7.5",
              "TLS with the next hop failed: " + (send.detail.empty()
                                                      ? std::string("try again later")
                                                      : send.detail.substr(0, kMaxDetailInReply)),
              false};
    case relay::SendOutcome::TemporaryFailure: {
      auto [enhanced, text] = splitEnhanced(send.reply.text, '4');
      // 421 would tell the client that this server closes the connection.
      const int code = send.reply.isTransient() && send.reply.code != 421 ? send.reply.code : 451;
      const std::string why =
          send.reply.code != 0 ? firstLine(text) : send.detail.substr(0, kMaxDetailInReply);
      return {
          code, enhanced.empty() ? "4.4.1" : enhanced,
          "the next hop is unavailable: " + (why.empty() ? std::string("temporary failure") : why),
          false};
    }
  }
  return {451, "4.3.0", "temporary failure", false};
}

std::variant<SmtpPrepared, SmtpRefusal> prepareSmtpMessage(std::string_view envelope_from,
                                                           std::string received,
                                                           const Profile& profile) {
  auto normalized = submit::normalizeRawMessage(received);
  received.clear();
  if (auto* e = std::get_if<submit::ApiError>(&normalized)) {
    return SmtpRefusal{{550, "5.6.0", e->message, false}, false};
  }
  SmtpPrepared out;
  out.message = withLocalFromQualified(withoutBcc(std::get<std::string>(normalized)), profile);
  out.headers = mailformat::summarizeHeaders(out.message);
  if (const auto verdict = checkFromHeaders(profile, out.headers);
      verdict != SenderVerdict::Allowed) {
    return SmtpRefusal{{550, "5.7.1", describe(verdict), false}, true};
  }
  out.message = withFromAdded(std::move(out.message), envelope_from, out.headers);
  return out;
}

class SmtpConnection : public std::enable_shared_from_this<SmtpConnection>, private SmtpPolicy {
 public:
  SmtpConnection(SmtpServer& server, Socket socket, profile::Peer peer,
                 std::shared_ptr<ProfileState> state, std::optional<SmtpReply> refusal)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_(peer),
        state_(std::move(state)),
        refusal_(std::move(refusal)),
        session_(server.settings_.smtp_host_name, limitsFor(state_.get()), *this) {}

  void start() {
    if (refusal_) {
      session_.refuse(*refusal_, out_);
    } else {
      session_.greet(out_);
    }
    flushThen(session_.next());
  }

  // The worker is stopping: an idle connection gets 421 now; one delivering a message
  // gets that message's answer first and 421 at its next read.
  void shutdown() {
    stopping_ = true;
    if (reading_) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
    }
  }

 private:
  static SmtpLimits limitsFor(const ProfileState* state) {
    SmtpLimits limits;
    limits.max_recipients = submit::kMaxRecipients;
    if (state != nullptr) limits.max_message_bytes = state->profile.max_message_bytes;
    return limits;
  }

  // ---- SmtpPolicy: the profile's rules at MAIL and RCPT ----
  std::optional<SmtpReply> mail(const MailCommand& mail) override {
    auto& state = *state_;
    if (checkEnvelopeSender(state.profile, mail.from) != SenderVerdict::Allowed) {
      ++state.stats.sender_refused;
      log::warn("sender_not_allowed",
                {{"profile", state.profile.name}, {"uid", peer_.uid}, {"intake", "smtp"}});
      return SmtpReply{550, "5.7.1", describe(SenderVerdict::EnvelopeNotAllowed), false};
    }
    // The bucket is only looked at here; a token is taken when a message is complete.
    const auto retry = state.bucket.retryAfterSeconds(std::chrono::steady_clock::now());
    if (retry > 0) {
      ++state.stats.rate_limited;
      return rateLimited(retry);
    }
    return std::nullopt;
  }

  std::variant<std::string, SmtpReply> rcpt(std::string_view recipient,
                                            std::size_t accepted) override {
    auto& state = *state_;
    std::string address(recipient);
    if (recipient.find('@') == std::string_view::npos) {
      auto alias = resolveLocalRecipient(state.profile, recipient);
      if (!alias) {
        return SmtpReply{550, "5.1.1",
                         "\"" + address + "\" has no domain and the profile has no alias for it",
                         false};
      }
      address = std::move(*alias);
    }
    if (!withinRecipientLimit(state.profile, accepted + 1)) {
      ++state.stats.recipients_refused;
      return SmtpReply{452, "4.5.3",
                       "too many recipients: at most " +
                           std::to_string(state.profile.max_recipients) + " per message",
                       false};
    }
    return address;
  }

  SmtpReply rateLimited(std::int64_t retry) const {
    return SmtpReply{451, "4.7.1",
                     "rate limited: profile " + state_->profile.name + " sends at most " +
                         std::to_string(state_->profile.rate_per_minute) +
                         " messages per minute; try again in " + std::to_string(retry) + " s",
                     false};
  }

  // ---- I/O ----
  void flushThen(SmtpSession::Next next) {
    if (out_.empty()) return step(next);
    writing_.swap(out_);
    out_.clear();
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this(), next](boost::system::error_code ec, std::size_t) {
                        self->writing_.clear();
                        if (ec) return self->closeNow();
                        self->step(next);
                      });
  }

  void step(SmtpSession::Next next) {
    switch (next) {
      case SmtpSession::Next::Read:
        return read();
      case SmtpSession::Next::Deliver:
        return deliver();
      case SmtpSession::Next::Close:
        return lingeringClose();
    }
  }

  void read() {
    if (stopping_) {
      session_.shuttingDown(out_);
      return flushThen(session_.next());
    }
    reading_ = true;
    timed_out_ = false;
    timer_.expires_after(server_.settings_.smtp_timeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->reading_) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);
    });
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](boost::system::error_code ec,
                                                        std::size_t n) { self->onRead(ec, n); });
  }

  void onRead(boost::system::error_code ec, std::size_t n) {
    reading_ = false;
    timer_.cancel();
    if (ec == asio::error::operation_aborted && (timed_out_ || stopping_)) {
      if (timed_out_) {
        session_.timedOut(out_);
      } else {
        session_.shuttingDown(out_);
      }
      return flushThen(session_.next());
    }
    if (ec) return closeNow();  // EOF or reset: the client left
    const auto next = session_.feed(std::string_view(buffer_.data(), n), out_);
    flushThen(next);
  }

  void deliver() {
    Delivery d = session_.takeDelivery();
    auto& state = *state_;
    const Profile& p = state.profile;
    auto prepared = prepareSmtpMessage(d.mail.from, std::move(d.message), p);
    if (auto* refused = std::get_if<SmtpRefusal>(&prepared)) {
      if (refused->sender_refused) {
        ++state.stats.sender_refused;
        log::warn("sender_not_allowed",
                  {{"profile", p.name}, {"uid", peer_.uid}, {"intake", "smtp"}});
      }
      return answer(refused->reply);
    }
    auto& [message, headers] = std::get<SmtpPrepared>(prepared);
    if (message.size() > p.max_message_bytes) {
      ++state.stats.size_refused;
      return answer({552, "5.3.4",
                     "the message is larger than " + std::to_string(p.max_message_bytes) + " bytes",
                     false});
    }
    if (server_.dispatcher_.full(message.size(), d.recipients.size())) {
      return answer({452, "4.3.1",
                     "too many messages or bytes in flight (listen.max_queue, "
                     "listen.max_queue_bytes); try again shortly",
                     false});
    }
    const auto now = std::chrono::steady_clock::now();
    if (!state.bucket.take(now)) {
      ++state.stats.rate_limited;
      return answer(rateLimited(state.bucket.retryAfterSeconds(now)));
    }
    ++state.stats.accepted;
    submit::Origin origin;
    origin.peer = peer_;
    origin.profile = p.name;
    origin.credential_path = p.credential_path;
    origin.message_id = headers.message_id;
    submit::Envelope envelope;
    envelope.from = std::move(d.mail.from);
    envelope.recipients = std::move(d.recipients);
    // Synchronous: the reply after DATA is the next hop's answer. When the spool
    // (issue 14) exists, this call becomes the durable enqueue and its 250 "stored".
    server_.dispatcher_.submit(
        std::move(origin), std::move(envelope), std::move(message),
        [self = shared_from_this()](submit::SubmitResult result) {
          asio::post(self->socket_.get_executor(),
                     [self, result = std::move(result)] { self->answer(replyForResult(result)); });
        });
  }

  void answer(const SmtpReply& reply) {
    const auto next = session_.delivered(reply, out_);
    flushThen(next);
  }

  // After the last reply the client may still be sending: closing at once could reset
  // the connection before it read the reply, so stop writing and drain for a while.
  void lingeringClose() {
    boost::system::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_send, ignored);
    timer_.expires_after(kLingerTimeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!ec && self) self->closeNow();
    });
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              if (ec) return self->closeNow();
                              self->drain();
                            });
  }

  void closeNow() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
    --server_.open_;
  }

  SmtpServer& server_;
  Socket socket_;
  asio::steady_timer timer_;
  const profile::Peer peer_;
  const std::shared_ptr<ProfileState> state_;
  const std::optional<SmtpReply> refusal_;
  SmtpSession session_;
  std::array<char, kReadChunk> buffer_{};
  std::string out_;
  std::string writing_;
  bool reading_ = false;
  bool timed_out_ = false;
  bool stopping_ = false;
  bool closed_ = false;
};

SmtpServer::SmtpServer(asio::io_context& io, const ListenSettings& settings,
                       submit::SubmitServer& profiles, submit::Dispatcher& dispatcher)
    : io_(io),
      settings_(settings),
      profiles_(profiles),
      dispatcher_(dispatcher),
      unix_acceptor_(io) {}

SmtpServer::~SmtpServer() {
  close();
}

foundation::Status SmtpServer::adoptUnix(int listening_fd) {
  boost::system::error_code ec;
  unix_acceptor_.assign(asio::local::stream_protocol(), listening_fd, ec);
  if (ec) return foundation::Error::internal("cannot adopt the SMTP socket: " + ec.message());
  acceptUnix();
  return {};
}

foundation::Status SmtpServer::adoptTcp(int listening_fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(listening_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return foundation::Error::internal("cannot adopt the SMTP TCP socket: getsockname failed");
  }
  auto& acceptor = tcp_acceptors_.emplace_back(io_);
  boost::system::error_code ec;
  acceptor.assign(address.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(),
                  listening_fd, ec);
  if (ec) return foundation::Error::internal("cannot adopt the SMTP TCP socket: " + ec.message());
  acceptTcp(tcp_acceptors_.size() - 1);
  return {};
}

bool SmtpServer::admitConnection() {
  std::erase_if(live_, [](const auto& weak) { return weak.expired(); });
  return open_ < settings_.smtp_max_connections;
}

void SmtpServer::welcome(Socket socket, const Identify& identify, log::Level unidentified_level) {
  std::optional<SmtpReply> refusal;
  std::shared_ptr<ProfileState> state;
  profile::Peer peer;
  if (!admitConnection()) {
    refusal = SmtpReply{421, "4.7.0", "too many connections; try again later", true};
  } else if (auto identified = identify(); !identified) {
    log::write(unidentified_level, "smtp_peer_unidentified",
               {{"error", identified.error().message}});
    refusal = SmtpReply{554, "5.7.1", "the sidecar cannot identify the caller", true};
  } else {
    peer = *identified;
    state = profiles_.admit(peer);
    if (!state) {
      refusal = SmtpReply{
          554, "5.7.1",
          "no profile allows uid " + std::to_string(peer.uid) + " to send through the sidecar",
          true};
    }
  }
  if (refusal) ++refused_;
  auto connection = std::make_shared<SmtpConnection>(*this, std::move(socket), peer,
                                                     std::move(state), std::move(refusal));
  ++open_;
  live_.push_back(connection);
  connection->start();
}

void SmtpServer::acceptUnix() {
  unix_acceptor_.async_accept(
      [this](boost::system::error_code ec, asio::local::stream_protocol::socket socket) {
        if (ec == asio::error::operation_aborted || closed_) return;
        if (ec) {
          log::warn("smtp_accept_failed", {{"error", ec.message()}});
          return acceptUnix();
        }
        const int fd = socket.native_handle();
        // SO_PEERCRED does not fail on a connected Unix socket: an error is worth more.
        welcome(
            Socket(io_, asio::generic::stream_protocol(AF_UNIX, 0), socket.release()),
            [fd] { return unixPeer(fd); }, log::Level::Error);
        acceptUnix();
      });
}

void SmtpServer::acceptTcp(std::size_t index) {
  auto it = std::next(tcp_acceptors_.begin(), static_cast<std::ptrdiff_t>(index));
  it->async_accept([this, index](boost::system::error_code ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || closed_) return;
    if (ec) {
      log::warn("smtp_accept_failed", {{"error", ec.message()}});
      return acceptTcp(index);
    }
    const int fd = socket.native_handle();
    const int family = socket.local_endpoint(ec).protocol().family();
    // A loopback peer that sock_diag cannot find (gone, or another namespace's).
    welcome(
        Socket(io_, asio::generic::stream_protocol(family, IPPROTO_TCP), socket.release()),
        [fd] { return loopbackTcpPeer(fd); }, log::Level::Warn);
    acceptTcp(index);
  });
}

void SmtpServer::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  unix_acceptor_.close(ignored);
  for (auto& acceptor : tcp_acceptors_) acceptor.close(ignored);
  for (auto& weak : live_) {
    if (auto connection = weak.lock()) connection->shutdown();
  }
}

}  // namespace sidecar::intake
