// ses_smtp_password.cc: the SES SMTP password derivation (see ses_smtp_password.h).
//
// SECURITY: every buffer that holds the secret access key or a key derived from it is
// a SecretBytes; OpenSSL's one-shot HMAC keeps its context on its own heap and
// cleanses it before it returns.
// ERRORS: Result values; no exceptions.
#include "sidecar/keeper/ses_smtp_password.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace sidecar::keeper {
namespace {

constexpr std::size_t kHmacBytes = 32;  // SHA-256

// AWS General Reference, "Amazon SES SMTP endpoints" (the regions where
// email-smtp.<region>.amazonaws.com answers). A region missing here would get a
// password SES refuses, so the keeper refuses it first and doctor names the cause.
constexpr std::array<std::string_view, 28> kSmtpRegions = {
    "af-south-1",    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2",    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ca-central-1",
    "ca-west-1",     "eu-central-1",   "eu-central-2",   "eu-north-1",     "eu-south-1",
    "eu-west-1",     "eu-west-2",      "eu-west-3",      "il-central-1",   "me-central-1",
    "me-south-1",    "sa-east-1",      "us-east-1",      "us-east-2",      "us-gov-east-1",
    "us-gov-west-1", "us-west-1",      "us-west-2",
};

bool wellFormedRegion(std::string_view region) noexcept {
  if (region.empty() || region.size() > kMaxRegionLength) return false;
  return std::all_of(region.begin(), region.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// out = HMAC-SHA256(key, message); `out` must hold kHmacBytes.
bool hmacSha256(std::string_view key, std::string_view message, foundation::SecretBytes& out) {
  unsigned int written = 0;
  const unsigned char* result =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(),
           reinterpret_cast<unsigned char*>(out.mutableData()), &written);
  return result != nullptr && written == kHmacBytes;
}

}  // namespace

bool sesRegionHasSmtpEndpoint(std::string_view region) noexcept {
  return std::find(kSmtpRegions.begin(), kSmtpRegions.end(), region) != kSmtpRegions.end();
}

std::string sesSmtpHost(std::string_view region) {
  if (!sesRegionHasSmtpEndpoint(region)) return {};
  return "email-smtp." + std::string(region) + ".amazonaws.com";
}

foundation::Result<foundation::SecretBytes> deriveSesSmtpPassword(
    const foundation::SecretBytes& secret_access_key, std::string_view region) {
  if (!wellFormedRegion(region)) {
    return foundation::Error::permanent(
        "SES region name is not a region (lowercase, digits, dashes)");
  }
  if (!sesRegionHasSmtpEndpoint(region)) {
    return foundation::Error::permanent("SES region " + std::string(region) +
                                        " has no SES SMTP endpoint");
  }
  if (secret_access_key.empty() || secret_access_key.size() > kMaxSecretAccessKeyLength) {
    return foundation::Error::permanent("the IAM secret access key is empty or longer than " +
                                        std::to_string(kMaxSecretAccessKeyLength) + " bytes");
  }

  // "AWS4" + secret, in locked memory.
  static constexpr std::string_view kPrefix = "AWS4";
  foundation::SecretBytes first_key(kPrefix.size() + secret_access_key.size());
  std::memcpy(first_key.mutableData(), kPrefix.data(), kPrefix.size());
  secret_access_key.reveal([&](std::string_view secret) {
    std::memcpy(first_key.mutableData() + kPrefix.size(), secret.data(), secret.size());
  });

  // The chain alternates between two locked buffers; the last one is the signing key.
  foundation::SecretBytes a(kHmacBytes);
  foundation::SecretBytes b(kHmacBytes);
  bool ok = first_key.reveal([&](std::string_view k) { return hmacSha256(k, "11111111", a); });
  const std::string_view steps[] = {region, "ses", "aws4_request", "SendRawEmail"};
  foundation::SecretBytes* from = &a;
  foundation::SecretBytes* to = &b;
  for (std::string_view step : steps) {
    ok = ok && from->reveal([&](std::string_view k) { return hmacSha256(k, step, *to); });
    std::swap(from, to);
  }
  if (!ok) return foundation::Error::internal("HMAC-SHA256 failed (OpenSSL)");

  foundation::SecretBytes versioned(1 + kHmacBytes);
  versioned.mutableData()[0] = static_cast<char>(kSesSmtpPasswordVersion);
  from->reveal(
      [&](std::string_view k) { std::memcpy(versioned.mutableData() + 1, k.data(), k.size()); });

  const std::size_t encoded_size =
      sodium_base64_ENCODED_LEN(versioned.size(), sodium_base64_VARIANT_ORIGINAL);
  foundation::SecretBytes password(encoded_size);  // includes the terminating NUL
  if (sodium_bin2base64(password.mutableData(), encoded_size,
                        reinterpret_cast<const unsigned char*>(versioned.cString().pointer),
                        versioned.size(), sodium_base64_VARIANT_ORIGINAL) == nullptr) {
    return foundation::Error::internal("base64 encoding failed (libsodium)");
  }
  password.truncate(encoded_size - 1);
  return password;
}

}  // namespace sidecar::keeper
