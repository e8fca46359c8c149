// curl_smtp_sender.cc: the blocking SmtpSender (one connection per call), over the
// shared SmtpTransfer. Used where one send at a time is all there is (tests, doctor).
//
// SECURITY: see smtp_transfer.h.
// ERRORS: SendResult; a refused option is a TemporaryFailure naming it.
#include "foundation/curl_global.h"
#include "sidecar/relay/smtp_sender.h"
#include "sidecar/relay/smtp_transfer.h"

namespace sidecar::relay {
namespace {

class CurlSmtpSender final : public SmtpSender {
 public:
  explicit CurlSmtpSender(SmtpSettings settings)
      : settings_(std::move(settings)), url_(smtpUrl(settings_)) {
    foundation::initCurlOrDie();
  }

  SendResult send(const mailformat::Envelope& envelope, std::string_view message,
                  const SmtpCredential& credential) override {
    SmtpTransfer transfer;
    if (const char* failed = transfer.prepare(settings_, url_, envelope, message, credential)) {
      SendResult result;
      result.detail = std::string("libcurl refused option ") + failed;
      return result;
    }
    return transfer.finish(curl_easy_perform(transfer.easy()));
  }

 private:
  SmtpSettings settings_;
  std::string url_;
};

}  // namespace

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

std::unique_ptr<SmtpSender> makeCurlSmtpSender(const SmtpSettings& settings) {
  return std::make_unique<CurlSmtpSender>(settings);
}

}  // namespace sidecar::relay
