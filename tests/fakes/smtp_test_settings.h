// smtp_test_settings.h: SMTP settings and a credential for tests against the scripted
// loopback peer (plaintext, which only tests and an explicit allow_insecure may use).
#pragma once

#include <chrono>

#include "sidecar/base/config.h"
#include "sidecar/relay/smtp_sender.h"

namespace fakes {

inline sidecar::SmtpSettings plaintextTo(unsigned short port) {
  sidecar::SmtpSettings s;
  s.host = "127.0.0.1";
  s.port = port;
  s.tls = sidecar::SmtpTls::None;
  s.allow_insecure = true;
  s.timeout = std::chrono::seconds(10);
  return s;
}

inline sidecar::ipc::SmtpCredential testCredential(const char* lease_id = "lease/1",
                                                   const char* path = "smtp/creds/app",
                                                   const char* username = "user") {
  foundation::initSecretMemoryOrDie();
  return {foundation::SecretBytes::copyOf(std::string_view(username)),
          foundation::SecretBytes::copyOf(std::string_view("pass")), lease_id, path};
}

}  // namespace fakes
