// oauth_token_response.cc: OAuth2 token endpoint answers -> AccessToken (see
// oauth_token_response.h).
//
// SECURITY: untrusted input, parsed in place in locked memory with RapidJSON's
// iterative parser (no recursion) and a depth check on the DOM. The access token is
// checked against RFC 6750's b64token charset, so it can go into an SASL initial
// response without any byte that would break the line.
// ERRORS: Permanent errors naming the field that was wrong, never its value.
#include "sidecar/keeper/oauth_token_response.h"

#include <rapidjson/error/en.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "foundation/locked_json.h"

namespace sidecar::keeper {
namespace {

using foundation::locked_json::Document;
using foundation::locked_json::Value;

// Without kParseStopWhenDoneFlag: bytes after the value make the answer malformed.
constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag;

foundation::Error malformed(const std::string& what) {
  return foundation::Error::permanent("malformed token endpoint answer: " + what);
}

const Value* member(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

// RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool isB64Token(std::string_view token) noexcept {
  std::size_t i = 0;
  for (; i < token.size(); ++i) {
    const char c = token[i];
    const bool base = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!base) break;
  }
  if (i == 0) return false;
  for (; i < token.size(); ++i) {
    if (token[i] != '=') return false;
  }
  return true;
}

// RFC 6749 5.2: error and error_description are %x20-21 / %x23-5B / %x5D-7E (no quote,
// no backslash); scope tokens are %x21 / %x23-5B / %x5D-7E separated by spaces.
bool isPlainText(std::string_view text) noexcept {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
}

// A short printable string field, or "" (absent, wrong type, too long, odd bytes):
// only for texts that are informative, never for what decides the outcome.
std::string plainText(const Value& object, const char* name) {
  const Value* v = member(object, name);
  if (v == nullptr || !v->IsString() || v->GetStringLength() > kMaxTokenFieldText) return {};
  std::string_view text(v->GetString(), v->GetStringLength());
  return isPlainText(text) ? std::string(text) : std::string();
}

struct RefusalWords {
  std::string_view code;
  TokenRefusal refusal;
  const char* plain;  // what it means for an operator
};
constexpr RefusalWords kRefusals[] = {
    {"invalid_request", TokenRefusal::InvalidRequest, "the request was malformed"},
    {"invalid_client", TokenRefusal::InvalidClient,
     "client authentication failed (wrong client id, secret or key)"},
    {"invalid_grant", TokenRefusal::InvalidGrant, "the grant or assertion was refused"},
    {"unauthorized_client", TokenRefusal::UnauthorizedClient,
     "the client may not use this grant type"},
    {"unsupported_grant_type", TokenRefusal::UnsupportedGrantType,
     "the endpoint does not support this grant type"},
    {"invalid_scope", TokenRefusal::InvalidScope,
     "the scope is unknown or not granted to this client"},
    {"temporarily_unavailable", TokenRefusal::Unavailable,
     "the endpoint is temporarily unavailable"},
    {"server_error", TokenRefusal::Unavailable, "the endpoint had an internal error"},
};

foundation::Error refusedWith(long http_status, const Value* doc, TokenRefusal* refusal_out) {
  std::string code = doc ? plainText(*doc, "error") : std::string();
  std::string description = doc ? plainText(*doc, "error_description") : std::string();
  TokenRefusal refusal = TokenRefusal::Other;
  const char* plain = "refused";
  for (const auto& r : kRefusals) {
    if (code == r.code) {
      refusal = r.refusal;
      plain = r.plain;
    }
  }
  if (http_status >= 500 || http_status == 429) refusal = TokenRefusal::Unavailable;
  if (refusal_out != nullptr) *refusal_out = refusal;
  std::string message =
      "token endpoint refused: " + (code.empty() ? std::string("no error code") : code) + " (" +
      plain + ", HTTP " + std::to_string(http_status) + ")";
  if (!description.empty()) message += ": " + description;
  return refusal == TokenRefusal::Unavailable ? foundation::Error::temporary(std::move(message))
                                              : foundation::Error::permanent(std::move(message));
}

// expires_in is a JSON number by RFC 6749; Entra ID's v1 endpoint sends a digit
// string, so a short string of digits is accepted too.
bool readLifetime(const Value& v, std::chrono::seconds& out) {
  std::int64_t seconds = 0;
  if (v.IsInt64()) {
    seconds = v.GetInt64();
  } else if (v.IsString() && v.GetStringLength() > 0 && v.GetStringLength() <= 9) {
    for (std::size_t i = 0; i < v.GetStringLength(); ++i) {
      const char c = v.GetString()[i];
      if (c < '0' || c > '9') return false;
      seconds = seconds * 10 + (c - '0');
    }
  } else {
    return false;
  }
  if (seconds < 0) return false;
  out = std::min(std::chrono::seconds(seconds), kMaxTokenLifetime);
  return true;
}

}  // namespace

