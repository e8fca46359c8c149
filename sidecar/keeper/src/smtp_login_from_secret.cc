// smtp_login_from_secret.cc: see smtp_login_from_secret.h.
//
// SECURITY: fields are cloned (locked memory to locked memory); the SES password is
// derived in locked memory.
// ERRORS: Result values.
#include "sidecar/keeper/smtp_login_from_secret.h"

#include "sidecar/keeper/ses_smtp_password.h"

namespace sidecar::keeper {
namespace {

const foundation::SecretBytes* nonEmpty(const vault::SecretData& data, std::string_view name) {
  const foundation::SecretBytes* field = data.find(name);
  return field != nullptr && !field->empty() ? field : nullptr;
}

}  // namespace

foundation::Result<SmtpLogin> smtpLoginFromSecret(const vault::SecretData& data,
                                                  std::string_view ses_region) {
  const auto* username = nonEmpty(data, "username");
  const auto* password = nonEmpty(data, "password");
  const auto* token = nonEmpty(data, "token");
  if (password != nullptr && token != nullptr) {
    return foundation::Error::permanent(
        "the secret has both a password and a token: which one is the login is unclear");
  }
  if (username != nullptr && token != nullptr) {
    if (username->hasNul() || token->hasNul()) {
      return foundation::Error::permanent("username or token contains a NUL byte");
    }
    return SmtpLogin{username->clone(), token->clone(), false, true};
  }
  if (username != nullptr && password != nullptr) {
    if (username->hasNul() || password->hasNul()) {
      return foundation::Error::permanent("username or password contains a NUL byte");
    }
    return SmtpLogin{username->clone(), password->clone(), false};
  }
  const auto* access_key = nonEmpty(data, "access_key");
  const auto* secret_key = nonEmpty(data, "secret_key");
  if (access_key != nullptr && secret_key != nullptr) {
    if (ses_region.empty()) {
      return foundation::Error::permanent(
          "the secret is an AWS IAM key (access_key, secret_key): set vault.ses_region to the "
          "SES region whose SMTP endpoint the sidecar sends to");
    }
    if (access_key->hasNul() || secret_key->hasNul()) {
      return foundation::Error::permanent("access_key or secret_key contains a NUL byte");
    }
    auto derived = deriveSesSmtpPassword(*secret_key, ses_region);
    if (!derived) return std::move(derived).error().context("SES SMTP password");
    return SmtpLogin{access_key->clone(), std::move(derived).value(), true};
  }
  return foundation::Error::permanent(
      "the secret has no username and password fields (nor a username and token, nor an AWS "
      "IAM access_key and secret_key)");
}

}  // namespace sidecar::keeper
