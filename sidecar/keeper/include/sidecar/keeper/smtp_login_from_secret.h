// smtp_login_from_secret.h: the SMTP login a leased Vault secret stands for.
//
// Three shapes are understood:
//  - username + password: our smtp plugin, OpenBao's database engine, a KV path;
//  - username + token: the smtp plugin's passwordless login (a role of credential_type
//    jwt): a signed JWT the mail server checks with the plugin's published key; the
//    login is an OAuth2 token credential (AUTH OAUTHBEARER, else XOAUTH2);
//  - access_key + secret_key: an IAM user's key from Vault's AWS secrets engine
//    (aws/creds/<role>, credential_type iam_user): the SES SMTP login, whose user name
//    is the access key id and whose password is derived for `ses_region`
//    (ses_smtp_password.h). Such a login is refused by SES for a few seconds after the
//    key was made (IAM is eventually consistent): `needs_propagation` says so.
//
// SECURITY: keeper only; the secret fields are SecretBytes and stay in locked memory
// (clone, derivation); errors name fields, never values.
// ERRORS: Permanent for a secret of none of these shapes, one with both a password and
// a token, a NUL byte in a field, an IAM key
// without a configured region or for a region without an SES SMTP endpoint.
#pragma once

#include <string_view>

#include "foundation/result.h"
#include "foundation/secret.h"
#include "vault/types.h"

namespace sidecar::keeper {

struct SmtpLogin {
  foundation::SecretBytes username;
  foundation::SecretBytes password;
  bool needs_propagation = false;  // an IAM key: wait before the first use
  // `password` holds a bearer token (the keeper sends it as CredentialKind::OAuth2Token).
  bool is_token = false;
};

foundation::Result<SmtpLogin> smtpLoginFromSecret(const vault::SecretData& data,
                                                  std::string_view ses_region);

}  // namespace sidecar::keeper
