// ehlo.h: what an SMTP server offers in its EHLO reply (RFC 5321 4.1.1.1), parsed once
// into the few capabilities the relay client acts on.
//
// SECURITY: untrusted input from the SMTP server (or whatever answers on its port, and
// before STARTTLS possibly a man in the middle: the client never trusts pre-TLS
// capabilities after the handshake, it asks again). Pure code with fixed limits: at most
// kMaxEhloLines keyword lines and kMaxReplyLine bytes per line are looked at, at most
// kMaxAuthMechanisms AUTH mechanisms, SIZE values are bounded and overflow-checked.
// Unknown keywords are ignored; nothing is kept from the text except booleans and numbers.
// ERRORS: none: an unparseable keyword line offers nothing (the client then falls back to
// the plainest behaviour, which every server must accept).
#pragma once

#include <cstdint>
#include <string_view>

namespace sidecar::relay {

inline constexpr std::size_t kMaxEhloLines = 64;
inline constexpr std::size_t kMaxAuthMechanisms = 32;

// Bit per SASL mechanism the client can speak.
enum SaslOffer : unsigned {
  kSaslPlain = 1u << 0,
  kSaslLogin = 1u << 1,
  kSaslXOAuth2 = 1u << 2,
  kSaslOAuthBearer = 1u << 3,
};

struct EhloCapabilities {
  bool pipelining = false;       // RFC 2920
  bool chunking = false;         // RFC 3030 (BDAT)
  bool starttls = false;         // RFC 3207
  bool eightbitmime = false;     // RFC 6152
  bool smtputf8 = false;         // RFC 6531
  bool enhanced_codes = false;   // RFC 2034
  bool size = false;             // RFC 1870: SIZE offered
  std::uint64_t size_limit = 0;  // its announced maximum; 0: none announced
  unsigned auth = 0;             // SaslOffer bits
  bool auth_offered = false;     // an AUTH keyword at all, whatever its mechanisms
  bool operator==(const EhloCapabilities&) const = default;
};

// `reply_text` is the EHLO reply's text as ReplyCollector joins it: lines separated by
// '\n', without the "250-" codes; the first line is the server's name and greeting.
EhloCapabilities parseEhlo(std::string_view reply_text) noexcept;

}  // namespace sidecar::relay
