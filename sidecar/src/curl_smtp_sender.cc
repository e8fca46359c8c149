// curl_smtp_sender.cc: SmtpSender over libcurl's SMTP client.
//
// SECURITY: TLS is required (CURLUSESSL_ALL for STARTTLS, smtps:// for implicit TLS)
// and verified (VERIFYPEER 1, VERIFYHOST 2, CAINFO), unless settings.tls is None,
// which config validation only allows with allow_insecure. Every curl_easy_setopt is
// checked: a silently ignored TLS option is a plaintext password on the wire. The
// debug callback copies only CURLINFO_HEADER_IN (server replies); client commands,
// AUTH among them, are never looked at.
// ERRORS: SendResult; libcurl's error text goes into `detail`.
#include <curl/curl.h>

#include <cstring>
#include <mutex>

#include "sidecar/smtp_sender.h"
#include "vault/curl_global.h"

namespace sidecar::relay {
namespace {

struct CurlEasyDeleter {
  void operator()(CURL* curl) const noexcept { curl_easy_cleanup(curl); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

struct UploadState {
  std::string_view data;
  std::size_t offset = 0;
};

std::size_t readCallback(char* buffer, std::size_t size, std::size_t nitems, void* userdata) {
  auto* state = static_cast<UploadState*>(userdata);
  const std::size_t room = size * nitems;
  const std::size_t n = std::min(room, state->data.size() - state->offset);
  std::memcpy(buffer, state->data.data() + state->offset, n);
  state->offset += n;
  return n;
}

int debugCallback(CURL*, curl_infotype type, char* data, std::size_t size, void* userdata) {
  auto* replies = static_cast<ReplyCollector*>(userdata);
  const std::string_view bytes(data, size);
  if (type == CURLINFO_HEADER_IN) {
    replies->feed(bytes);
  } else if (type == CURLINFO_HEADER_OUT && bytes.rfind("RCPT TO:<", 0) == 0) {
    // Our own RCPT command, to pair the next reply with its recipient. No other client
    // command is looked at: AUTH carries the password.
    const auto end = bytes.find('>');
    if (end != std::string_view::npos) replies->expectRecipient(std::string(bytes.substr(9, end - 9)));
  }
  return 0;
}

// A failed setopt is fatal for this send: carry on and we might talk without TLS.
class Options {
 public:
  explicit Options(CURL* curl) : curl_(curl) {}
  template <typename T>
  Options& set(CURLoption option, T value, const char* name) {
    if (failed_ == nullptr && curl_easy_setopt(curl_, option, value) != CURLE_OK) failed_ = name;
    return *this;
  }
  const char* failed() const { return failed_; }

 private:
  CURL* curl_;
  const char* failed_ = nullptr;
};

class CurlSmtpSender final : public SmtpSender {
 public:
  explicit CurlSmtpSender(SmtpSettings settings) : settings_(std::move(settings)) {
    vault::initCurlOrDie();
    const char* scheme = settings_.tls == SmtpTls::Implicit ? "smtps" : "smtp";
    // The URL path is the EHLO name (libcurl's convention for SMTP).
    url_ = std::string(scheme) + "://" + hostForUrl() + ":" + std::to_string(settings_.port) +
           "/" + settings_.helo_name;
  }

  SendResult send(const submit::Envelope& envelope, std::string_view message,
                  const SmtpCredential& credential) override {
    SendResult result;
    // Declared before the handle: curl_easy_cleanup still talks to the server (QUIT)
    // and calls debugCallback, so what it writes into must outlive the handle.
    ReplyCollector replies;
    UploadState upload{message, 0};
    char error_buffer[CURL_ERROR_SIZE] = {0};
    CurlEasyPtr curl(curl_easy_init());
    if (!curl) {
      result.detail = "curl_easy_init failed";
      return result;
    }

    CurlSlistPtr recipients;
    for (const auto& rcpt : envelope.recipients) {
      const std::string bracketed = "<" + rcpt + ">";
      curl_slist* appended = curl_slist_append(recipients.get(), bracketed.c_str());
      if (appended == nullptr) {
        result.detail = "out of memory building the recipient list";
        return result;
      }
      (void)recipients.release();
      recipients.reset(appended);
    }
    const std::string mail_from = "<" + envelope.from + ">";

    Options opt(curl.get());
    opt.set(CURLOPT_ERRORBUFFER, error_buffer, "ERRORBUFFER")
        .set(CURLOPT_URL, url_.c_str(), "URL")
        .set(CURLOPT_PROTOCOLS_STR, "smtp,smtps", "PROTOCOLS_STR")
        .set(CURLOPT_NOSIGNAL, 1L, "NOSIGNAL")
        .set(CURLOPT_CONNECTTIMEOUT_MS, 10000L, "CONNECTTIMEOUT_MS")
        .set(CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count() * 1000), "TIMEOUT_MS")
        .set(CURLOPT_MAIL_FROM, mail_from.c_str(), "MAIL_FROM")
        .set(CURLOPT_MAIL_RCPT, recipients.get(), "MAIL_RCPT")
        // Go on with the recipients the server accepts; each refusal is reported.
        .set(CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L, "MAIL_RCPT_ALLOWFAILS")
        .set(CURLOPT_UPLOAD, 1L, "UPLOAD")
        .set(CURLOPT_READFUNCTION, readCallback, "READFUNCTION")
        .set(CURLOPT_READDATA, &upload, "READDATA")
        .set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()), "INFILESIZE")
        .set(CURLOPT_DEBUGFUNCTION, debugCallback, "DEBUGFUNCTION")
        .set(CURLOPT_DEBUGDATA, &replies, "DEBUGDATA")
        // VERBOSE only routes protocol traffic to debugCallback (set above); nothing
        // is printed.
        .set(CURLOPT_VERBOSE, 1L, "VERBOSE")
        .set(CURLOPT_USERNAME, credential.username.cString().pointer, "USERNAME")
        .set(CURLOPT_PASSWORD, credential.password.cString().pointer, "PASSWORD")
        // PLAIN with the initial response (RFC 4954): one round trip; the channel is
        // TLS, so the encoded password is not exposed.
        .set(CURLOPT_LOGIN_OPTIONS, "AUTH=PLAIN", "LOGIN_OPTIONS")
        .set(CURLOPT_SASL_IR, 1L, "SASL_IR");
    if (settings_.tls == SmtpTls::None) {
      opt.set(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_NONE), "USE_SSL");
    } else {
      opt.set(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL), "USE_SSL")
          .set(CURLOPT_SSL_VERIFYPEER, 1L, "SSL_VERIFYPEER")
          .set(CURLOPT_SSL_VERIFYHOST, 2L, "SSL_VERIFYHOST")
          .set(CURLOPT_CAINFO, settings_.ca_file.c_str(), "CAINFO")
          .set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2), "SSLVERSION");
    }
    if (opt.failed() != nullptr) {
      result.outcome = SendOutcome::TemporaryFailure;
      result.detail = std::string("libcurl refused option ") + opt.failed();
      return result;
    }

    const CURLcode rc = curl_easy_perform(curl.get());
    result.reply = rc != CURLE_OK && replies.lastFailure().code != 0 ? replies.lastFailure()
                                                                     : replies.last();
    if (result.reply.code == 0) {
      long code = 0;
      if (curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code > 0) {
        result.reply.code = static_cast<int>(code);
      }
    }
    result.recipients = replies.recipients();
    result.outcome = classify(rc, result.reply);
    if (rc != CURLE_OK) {
      result.detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    }
    return result;
  }

 private:
  static SendOutcome classify(CURLcode rc, const SmtpReply& reply) {
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
    if (reply.code == 535 || reply.code == 534 || reply.code == 530) {
      return SendOutcome::AuthRefused;
    }
    if (reply.isPermanent()) return SendOutcome::Rejected;
    return SendOutcome::TemporaryFailure;
  }

  std::string hostForUrl() const {
    // IPv6 literals need brackets in a URL.
    if (settings_.host.find(':') != std::string::npos) return "[" + settings_.host + "]";
    return settings_.host;
  }

  SmtpSettings settings_;
  std::string url_;
};

}  // namespace

const char* toString(SendOutcome outcome) noexcept {
  switch (outcome) {
    case SendOutcome::Accepted: return "accepted";
    case SendOutcome::Rejected: return "rejected";
    case SendOutcome::AuthRefused: return "auth_refused";
    case SendOutcome::TemporaryFailure: return "temporary_failure";
    case SendOutcome::TlsFailure: return "tls_failure";
  }
  return "?";
}

std::unique_ptr<SmtpSender> makeCurlSmtpSender(const SmtpSettings& settings) {
  return std::make_unique<CurlSmtpSender>(settings);
}

}  // namespace sidecar::relay
