// token_findings.h: doctor's plain words for the credential kinds beyond passwords
// (issue 18): the OAuth2 token endpoint and SES (a token the SMTP server refuses is the
// SMTP diagnosis' words, relay/smtp_diagnosis.h).
//
// SECURITY: pure functions over outcomes; their inputs are error texts and SMTP replies
// that carry no secret (the token parser never puts token bytes into an error). Their
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

// A token refused at AUTH is the SMTP diagnosis' (relay/smtp_diagnosis.h): the worker's
// words for a failed send, which doctor reports unchanged.

// An SES credential's region: one with an SES SMTP endpoint, or the plain cause.
Finding sesRegion(std::string_view region);

}  // namespace sidecar::doctor
