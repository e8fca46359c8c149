// smtp_transfer.cc: see smtp_transfer.h.
//
// SECURITY: see smtp_transfer.h (TLS required and verified, every option checked).
// ERRORS: SendResult; libcurl's error text goes into `detail`, never a credential.
#include "sidecar/relay/smtp_transfer.h"

#include <cstring>

#include "foundation/curl_options.h"

namespace sidecar::relay {
namespace {

SendOutcome classify(CURLcode rc, const SmtpReply& reply) {
  if (rc == CURLE_OK) return SendOutcome::Accepted;
  switch (rc) {
    case CURLE_LOGIN_DENIED:
      return SendOutcome::AuthRefused;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CACERT_BADFILE:
      return SendOutcome::TlsFailure;
    default:
      break;
  }
  if (reply.code == 535 || reply.code == 534 || reply.code == 530) return SendOutcome::AuthRefused;
  if (reply.isPermanent()) return SendOutcome::Rejected;
  return SendOutcome::TemporaryFailure;
}

}  // namespace

std::string smtpUrl(const SmtpSettings& settings) {
  const char* scheme = settings.tls == SmtpTls::Implicit ? "smtps" : "smtp";
  // IPv6 literals need brackets in a URL.
  const std::string host =
      settings.host.find(':') != std::string::npos ? "[" + settings.host + "]" : settings.host;
  return std::string(scheme) + "://" + host + ":" + std::to_string(settings.port) + "/" +
         settings.helo_name;
}

std::size_t SmtpTransfer::readCallback(char* buffer, std::size_t size, std::size_t nitems,
                                       void* self) {
  auto* t = static_cast<SmtpTransfer*>(self);
  const std::size_t n = std::min(size * nitems, t->message_.size() - t->offset_);
  std::memcpy(buffer, t->message_.data() + t->offset_, n);
  t->offset_ += n;
  return n;
}

int SmtpTransfer::debugCallback(CURL*, curl_infotype type, char* data, std::size_t size,
                                void* self) {
  auto* t = static_cast<SmtpTransfer*>(self);
  const std::string_view bytes(data, size);
  if (type == CURLINFO_HEADER_IN) {
    t->replies_.feed(bytes);
  } else if (type == CURLINFO_HEADER_OUT && bytes.rfind("RCPT TO:<", 0) == 0) {
    // Our own RCPT command, to pair the next reply with its recipient. No other client
    // command is looked at: AUTH carries the password.
    const auto end = bytes.find('>');
    if (end != std::string_view::npos)
      t->replies_.expectRecipient(std::string(bytes.substr(9, end - 9)));
  }
  return 0;
}

const char* SmtpTransfer::prepare(const SmtpSettings& settings, const std::string& url,
                                  const mailformat::Envelope& envelope, std::string_view message,
                                  const SmtpCredential& credential) {
  message_ = message;
  easy_.reset(curl_easy_init());
  if (!easy_) return "curl_easy_init";
  for (const auto& rcpt : envelope.recipients) {
    const std::string bracketed = "<" + rcpt + ">";
    curl_slist* appended = curl_slist_append(recipients_.get(), bracketed.c_str());
    if (appended == nullptr) return "MAIL_RCPT (out of memory)";
    (void)recipients_.release();
    recipients_.reset(appended);
  }
  mail_from_ = "<" + envelope.from + ">";

  foundation::CurlOptions opt(easy_.get());
  opt.set(CURLOPT_ERRORBUFFER, error_buffer_, "ERRORBUFFER")
      .set(CURLOPT_PRIVATE, static_cast<void*>(this), "PRIVATE")
      .set(CURLOPT_URL, url.c_str(), "URL")
      .set(CURLOPT_PROTOCOLS_STR, "smtp,smtps", "PROTOCOLS_STR")
      .set(CURLOPT_NOSIGNAL, 1L, "NOSIGNAL")
      .set(CURLOPT_CONNECTTIMEOUT_MS, 10000L, "CONNECTTIMEOUT_MS")
      .set(CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count() * 1000), "TIMEOUT_MS")
      .set(CURLOPT_MAIL_FROM, mail_from_.c_str(), "MAIL_FROM")
      .set(CURLOPT_MAIL_RCPT, recipients_.get(), "MAIL_RCPT")
      // Go on with the recipients the server accepts; each refusal is reported.
      .set(CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L, "MAIL_RCPT_ALLOWFAILS")
      .set(CURLOPT_UPLOAD, 1L, "UPLOAD")
      .set(CURLOPT_READFUNCTION, readCallback, "READFUNCTION")
      .set(CURLOPT_READDATA, static_cast<void*>(this), "READDATA")
      .set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()), "INFILESIZE")
      .set(CURLOPT_DEBUGFUNCTION, debugCallback, "DEBUGFUNCTION")
      .set(CURLOPT_DEBUGDATA, static_cast<void*>(this), "DEBUGDATA")
      // VERBOSE only routes protocol traffic to debugCallback; nothing is printed.
      .set(CURLOPT_VERBOSE, 1L, "VERBOSE")
      // libcurl keeps the connection (logged in) for the next message with the same
      // credential, and never reuses it for another one.
      .set(CURLOPT_USERNAME, credential.username.cString().pointer, "USERNAME")
      .set(CURLOPT_PASSWORD, credential.password.cString().pointer, "PASSWORD")
      // PLAIN with the initial response (RFC 4954): one round trip; the channel is
      // TLS, so the encoded password is not exposed.
      .set(CURLOPT_LOGIN_OPTIONS, "AUTH=PLAIN", "LOGIN_OPTIONS")
      .set(CURLOPT_SASL_IR, 1L, "SASL_IR");
  if (settings.tls == SmtpTls::None) {
    opt.set(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_NONE), "USE_SSL");
  } else {
    opt.set(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL), "USE_SSL")
        .set(CURLOPT_SSL_VERIFYPEER, 1L, "SSL_VERIFYPEER")
        .set(CURLOPT_SSL_VERIFYHOST, 2L, "SSL_VERIFYHOST")
        .set(CURLOPT_CAINFO, settings.ca_file.c_str(), "CAINFO")
        .set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2), "SSLVERSION");
  }
  return opt.failed();
}

SendResult SmtpTransfer::finish(CURLcode rc) {
  SendResult result;
  result.reply =
      rc != CURLE_OK && replies_.lastFailure().code != 0 ? replies_.lastFailure() : replies_.last();
  if (result.reply.code == 0) {
    long code = 0;
    if (curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code > 0) {
      result.reply.code = static_cast<int>(code);
    }
  }
  result.recipients = replies_.recipients();
  result.outcome = classify(rc, result.reply);
  long new_connections = 0;
  if (curl_easy_getinfo(easy_.get(), CURLINFO_NUM_CONNECTS, &new_connections) == CURLE_OK) {
    result.reused_connection = new_connections == 0;
  }
  if (rc != CURLE_OK)
    result.detail = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(rc);
  return result;
}

}  // namespace sidecar::relay

namespace sidecar::relay {

bool SmtpTransfer::rewindOnFreshConnection() {
  offset_ = 0;
  replies_ = mailformat::ReplyCollector();
  error_buffer_[0] = '\0';
  return curl_easy_setopt(easy_.get(), CURLOPT_FRESH_CONNECT, 1L) == CURLE_OK;
}

}  // namespace sidecar::relay
