// sasl.h: the SASL mechanism the relay client logs in with, and its client messages
// (RFC 4954 AUTH with PLAIN RFC 4616, LOGIN, XOAUTH2, OAUTHBEARER RFC 7628).
//
// SECURITY: every message that carries the password or token is built directly in
// locked memory (SecretBytes, base64 included) and written to the connection from
// there; no std::string ever holds it. The mechanism follows the credential's kind: a
// password is never offered to an OAuth mechanism nor a token to PLAIN. Only
// mechanisms the server announced (after TLS) are used.
// ERRORS: chooseMechanism() is nullopt when the server offers nothing usable for the
// credential; the builders cannot fail (allocation failure of locked memory is fatal).
#pragma once

#include <optional>

#include "foundation/secret.h"
#include "sidecar/relay/ehlo.h"
#include "sidecar/relay/smtp_sender.h"

namespace sidecar::relay {

enum class SaslMechanism { Plain, Login, XOAuth2, OAuthBearer };

const char* toString(SaslMechanism mechanism) noexcept;

// Password: PLAIN, else LOGIN. OAuth2 token: OAUTHBEARER, else XOAUTH2.
std::optional<SaslMechanism> chooseMechanism(CredentialKind kind, unsigned offered) noexcept;

// The whole first AUTH command line with CRLF: "AUTH PLAIN <b64>\r\n" (initial response,
// one round trip), "AUTH XOAUTH2 <b64>\r\n", "AUTH OAUTHBEARER <b64>\r\n", or for LOGIN
// "AUTH LOGIN\r\n" (followed by loginUsername / loginPassword on the server's 334s).
foundation::SecretBytes authCommand(SaslMechanism mechanism, const SmtpCredential& credential);

// LOGIN's two answers: base64 of the username / password, with CRLF.
foundation::SecretBytes loginUsername(const SmtpCredential& credential);
foundation::SecretBytes loginPassword(const SmtpCredential& credential);

// What the client answers to a 334 challenge after an OAuth initial response (the
// server's error JSON): XOAUTH2 an empty line, OAUTHBEARER "AQ==" (base64 of 0x01,
// RFC 7628 3.2.3), so that the server ends the exchange with its 535.
const char* oauthErrorAcknowledgement(SaslMechanism mechanism) noexcept;

}  // namespace sidecar::relay
