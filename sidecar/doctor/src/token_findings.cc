// token_findings.cc: see token_findings.h.
//
// SECURITY: the decoded 334 challenge is untrusted server text: bounded and printable.
// ERRORS: none.
#include "sidecar/doctor/token_findings.h"

#include <sodium.h>

#include <string>

#include "sidecar/keeper/ses_smtp_password.h"

namespace sidecar::doctor {

using sidecar::keeper::TokenRefusal;

Finding tokenEndpoint(const foundation::Error* error, TokenRefusal refusal,
                      std::string_view endpoint, std::string_view scope, long expires_in_seconds) {
  const std::string where(endpoint);
  if (error == nullptr) {
    return {true,
            "token endpoint " + where + " issued a token for scope " + std::string(scope) +
                " (valid " + std::to_string(expires_in_seconds) + "s)",
            ""};
  }
  const std::string detail = printable(error->message);
  switch (refusal) {
    case TokenRefusal::InvalidClient:
      return {false, "the token endpoint refused the client: invalid client (" + detail + ")",
              "the client id, its secret or its key is wrong or expired: check the values in "
              "Vault against the app registration (Entra ID: an AADSTS7000215 code means a "
              "wrong or expired client secret; a certificate must be uploaded to the app)"};
    case TokenRefusal::InvalidScope:
      return {false,
              "the token endpoint refused the scope " + std::string(scope) + " (" + detail + ")",
              "Microsoft 365: https://outlook.office365.com/.default; Google: "
              "https://mail.google.com/ and the scope granted in domain-wide delegation"};
    case TokenRefusal::InvalidGrant:
      return {false, "the token endpoint refused the assertion (" + detail + ")",
              "the signing key does not match the one registered, the subject mailbox is "
              "not delegated, or the clock is off by minutes (iat/exp)"};
    case TokenRefusal::UnauthorizedClient:
    case TokenRefusal::UnsupportedGrantType:
      return {false, "the token endpoint does not allow this grant for the client (" + detail + ")",
              "enable the client-credentials (or JWT bearer) grant for the client"};
    case TokenRefusal::Unavailable:
      if (detail.find("unreachable") != std::string::npos) {
        return {false, "token endpoint " + where + " unreachable (" + detail + ")",
                "check the URL, DNS, the proxy and the firewall towards it; the CA file if https"};
      }
      return {false, "the token endpoint is temporarily unavailable (" + detail + ")",
              "try again later; the sidecar keeps using a valid token meanwhile"};
    case TokenRefusal::InvalidRequest:
    case TokenRefusal::Other:
    case TokenRefusal::None:
      break;
  }
  return {false, "no token from " + where + ": " + detail, ""};
}

Finding tokenLogin(std::string_view mechanism, int code, std::string_view text,
                   std::string_view challenge) {
  const std::string mech(mechanism);
  if (code == 235) return {true, "AUTH " + mech + " accepted with the token", ""};
  std::string server_said = printable(text);
  if (!challenge.empty() && challenge.size() <= 2048) {
    unsigned char decoded[1536];
    std::size_t len = 0;
    if (sodium_base642bin(decoded, sizeof decoded, challenge.data(), challenge.size(), nullptr,
                          &len, nullptr, sodium_base64_VARIANT_ORIGINAL) == 0) {
      server_said += (server_said.empty() ? "" : "; ") + std::string("error challenge ") +
                     printable(std::string_view(reinterpret_cast<const char*>(decoded), len));
    }
  }
  return {false,
          mech + " rejected by the server (" + std::to_string(code) + " " + server_said + ")",
          "the token was issued but the mail server refused it: Microsoft 365: SMTP AUTH "
          "disabled for the mailbox, no SMTP.SendAsApp permission, or no mailbox permission "
          "for the app's service principal; Google: the mailbox is not the delegated "
          "subject; own stack: the issuer's key is not in Dovecot's key directory, or the "
          "token's login differs from the SASL user"};
}

Finding sesRegion(std::string_view region) {
  if (sidecar::keeper::sesRegionHasSmtpEndpoint(region)) {
    return {true,
            "SES region " + std::string(region) + " (" + sidecar::keeper::sesSmtpHost(region) + ")",
            ""};
  }
  return {false, "SES region " + printable(region, 40) + " has no SES SMTP endpoint",
          "the SMTP password is derived per region: use a region where SES offers SMTP "
          "(email-smtp.<region>.amazonaws.com), e.g. us-east-1 or eu-west-1"};
}

}  // namespace sidecar::doctor
