// oauth_token_source.cc: token requests to an OAuth2 token endpoint (see
// oauth_token_source.h).
//
// SECURITY: the body (client secret or signed assertion) is built in locked memory and
// uploaded through a read callback, so libcurl never holds its own copy; the Basic
// header is built in locked memory and copied by curl_slist_append into zeroed-on-free
// memory; the answer is received into a SecretBuffer and parsed in place.
// ERRORS: Result values; every libcurl call is checked.
#include "sidecar/keeper/oauth_token_source.h"

#include <curl/curl.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <vector>

#include "foundation/curl_global.h"
#include "foundation/curl_options.h"
#include "foundation/random.h"

namespace sidecar::keeper {
namespace {

constexpr std::string_view kClientAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr std::string_view kJwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer";

bool unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '*';
}

std::size_t encodedLength(std::string_view text) noexcept {
  std::size_t n = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    n += (unreserved(c) || c == ' ') ? 1u : 3u;
  }
  return n;
}

// Writes the form encoding of `text` at `out` (encodedLength(text) bytes).
char* encodeInto(std::string_view text, char* out) noexcept {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c)) {
      *out++ = static_cast<char>(c);
    } else if (c == ' ') {
      *out++ = '+';
    } else {
      *out++ = '%';
      *out++ = kHex[c >> 4];
      *out++ = kHex[c & 0x0f];
    }
  }
  return out;
}

// A form body assembled from name=value pairs; values may be secret, so the whole
// body is sized first and written once into locked memory.
class FormBody {
 public:
  void add(std::string_view name, std::string_view value) { fields_.push_back({name, value}); }
  foundation::SecretBytes finish() const {
    std::size_t size = 0;
    for (const auto& f : fields_) size += encodedLength(f.name) + 1 + encodedLength(f.value) + 1;
    if (size > 0) size -= 1;  // no '&' after the last field
    foundation::SecretBytes body(size);
    char* out = body.mutableData();
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (i > 0) *out++ = '&';
      out = encodeInto(fields_[i].name, out);
      *out++ = '=';
      out = encodeInto(fields_[i].value, out);
    }
    return body;
  }

 private:
  struct Field {
    std::string_view name;
    std::string_view value;
  };
  std::vector<Field> fields_;
};

