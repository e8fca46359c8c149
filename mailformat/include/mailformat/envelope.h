// envelope.h: the SMTP envelope of one message (RFC 5321 MAIL FROM and RCPT TO), as the
// intake hands it to the relay.
//
// SECURITY: every address in it has passed checkAddress (address.h) before an
// Envelope is built; the relay writes them into SMTP commands as they are.
// ERRORS: none (a plain value type).
#pragma once

#include <string>
#include <vector>

namespace mailformat {

struct Envelope {
  std::string from;                     // may be empty: the null reverse-path <>
  std::vector<std::string> recipients;  // at least one; a local name (isLocalName in
                                        // address.h) only until the intake resolved it
  // The caller named no sender (sendmail without -f): the intake's profile decides
  // (sidecar/intake/submission_policy.h), never the client. Never true at the relay.
  bool implicit_from = false;
};

}  // namespace mailformat
