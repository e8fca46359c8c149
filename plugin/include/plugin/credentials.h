// credentials.h: pure helpers that mint one SMTP login: the username from a role's
// template, the random password, its Dovecot hash, and validation of durations and
// sender addresses.
//
// SECURITY: passwords are created from RandomSource straight into SecretBytes; the hash
// is salted (16 random bytes). Template expansion only emits [a-z0-9._-], so a role name
// or display name cannot inject anything into SQL, Postfix or Dovecot.
// ERRORS: Permanent for invalid input (bad template, address, duration).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"
#include "foundation/secret.h"
#include "plugin/host.h"

namespace smtpplugin {

inline constexpr std::size_t kPasswordBytes = 32;
inline constexpr std::size_t kMaxUsernameLength = 64;
inline constexpr std::string_view kDefaultUsernameTemplate = "smtp-{{role}}-{{random}}";

// "90", "90s", "5m", "1h30m", "2d" -> seconds. Negative or overflowing values fail.
foundation::Result<std::int64_t> parseDurationSeconds(std::string_view text);

// Checks a template: only literal [a-z0-9._-] and the placeholders {{role}},
// {{display_name}}, {{unix_time}}, {{random}} (20 chars) or {{random N}} (8..32);
// at least 8 random characters in total.
foundation::Status checkUsernameTemplate(std::string_view tmpl);
// Expands it. Role and display name are lower-cased, other characters become '-', and
// each is cut to 24 characters; the result is cut to kMaxUsernameLength from the left
// side of the literal text so the random part always survives.
foundation::Result<std::string> expandUsernameTemplate(std::string_view tmpl, std::string_view role,
                                                       std::string_view display_name,
                                                       std::int64_t unix_time,
                                                       RandomSource& random);

// 32 random bytes as unpadded URL-safe base64 (43 characters: [A-Za-z0-9_-]).
foundation::SecretBytes generatePassword(RandomSource& random);

// Password schemes Dovecot understands and we can compute: SSHA512 (default), SSHA256.
foundation::Status checkPasswordScheme(std::string_view scheme);
// "{SSHA512}" + base64(sha512(password || salt) || salt), 16-byte salt.
foundation::Result<foundation::SecretBytes> hashPassword(std::string_view scheme,
                                                         const foundation::SecretBytes& password,
                                                         RandomSource& random);

// "User@Example.test" -> "user@example.test"; "*@example.test" -> "@example.test"
// (Postfix's whole-domain lookup key). Fails on anything but a plain address.
foundation::Result<std::string> senderLookupKey(std::string_view allowed_sender);

}  // namespace smtpplugin