// http:// is allowed only to a loopback host: "localhost", "[::1]" or a dotted
// 127.x.y.z literal (a name such as 127.0.0.1.example.test is not loopback).
bool isLoopbackHttp(std::string_view url) {
  static constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view rest = url.substr(kScheme.size());
  std::string_view host;
  if (rest.substr(0, 1) == "[") {
    host =
        rest.substr(0, rest.find(']') == std::string_view::npos ? rest.size() : rest.find(']') + 1);
  } else {
    host = rest.substr(0, std::min(rest.find(':'), rest.find('/')));
  }
  rest.remove_prefix(host.size());
  if (!rest.empty() && rest[0] != ':' && rest[0] != '/') return false;
  if (host == "localhost" || host == "[::1]") return true;
  return host.substr(0, 4) == "127." && host.size() <= 15 &&
         std::all_of(host.begin(), host.end(),
                     [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

}  // namespace

const char* toString(ClientAuthentication method) noexcept {
  switch (method) {
    case ClientAuthentication::ClientSecretPost:
      return "client_secret_post";
    case ClientAuthentication::ClientSecretBasic:
      return "client_secret_basic";
    case ClientAuthentication::PrivateKeyJwt:
      return "private_key_jwt";
    case ClientAuthentication::JwtBearerGrant:
      return "jwt_bearer";
  }
  return "client_secret_post";
}

bool parseClientAuthentication(std::string_view word, ClientAuthentication& out) noexcept {
  for (auto method :
       {ClientAuthentication::ClientSecretPost, ClientAuthentication::ClientSecretBasic,
        ClientAuthentication::PrivateKeyJwt, ClientAuthentication::JwtBearerGrant}) {
    if (word == toString(method)) {
      out = method;
      return true;
    }
  }
  return false;
}

std::string formEncode(std::string_view text) {
  std::string out(encodedLength(text), '\0');
  encodeInto(text, out.data());
  return out;
}

foundation::Status validateTokenSourceSettings(const TokenSourceSettings& s) {
  const std::string& url = s.token_endpoint;
  if (url.rfind("https://", 0) != 0 && !isLoopbackHttp(url)) {
    return foundation::Error::permanent(
        "oauth2 token_endpoint must be an https:// URL (http:// only on a loopback address)");
  }
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return foundation::Error::permanent("oauth2 token_endpoint has spaces or control characters");
  }
  if (s.client_id.empty() || s.client_id.size() > kMaxClaimText) {
    return foundation::Error::permanent("oauth2 client_id is empty or too long");
  }
  if (s.scope.size() > kMaxClaimText)
    return foundation::Error::permanent("oauth2 scope is too long");
  if (s.authentication == ClientAuthentication::JwtBearerGrant && s.scope.empty()) {
    return foundation::Error::permanent(
        "oauth2 jwt_bearer needs a scope (Google: https://mail.google.com/)");
  }
  if (s.assertion_lifetime.count() <= 0 || s.assertion_lifetime > kMaxAssertionLifetime) {
    return foundation::Error::permanent("oauth2 assertion_lifetime is between 1 and 600 seconds");
  }
  if (s.timeout.count() <= 0)
    return foundation::Error::permanent("oauth2 timeout must be positive");
  return {};
}

foundation::Result<foundation::SecretBytes> buildTokenRequestBody(
    const TokenSourceSettings& s, const foundation::SecretBytes& client_material,
    std::int64_t now_unix, const std::string& jwt_id) {
  if (auto valid = validateTokenSourceSettings(s); !valid) return std::move(valid).error();
  if (client_material.empty()) {
    return foundation::Error::permanent("the client secret or key read from Vault is empty");
  }
  FormBody form;
  foundation::SecretBytes assertion;
  const bool signs = s.authentication == ClientAuthentication::PrivateKeyJwt ||
                     s.authentication == ClientAuthentication::JwtBearerGrant;
  if (signs) {
    JwtAssertionClaims claims;
    claims.issuer = s.client_id;
    claims.subject = s.authentication == ClientAuthentication::JwtBearerGrant && !s.subject.empty()
                         ? s.subject
                         : s.client_id;
    claims.audience = s.audience.empty() ? s.token_endpoint : s.audience;
    // Google's grant carries the scope in the assertion; a client assertion does not.
    if (s.authentication == ClientAuthentication::JwtBearerGrant) claims.scope = s.scope;
    claims.key_id = s.key_id;
    claims.jwt_id = jwt_id;
    claims.issued_at = now_unix;
    claims.lifetime = s.assertion_lifetime;
    auto signed_jwt = signJwtAssertion(client_material, claims);
    if (!signed_jwt) return std::move(signed_jwt).error().context("oauth2 assertion");
    assertion = std::move(signed_jwt).value();
  }
  const std::string_view assertion_text(assertion.cString().pointer, assertion.size());
  const std::string_view secret_text(client_material.cString().pointer, client_material.size());

  switch (s.authentication) {
    case ClientAuthentication::ClientSecretPost:
      form.add("grant_type", "client_credentials");
      form.add("client_id", s.client_id);
      form.add("client_secret", secret_text);
      break;
    case ClientAuthentication::ClientSecretBasic:
      form.add("grant_type", "client_credentials");
      break;
    case ClientAuthentication::PrivateKeyJwt:
      form.add("grant_type", "client_credentials");
      form.add("client_id", s.client_id);
      form.add("client_assertion_type", kClientAssertionType);
      form.add("client_assertion", assertion_text);
      break;
    case ClientAuthentication::JwtBearerGrant:
      form.add("grant_type", kJwtBearerGrant);
      form.add("assertion", assertion_text);
      break;
  }
  if (!s.scope.empty() && s.authentication != ClientAuthentication::JwtBearerGrant) {
    form.add("scope", s.scope);
  }
  return form.finish();
}

TokenEndpointClient::TokenEndpointClient(TokenSourceSettings settings)
    : settings_(std::move(settings)) {}

TokenEndpointClient::~TokenEndpointClient() {
  if (easy_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(easy_));
}

foundation::Result<std::unique_ptr<TokenEndpointClient>> TokenEndpointClient::create(
    TokenSourceSettings settings) {
  if (auto valid = validateTokenSourceSettings(settings); !valid) return std::move(valid).error();
  foundation::initCurlOrDie();
  std::unique_ptr<TokenEndpointClient> client(new TokenEndpointClient(std::move(settings)));
  client->easy_ = curl_easy_init();
  if (client->easy_ == nullptr) return foundation::Error::internal("curl_easy_init failed");
  return client;
}

foundation::Result<AccessToken> TokenEndpointClient::fetch(
    const foundation::SecretBytes& client_material, TokenRefusal* refusal) {
  if (refusal != nullptr) *refusal = TokenRefusal::None;
  auto body = buildTokenRequestBody(settings_, client_material,
                                    static_cast<std::int64_t>(std::time(nullptr)),
                                    foundation::randomHex(16));
  if (!body) return std::move(body).error();

  CURL* c = static_cast<CURL*>(easy_);
  curl_easy_reset(c);  // keeps the connection cache
  std::unique_ptr<curl_slist, foundation::CurlSlistDeleter> headers;
  auto addHeader = [&](const char* line) {
    curl_slist* next = curl_slist_append(headers.get(), line);
    if (next == nullptr) return false;
    (void)headers.release();
    headers.reset(next);
    return true;
  };
  bool headers_ok = addHeader("Content-Type: application/x-www-form-urlencoded") &&
                    addHeader("Accept: application/json") && addHeader("Expect:");
  if (settings_.authentication == ClientAuthentication::ClientSecretBasic) {
    // RFC 6749 2.3.1: each part form-encoded, then base64 of "id:secret".
    const std::string id = formEncode(settings_.client_id);
    const std::size_t secret_len =
        client_material.reveal([](std::string_view secret) { return encodedLength(secret); });
    foundation::SecretBytes pair(id.size() + 1 + secret_len);
    std::memcpy(pair.mutableData(), id.data(), id.size());
    pair.mutableData()[id.size()] = ':';
    client_material.reveal(
        [&](std::string_view secret) { encodeInto(secret, pair.mutableData() + id.size() + 1); });
    static constexpr std::string_view kPrefix = "Authorization: Basic ";
    const std::size_t encoded =
        sodium_base64_ENCODED_LEN(pair.size(), sodium_base64_VARIANT_ORIGINAL);
    foundation::SecretBytes line(kPrefix.size() + encoded);
    std::memcpy(line.mutableData(), kPrefix.data(), kPrefix.size());
    sodium_bin2base64(line.mutableData() + kPrefix.size(), encoded,
                      reinterpret_cast<const unsigned char*>(pair.cString().pointer), pair.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    headers_ok = headers_ok && addHeader(line.cString().pointer);
  }
  if (!headers_ok)
    return foundation::Error::internal("out of memory building token request headers");

  foundation::SecretBuffer received(kMaxTokenResponseBytes);
  foundation::CurlSecretUpload upload{&body.value()};
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const char* failed = nullptr;
  auto set = [&](CURLoption option, auto value, const char* name) {
    if (failed == nullptr && curl_easy_setopt(c, option, value) != CURLE_OK) failed = name;
  };
  set(CURLOPT_ERRORBUFFER, error_buffer, "ERRORBUFFER");
  set(CURLOPT_URL, settings_.token_endpoint.c_str(), "URL");
  set(CURLOPT_PROTOCOLS_STR, "http,https", "PROTOCOLS_STR");
  set(CURLOPT_FOLLOWLOCATION, 0L, "FOLLOWLOCATION");
  set(CURLOPT_NOSIGNAL, 1L, "NOSIGNAL");
  set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.timeout.count()), "CONNECTTIMEOUT_MS");
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()), "TIMEOUT_MS");
  set(CURLOPT_HTTPHEADER, headers.get(), "HTTPHEADER");
  set(CURLOPT_POST, 1L, "POST");
  set(CURLOPT_READFUNCTION, foundation::curlReadSecret, "READFUNCTION");
  set(CURLOPT_READDATA, &upload, "READDATA");
  set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()), "POSTFIELDSIZE_LARGE");
  set(CURLOPT_WRITEFUNCTION, foundation::curlWriteSecret, "WRITEFUNCTION");
  set(CURLOPT_WRITEDATA, &received, "WRITEDATA");
  if (settings_.token_endpoint.rfind("https://", 0) == 0) {
    set(CURLOPT_SSL_VERIFYPEER, 1L, "SSL_VERIFYPEER");
    set(CURLOPT_SSL_VERIFYHOST, 2L, "SSL_VERIFYHOST");
    set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2), "SSLVERSION");
    if (!settings_.ca_file.empty()) set(CURLOPT_CAINFO, settings_.ca_file.c_str(), "CAINFO");
  }
  if (failed != nullptr)
    return foundation::Error::internal(std::string("libcurl refused option ") + failed);

  const CURLcode rc = curl_easy_perform(c);
  if (received.overflowed()) {
    return foundation::Error::permanent("token endpoint answer larger than 64 KiB");
  }
  if (rc != CURLE_OK) {
    if (refusal != nullptr) *refusal = TokenRefusal::Unavailable;
    std::string message = "token endpoint " + settings_.token_endpoint + " unreachable: " +
                          (error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc));
    return foundation::Error::temporary(std::move(message));
  }
  long status = 0;
  if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) {
    return foundation::Error::internal("no HTTP status from libcurl");
  }
  foundation::SecretBytes answer = received.take();
  auto token = parseTokenResponse(status, answer, refusal);
  if (token && token->expires_in.count() == 0) token->expires_in = settings_.default_lifetime;
  return token;
}

}  // namespace sidecar::keeper
