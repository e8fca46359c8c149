// sasl.cc: SASL client messages in locked memory (see sasl.h).
//
// SECURITY: the raw payload and its base64 are both SecretBytes; the scratch payload is
// zeroed when it goes out of scope (sodium_free).
// ERRORS: none (see sasl.h).
#include "sidecar/relay/sasl.h"

#include <sodium.h>

#include <cstring>
#include <initializer_list>
#include <string_view>

namespace sidecar::relay {
namespace {

// A piece of a SASL payload: a literal or a secret's bytes (read in place), the
// latter optionally as a GS2 saslname (RFC 5801 section 4: ',' and '=' are written
// "=2C" and "=3D", so that an authzid cannot end the gs2 header or forge a field).
struct Part {
  std::string_view literal;
  const foundation::SecretBytes* secret = nullptr;
  bool gs2_escaped = false;
};

constexpr bool gs2Special(char c) {
  return c == ',' || c == '=';
}

std::size_t partSize(const Part& p) {
  if (p.secret == nullptr) return p.literal.size();
  if (!p.gs2_escaped) return p.secret->size();
  return p.secret->reveal([](std::string_view bytes) {
    std::size_t size = bytes.size();
    for (char c : bytes) size += gs2Special(c) ? std::size_t{2} : std::size_t{0};
    return size;
  });
}

// Appends the part's bytes at `out` and returns the end.
char* writePart(const Part& p, char* out) {
  if (p.secret == nullptr) {
    if (!p.literal.empty()) std::memcpy(out, p.literal.data(), p.literal.size());
    return out + p.literal.size();
  }
  return p.secret->reveal([&](std::string_view bytes) {
    if (!p.gs2_escaped) {
      if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
      return out + bytes.size();
    }
    for (char c : bytes) {
      if (gs2Special(c)) {
        *out++ = '=';
        *out++ = c == ',' ? '2' : '3';
        *out++ = c == ',' ? 'C' : 'D';
      } else {
        *out++ = c;
      }
    }
    return out;
  });
}

// prefix + base64(parts...) + "\r\n", all in locked memory.
foundation::SecretBytes encodedLine(std::string_view prefix, std::initializer_list<Part> parts) {
  std::size_t raw_size = 0;
  for (const auto& p : parts) raw_size += partSize(p);
  foundation::SecretBytes raw(raw_size);
  char* out = raw.mutableData();
  for (const auto& p : parts) out = writePart(p, out);
  // ENCODED_LEN counts the NUL sodium writes; SecretBytes keeps its own hidden NUL.
  const std::size_t b64_with_nul =
      sodium_base64_ENCODED_LEN(raw_size, sodium_base64_VARIANT_ORIGINAL);
  foundation::SecretBytes line(prefix.size() + b64_with_nul - 1 + 2);
  char* dst = line.mutableData();
  if (!prefix.empty()) std::memcpy(dst, prefix.data(), prefix.size());
  // Writes b64_with_nul bytes (the NUL lands where "\r" goes next).
  sodium_bin2base64(dst + prefix.size(), b64_with_nul,
                    reinterpret_cast<const unsigned char*>(raw.mutableData()), raw_size,
                    sodium_base64_VARIANT_ORIGINAL);
  dst[prefix.size() + b64_with_nul - 1] = '\r';
  dst[prefix.size() + b64_with_nul] = '\n';
  return line;
}

}  // namespace

const char* toString(SaslMechanism mechanism) noexcept {
  switch (mechanism) {
    case SaslMechanism::Plain:
      return "PLAIN";
    case SaslMechanism::Login:
      return "LOGIN";
    case SaslMechanism::XOAuth2:
      return "XOAUTH2";
    case SaslMechanism::OAuthBearer:
      return "OAUTHBEARER";
  }
  return "unknown";
}

std::optional<SaslMechanism> chooseMechanism(CredentialKind kind, unsigned offered) noexcept {
  switch (kind) {
    case CredentialKind::Password:
      if ((offered & kSaslPlain) != 0) return SaslMechanism::Plain;
      if ((offered & kSaslLogin) != 0) return SaslMechanism::Login;
      return std::nullopt;
    case CredentialKind::OAuth2Token:
      if ((offered & kSaslOAuthBearer) != 0) return SaslMechanism::OAuthBearer;
      if ((offered & kSaslXOAuth2) != 0) return SaslMechanism::XOAuth2;
      return std::nullopt;
  }
  return std::nullopt;
}

foundation::SecretBytes authCommand(SaslMechanism mechanism, const SmtpCredential& c) {
  switch (mechanism) {
    case SaslMechanism::Plain:
      // RFC 4616: [authzid] NUL authcid NUL passwd; no authzid.
      return encodedLine("AUTH PLAIN ", {{std::string_view("\0", 1)},
                                         {{}, &c.username},
                                         {std::string_view("\0", 1)},
                                         {{}, &c.password}});
    case SaslMechanism::Login:
      return foundation::SecretBytes::copyOf(std::string_view("AUTH LOGIN\r\n"));
    case SaslMechanism::XOAuth2:
      return encodedLine("AUTH XOAUTH2 ", {{"user="},
                                           {{}, &c.username},
                                           {"\x01"
                                            "auth=Bearer "},
                                           {{}, &c.password},
                                           {"\x01\x01"}});
    case SaslMechanism::OAuthBearer:
      // RFC 7628 3.1: gs2 header "n,a=<authzid>," then kvpairs; the authzid is a
      // saslname (RFC 5801: ',' -> "=2C", '=' -> "=3D").
      return encodedLine("AUTH OAUTHBEARER ", {{"n,a="},
                                               {{}, &c.username, true},
                                               {",\x01"
                                                "auth=Bearer "},
                                               {{}, &c.password},
                                               {"\x01\x01"}});
  }
  return {};
}

foundation::SecretBytes loginUsername(const SmtpCredential& c) {
  return encodedLine("", {{{}, &c.username}});
}
foundation::SecretBytes loginPassword(const SmtpCredential& c) {
  return encodedLine("", {{{}, &c.password}});
}

const char* oauthErrorAcknowledgement(SaslMechanism mechanism) noexcept {
  return mechanism == SaslMechanism::OAuthBearer ? "AQ==\r\n" : "\r\n";
}

}  // namespace sidecar::relay
