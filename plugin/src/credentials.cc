// credentials.cc: username templates, passwords, Dovecot hashes, durations and sender
// keys (see credentials.h).
//
// SECURITY: the password is generated into SecretBytes and encoded there; the hash input
// (password || salt) is assembled in SecretBytes too. Expanded usernames contain only
// [a-z0-9._-]; sender keys only [a-z0-9._+=@-].
// ERRORS: Permanent for invalid input; Internal if OpenSSL's digest fails.
#include "plugin/credentials.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <vector>

namespace smtpplugin {
namespace {

constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::size_t kDefaultRandomChars = 20;
constexpr std::size_t kMaxPartChars = 24;

bool isUsernameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

// Lower-cases and replaces anything outside [a-z0-9._-] by '-', at most kMaxPartChars.
std::string sanitizePart(std::string_view in) {
  std::string out;
  for (char c : in) {
    if (out.size() >= kMaxPartChars) break;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out += isUsernameChar(c) ? c : '-';
  }
  return out;
}

// Uniform characters from kLower by rejection sampling (no modulo bias).
std::string randomChars(std::size_t n, RandomSource& random) {
  std::string out;
  unsigned char buf[64];
  while (out.size() < n) {
    random.fill(buf);
    for (unsigned char b : buf) {
      if (out.size() >= n) break;
      if (b < 252) out += kLower[b % kLower.size()];  // 252 = 7 * 36
    }
  }
  return out;
}

struct Placeholder {
  enum Kind { Role, DisplayName, UnixTime, Random } kind;
  std::size_t random_chars = 0;
};

// Parses "{{ ... }}" content.
foundation::Result<Placeholder> parsePlaceholder(std::string_view inner) {
  while (!inner.empty() && inner.front() == ' ') inner.remove_prefix(1);
  while (!inner.empty() && inner.back() == ' ') inner.remove_suffix(1);
  if (inner == "role") return Placeholder{Placeholder::Role};
  if (inner == "display_name") return Placeholder{Placeholder::DisplayName};
  if (inner == "unix_time") return Placeholder{Placeholder::UnixTime};
  if (inner == "random") return Placeholder{Placeholder::Random, kDefaultRandomChars};
  if (inner.starts_with("random ")) {
    std::string_view num = inner.substr(7);
    std::size_t n = 0;
    const auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
    if (ec != std::errc() || ptr != num.data() + num.size() || n < 8 || n > 32) {
      return foundation::Error::permanent("username_template: {{random N}} needs 8 <= N <= 32");
    }
    return Placeholder{Placeholder::Random, n};
  }
  return foundation::Error::permanent(
      "username_template: unknown placeholder (use {{role}}, {{display_name}}, "
      "{{unix_time}}, {{random}} or {{random N}})");
}

// Walks the template: calls literal(text) and placeholder(p) in order.
template <typename OnLiteral, typename OnPlaceholder>
foundation::Status walkTemplate(std::string_view tmpl, OnLiteral&& literal,
                                OnPlaceholder&& placeholder) {
  while (!tmpl.empty()) {
    const auto open = tmpl.find("{{");
    const std::string_view text = tmpl.substr(0, open);
    for (char c : text) {
      if (!isUsernameChar(c)) {
        return foundation::Error::permanent(
            "username_template: literal text may only contain a-z 0-9 . _ -");
      }
    }
    literal(text);
    if (open == std::string_view::npos) break;
    const auto close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return foundation::Error::permanent("username_template: unterminated {{");
    }
    auto p = parsePlaceholder(tmpl.substr(open + 2, close - open - 2));
    if (!p) return std::move(p).error();
    placeholder(p.value());
    tmpl.remove_prefix(close + 2);
  }
  return {};
}

}  // namespace

foundation::Result<std::int64_t> parseDurationSeconds(std::string_view text) {
  if (text.empty()) return foundation::Error::permanent("empty duration");
  std::int64_t total = 0;
  std::string_view rest = text;
  bool first = true;
  while (!rest.empty()) {
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (ec != std::errc() || n < 0) {
      return foundation::Error::permanent("invalid duration (use e.g. 90, 90s, 5m, 1h30m, 2d)");
    }
    rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()));
    std::int64_t unit = 0;
    if (rest.empty()) {
      if (!first) return foundation::Error::permanent("invalid duration: missing unit");
      unit = 1;  // a bare number is seconds
    } else {
      switch (rest.front()) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        default:
          return foundation::Error::permanent("invalid duration unit (use s, m, h or d)");
      }
      rest.remove_prefix(1);
    }
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 1'000'000'000;
    if (n > kMax / unit || total > kMax - n * unit) {
      return foundation::Error::permanent("duration too large");
    }
    total += n * unit;
    first = false;
  }
  return total;
}

foundation::Status checkUsernameTemplate(std::string_view tmpl) {
  std::size_t random_chars = 0;
  auto st = walkTemplate(
      tmpl, [](std::string_view) {},
      [&](const Placeholder& p) {
        if (p.kind == Placeholder::Random) random_chars += p.random_chars;
      });
  if (!st) return st;
  if (random_chars < 8) {
    return foundation::Error::permanent(
        "username_template must contain {{random}} (at least 8 random characters)");
  }
  return {};
}

