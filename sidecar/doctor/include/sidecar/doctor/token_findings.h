// token_findings.h: doctor's plain words for the credential kinds beyond passwords
// (issue 18): the OAuth2 token endpoint, a token refused by the SMTP server, and SES.
//
// SECURITY: pure functions over outcomes; their inputs are error texts and SMTP replies
// that carry no secret (the token parser never puts token bytes into an error). Server
// text is made printable (doctor::printable) before it reaches the output line.
// ERRORS: none; every outcome maps to a Finding.
#pragma once

#include <string_view>

#include "foundation/result.h"
#include "sidecar/doctor/doctor.h"
#include "sidecar/keeper/oauth_token_response.h"

namespace sidecar::doctor {

// The keeper's token request: nullptr error = a token was issued (expires_in seconds).
Finding tokenEndpoint(const foundation::Error* error, sidecar::keeper::TokenRefusal refusal,
                      std::string_view endpoint, std::string_view scope,
                      long expires_in_seconds = 0);

// AUTH XOAUTH2 / OAUTHBEARER with the token: the final reply code and its text. A 334
// carrying the server's JSON error (RFC 7628 3.2.2, Google's and Microsoft's XOAUTH2)
// comes as `challenge`, still base64; it is decoded for the finding.
Finding tokenLogin(std::string_view mechanism, int code, std::string_view text,
                   std::string_view challenge = {});

// An SES credential's region: one with an SES SMTP endpoint, or the plain cause.
Finding sesRegion(std::string_view region);

}  // namespace sidecar::doctor
