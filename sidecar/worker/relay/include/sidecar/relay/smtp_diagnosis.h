// smtp_diagnosis.h: the one place where an SMTP session's failure becomes plain words
// (a cause and what to do). `smtp-sidecar doctor` prints them; the worker answers a
// failed send with them (HTTP `detail`, the SMTP intake's reply text, sendmail's message,
// the log line) and /v1/ready gives them as its reason, so an operator reads the same
// words wherever the failure shows. In the relay room because both the worker and doctor
// link it (the worker must not link doctor, which links the keeper and Vault client).
//
// SECURITY: pure functions over our own codes and texts and the server's reply, which is
// untrusted: it reaches the words only through printableLine() (one line, bounded, no
// control bytes), and placeholders in it are never expanded. No secret is an input.
// ERRORS: none; an unknown failure gets a generic cause that quotes the raw text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "sidecar/base/config.h"
#include "sidecar/relay/plain_words.h"
#include "sidecar/relay/smtp_probe_result.h"

namespace sidecar::relay {

// PlainCause and printableLine(): plain_words.h (doctor's Vault findings share them).

// A failed certificate check in words, for any TLS peer (doctor uses it for Vault too):
// `verify_result` is OpenSSL's X509_V_* code (0 when unknown), `error_text` the TLS
// library's message (matched for the cases without a code), `raw` that message made
// printable. `peer` names it ("the SMTP server host:port"), `host` the name checked,
// `ca_key` the setting holding the trust anchors and `ca` its value.
struct TlsPeer {
  std::string_view peer;
  std::string_view host;
  std::string_view ca_key;
  std::string_view ca;
};
PlainCause tlsVerificationCause(long verify_result, std::string_view error_text,
                                const TlsPeer& peer, std::string_view raw);

// One SMTP session (connect, EHLO, STARTTLS or implicit TLS, AUTH when a credential was
// given, NOOP) as the relay client ran it, against `smtp` as configured.
PlainCause diagnoseSmtp(const SmtpProbeResult& session, const SmtpSettings& smtp);

// The cause and its hint on one line, for a send's answer and the log.
std::string oneLine(const PlainCause& cause);

}  // namespace sidecar::relay
