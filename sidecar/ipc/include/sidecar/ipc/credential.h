// credential.h: the SMTP login as it crosses from the keeper to the worker.
//
// SECURITY: the username and password live only in SecretBytes (locked, dump-excluded,
// zeroed on free); the keeper builds one from Vault's answer, ipc.h carries it in a
// locked packet, and the worker holds it only while its sends and connections use it.
// ERRORS: none (a plain value type).
#pragma once

#include <string>

#include "foundation/secret.h"

namespace sidecar::ipc {

// What the secret of an SmtpCredential is: it decides the SASL mechanism (relay/sasl.h).
// The keeper sets it from what the secret holds (a password, or a token: the smtp
// plugin's passwordless logins and OAuth2 token sources, issue 18); the Credential
// message carries it (ipc.h).
enum class CredentialKind {
  Password,     // PLAIN (or LOGIN when the server offers only that)
  OAuth2Token,  // an OAuth2 access token: OAUTHBEARER (RFC 7628), else XOAUTH2
};

struct SmtpCredential {
  foundation::SecretBytes username;
  foundation::SecretBytes password;  // or, for CredentialKind::OAuth2Token, the access token
  std::string lease_id;              // not secret: identifies the lease for logs and revocation
  // Where it was leased (not secret). With lease_id, it names the connection pool: a
  // connection logged in with one profile's credential never serves another's.
  std::string credential_path;
  CredentialKind kind = CredentialKind::Password;
};

}  // namespace sidecar::ipc
