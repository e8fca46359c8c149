// token_findings.cc: see token_findings.h.
//
// SECURITY: untrusted text (the endpoint's error, a region name) is bounded and printable.
// ERRORS: none.
#include "sidecar/doctor/token_findings.h"

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
