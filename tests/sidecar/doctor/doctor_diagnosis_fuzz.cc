// doctor_diagnosis_fuzz.cc: libFuzzer target for the doctor's diagnosis: Vault's error
// text, libcurl's error text and SMTP reply text are untrusted; whatever they hold, a
// Finding stays on one line and bounded.
#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/doctor/doctor.h"
#include "sidecar/relay/smtp_diagnosis.h"

namespace {

void check(const sidecar::doctor::Finding& f) {
  if (f.what.find('\n') != std::string::npos || f.hint.find('\n') != std::string::npos)
    __builtin_trap();
  if (f.what.size() > 4096 || f.hint.size() > 4096) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sidecar::doctor;
  if (size < 4) return 0;
  // First bytes choose the codes; the rest is the text.
  const long status = 100 + (data[0] | (data[1] << 8)) % 500;
  const long curl_code = data[2] % 100;
  const int reply = 200 + data[3] % 400;
  const std::string text(reinterpret_cast<const char*>(data + 4), size - 4);
  const VaultAnswer answer{status, text};
  check(approleLogin(answer, "approle", "app"));
  check(credentialLease(answer, "smtp/creds/app"));
  check(wrappingLookup(answer, text, "auth/approle/role/app/secret-id"));
  check(revoke(answer, "token"));
  const TransportFailure failure{curl_code, text, static_cast<long>(data[0] % 80),
                                 static_cast<long>(data[1] % 120)};
  check(vaultTransport(failure, "https://v:8200", "/ca.pem"));
  sidecar::SmtpSettings smtp;
  smtp.host = "mail.test";
  smtp.port = 587;
  sidecar::relay::SmtpProbeResult session;
  session.failure = static_cast<sidecar::relay::SmtpProbeResult::Failure>(data[2] % 11);
  session.os_errno = data[1] % 120;
  session.ssl_verify_result = data[0] % 80;
  session.detail = text;
  session.greeted = data[3] & 1;
  session.auth_tried = data[3] & 2;
  session.auth_offered = data[3] & 4;
  session.reply.code = reply;
  session.reply.text = text;
  const sidecar::relay::PlainCause cause = sidecar::relay::diagnoseSmtp(session, smtp);
  check(Finding{cause.ok, cause.what, cause.hint});
  if (printable(text).find('\n') != std::string::npos) __builtin_trap();
  return 0;
}