foundation::Result<std::string> expandUsernameTemplate(std::string_view tmpl, std::string_view role,
                                                       std::string_view display_name,
                                                       std::int64_t unix_time,
                                                       RandomSource& random) {
  if (auto st = checkUsernameTemplate(tmpl); !st) return std::move(st).error();
  // Literal and non-random parts may be shortened, random parts never.
  struct Part {
    std::string text;
    bool random;
  };
  std::vector<Part> parts;
  auto st = walkTemplate(
      tmpl,
      [&](std::string_view text) {
        parts.push_back({std::string(text), false});
      },
      [&](const Placeholder& p) {
        switch (p.kind) {
          case Placeholder::Role:
            parts.push_back({sanitizePart(role), false});
            break;
          case Placeholder::DisplayName:
            parts.push_back({sanitizePart(display_name), false});
            break;
          case Placeholder::UnixTime:
            parts.push_back({std::to_string(unix_time), false});
            break;
          case Placeholder::Random:
            parts.push_back({randomChars(p.random_chars, random), true});
            break;
        }
      });
  if (!st) return std::move(st).error();
  std::size_t total = 0;
  for (const auto& p : parts) total += p.text.size();
  // Trim fixed parts from the end backwards until it fits.
  for (auto it = parts.rbegin(); it != parts.rend() && total > kMaxUsernameLength; ++it) {
    if (it->random) continue;
    const std::size_t cut = std::min(it->text.size(), total - kMaxUsernameLength);
    it->text.resize(it->text.size() - cut);
    total -= cut;
  }
  std::string out;
  for (const auto& p : parts) out += p.text;
  if (out.empty() || out.size() > kMaxUsernameLength) {
    return foundation::Error::permanent("username_template expands to an unusable name");
  }
  return out;
}

foundation::SecretBytes generatePassword(RandomSource& random) {
  foundation::SecretBytes raw(kPasswordBytes);
  random.fill(
      std::span<unsigned char>(reinterpret_cast<unsigned char*>(raw.mutableData()), raw.size()));
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  const std::size_t encoded_len = sodium_base64_ENCODED_LEN(kPasswordBytes, kVariant);
  foundation::SecretBytes encoded(encoded_len);
  sodium_bin2base64(encoded.mutableData(), encoded_len,
                    reinterpret_cast<const unsigned char*>(raw.mutableData()), raw.size(),
                    kVariant);
  encoded.truncate(std::strlen(encoded.mutableData()));
  return encoded;
}

foundation::Status checkPasswordScheme(std::string_view scheme) {
  if (scheme == "SSHA512" || scheme == "SSHA256") return {};
  return foundation::Error::permanent("password_scheme must be SSHA512 or SSHA256");
}

foundation::Result<foundation::SecretBytes> hashPassword(std::string_view scheme,
                                                         const foundation::SecretBytes& password,
                                                         RandomSource& random) {
  if (auto st = checkPasswordScheme(scheme); !st) return std::move(st).error();
  const EVP_MD* md = scheme == "SSHA512" ? EVP_sha512() : EVP_sha256();
  constexpr std::size_t kSaltBytes = 16;
  const auto md_size = static_cast<std::size_t>(EVP_MD_get_size(md));
  // input = password || salt; output = digest || salt.
  foundation::SecretBytes input(password.size() + kSaltBytes);
  password.reveal([&](std::string_view pw) {
    if (!pw.empty()) std::memcpy(input.mutableData(), pw.data(), pw.size());
  });
  foundation::SecretBytes output(md_size + kSaltBytes);
  auto* salt = reinterpret_cast<unsigned char*>(output.mutableData() + md_size);
  random.fill(std::span<unsigned char>(salt, kSaltBytes));
  std::memcpy(input.mutableData() + password.size(), salt, kSaltBytes);
  unsigned int digest_len = 0;
  if (EVP_Digest(input.mutableData(), input.size(),
                 reinterpret_cast<unsigned char*>(output.mutableData()), &digest_len, md,
                 nullptr) != 1 ||
      digest_len != md_size) {
    return foundation::Error::internal("password hash: EVP_Digest failed");
  }
  const std::string prefix = "{" + std::string(scheme) + "}";
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  const std::size_t b64_len = sodium_base64_ENCODED_LEN(output.size(), kVariant);
  foundation::SecretBytes hashed(prefix.size() + b64_len);
  std::memcpy(hashed.mutableData(), prefix.data(), prefix.size());
  sodium_bin2base64(hashed.mutableData() + prefix.size(), b64_len,
                    reinterpret_cast<const unsigned char*>(output.mutableData()), output.size(),
                    kVariant);
  hashed.truncate(std::strlen(hashed.mutableData()));
  return hashed;
}

foundation::Result<std::string> senderLookupKey(std::string_view allowed_sender) {
  std::string s;
  for (char c : allowed_sender) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    s += c;
  }
  const auto at = s.find('@');
  if (at == std::string::npos || s.find('@', at + 1) != std::string::npos || s.size() > 254) {
    return foundation::Error::permanent("allowed_senders: '" + s.substr(0, 64) +
                                        "' is not user@domain or *@domain");
  }
  std::string local = s.substr(0, at);
  const std::string domain = s.substr(at + 1);
  if (local == "*") local.clear();
  auto domain_ok = !domain.empty() && domain.front() != '.' && domain.back() != '.' &&
                   domain.find("..") == std::string::npos && domain.find('.') != std::string::npos;
  for (char c : domain) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
      domain_ok = false;
    }
  }
  bool local_ok = local.size() <= 64;
  for (char c : local) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
          c == '=' || c == '-')) {
      local_ok = false;
    }
  }
  if (!domain_ok || !local_ok) {
    return foundation::Error::permanent("allowed_senders: '" + s.substr(0, 64) +
                                        "' is not user@domain or *@domain");
  }
  return local + "@" + domain;
}

}  // namespace smtpplugin