const char* toString(TokenRefusal refusal) noexcept {
  switch (refusal) {
    case TokenRefusal::None:
      return "none";
    case TokenRefusal::InvalidRequest:
      return "invalid_request";
    case TokenRefusal::InvalidClient:
      return "invalid_client";
    case TokenRefusal::InvalidGrant:
      return "invalid_grant";
    case TokenRefusal::UnauthorizedClient:
      return "unauthorized_client";
    case TokenRefusal::UnsupportedGrantType:
      return "unsupported_grant_type";
    case TokenRefusal::InvalidScope:
      return "invalid_scope";
    case TokenRefusal::Unavailable:
      return "unavailable";
    case TokenRefusal::Other:
      return "other";
  }
  return "other";
}

foundation::Result<AccessToken> parseTokenResponse(long http_status, foundation::SecretBytes& body,
                                                   TokenRefusal* refusal) {
  if (refusal != nullptr) *refusal = TokenRefusal::None;
  if (body.size() > kMaxTokenResponseBytes) return malformed("larger than 64 KiB");
  // Checked before parsing: parsing in place writes NULs into the body.
  const bool has_nul = body.hasNul();
  Document doc;
  bool parsed = false;
  if (!body.empty() && !has_nul) {
    doc.ParseInsitu<kParseFlags>(body.mutableData());
    parsed = !doc.HasParseError() && doc.IsObject() &&
             foundation::locked_json::withinDepth(doc, kMaxTokenResponseDepth);
  }
  if (http_status < 200 || http_status > 299) {
    // An error answer without a readable body still says what its status says.
    return refusedWith(http_status, parsed ? &doc : nullptr, refusal);
  }
  if (body.empty()) return malformed("empty body");
  if (has_nul) return malformed("NUL byte in body");
  if (doc.HasParseError()) {
    return malformed("invalid JSON at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
                     rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return malformed("not a JSON object");
  if (!parsed) return malformed("nested too deeply");
  // Some endpoints answer 200 with an error object.
  if (member(doc, "error") != nullptr && member(doc, "access_token") == nullptr) {
    return refusedWith(http_status, &doc, refusal);
  }

  const Value* token = member(doc, "access_token");
  if (token == nullptr || !token->IsString()) return malformed("no access_token string");
  const std::string_view token_text(token->GetString(), token->GetStringLength());
  if (token_text.size() > kMaxAccessTokenBytes) return malformed("access_token longer than 16 KiB");
  if (!isB64Token(token_text)) return malformed("access_token has characters outside b64token");

  const Value* type = member(doc, "token_type");
  if (type == nullptr || !type->IsString()) return malformed("no token_type string");
  const std::string_view type_text(type->GetString(), type->GetStringLength());
  // RFC 6749 5.1: case-insensitive. Only bearer tokens go into XOAUTH2/OAUTHBEARER.
  if (type_text.size() != 6 || !std::equal(type_text.begin(), type_text.end(), "bearer",
                                           [](char a, char b) { return (a | 0x20) == b; })) {
    return malformed("token_type is not Bearer");
  }

  AccessToken out;
  if (const Value* lifetime = member(doc, "expires_in")) {
    if (!readLifetime(*lifetime, out.expires_in)) {
      return malformed("expires_in is not a non-negative integer");
    }
  }
  if (const Value* scope = member(doc, "scope")) {
    if (!scope->IsString() || scope->GetStringLength() > kMaxTokenFieldText * 4 ||
        !isPlainText(std::string_view(scope->GetString(), scope->GetStringLength()))) {
      return malformed("scope is not a short printable string");
    }
    out.scope.assign(scope->GetString(), scope->GetStringLength());
  }
  out.token = foundation::SecretBytes::copyOf(token_text);
  return out;
}

}  // namespace sidecar::keeper
