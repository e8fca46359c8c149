// ses_smtp_password.h: Amazon SES SMTP passwords from IAM secret access keys.
//
// SECURITY: runs in the keeper only. The IAM secret access key comes from Vault's AWS
// secrets engine (aws/creds/<role>) in locked memory; every intermediate HMAC key and
// the password are SecretBytes too, so neither the key nor anything derived from it
// reaches ordinary memory. The derivation is AWS's documented "version 4" algorithm:
//   k = HMAC-SHA256("AWS4" + secret, "11111111"), then k = HMAC-SHA256(k, region),
//   HMAC-SHA256(k, "ses"), HMAC-SHA256(k, "aws4_request"), HMAC-SHA256(k, "SendRawEmail");
//   password = base64(0x04 || k). The SMTP username is the access key id itself.
// ERRORS: Permanent for a region name that is malformed or has no SES SMTP endpoint
// (the password would be refused: the region is part of the key), Internal if OpenSSL
// or libsodium fails.
#pragma once

#include <string>
#include <string_view>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace sidecar::keeper {

// The version byte AWS puts in front of the derived key ("version 4" passwords).
inline constexpr unsigned char kSesSmtpPasswordVersion = 0x04;
// Region names are short lowercase words with dashes ("eu-west-1").
inline constexpr std::size_t kMaxRegionLength = 32;
// An IAM secret access key is 40 characters; refuse anything absurd.
inline constexpr std::size_t kMaxSecretAccessKeyLength = 128;

// True if AWS lists an SES SMTP endpoint (email-smtp.<region>.amazonaws.com) there.
bool sesRegionHasSmtpEndpoint(std::string_view region) noexcept;

// "email-smtp.<region>.amazonaws.com" for a region with an SMTP endpoint, else "".
std::string sesSmtpHost(std::string_view region);

// The SMTP password for `secret_access_key` in `region`.
foundation::Result<foundation::SecretBytes> deriveSesSmtpPassword(
    const foundation::SecretBytes& secret_access_key, std::string_view region);

}  // namespace sidecar::keeper
