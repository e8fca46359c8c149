// client.cc: Vault requests built in locked memory, answers through response_parser.
//
// SECURITY: request bodies that carry secrets (role_id, secret_id) are JSON written
// directly into SecretBytes; no std::string ever holds them. The token is kept here
// and handed to the transport as a pointer for each request.
// ERRORS: transport errors pass through; non-2xx answers become Errors with Vault's
// own error text and a context prefix naming the operation.
#include "vault/client.h"

#include <cstring>

#include "vault/response_parser.h"

namespace vault {
namespace {

// Appends `value` as a JSON string (quotes and escapes) into `out` at `pos`.
// Returns the new position; `out` must be large enough (6 bytes per input byte + 2).
std::size_t appendJsonString(char* out, std::size_t pos, std::string_view value) {
  static const char* hex = "0123456789abcdef";
  out[pos++] = '"';
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out[pos++] = '\\';
      out[pos++] = static_cast<char>(c);
    } else if (c < 0x20) {
      std::memcpy(out + pos, "\\u00", 4);
      pos += 4;
      out[pos++] = hex[c >> 4];
      out[pos++] = hex[c & 15];
    } else {
      out[pos++] = static_cast<char>(c);
    }
  }
  out[pos++] = '"';
  return pos;
}

// {"k1":"v1","k2":"v2"} in locked memory.
SecretBytes jsonObject(std::initializer_list<std::pair<std::string_view, const SecretBytes*>> fields) {
  std::size_t capacity = 2;
  for (const auto& [key, value] : fields) capacity += 6 * (key.size() + value->size()) + 6;
  SecretBytes body(capacity);
  char* out = body.mutableData();
  std::size_t pos = 0;
  out[pos++] = '{';
  bool first = true;
  for (const auto& [key, value] : fields) {
    if (!first) out[pos++] = ',';
    first = false;
    pos = appendJsonString(out, pos, key);
    out[pos++] = ':';
    value->reveal([&](std::string_view v) { pos = appendJsonString(out, pos, v); });
  }
  out[pos++] = '}';
  body.truncate(pos);
  return body;
}

bool isSuccess(long status) { return status >= 200 && status < 300; }

}  // namespace

Client::Client(HttpTransportPtr transport) : transport_(std::move(transport)) {}

Result<HttpResponse> Client::call(HttpMethod method, std::string path, SecretBytes body) {
  HttpRequest request;
  request.method = method;
  request.path = "/v1/" + path;
  request.body = std::move(body);
  request.token = token_.empty() ? nullptr : &token_;
  auto response = transport_->send(request);
  if (!response) return response.error();
  if (!isSuccess(response->status)) return response::parseError(response->status, response->body);
  return response;
}

Result<AuthInfo> Client::loginAppRole(const SecretBytes& role_id, const SecretBytes& secret_id,
                                      std::string_view mount) {
  SecretBytes body = jsonObject({{"role_id", &role_id}, {"secret_id", &secret_id}});
  token_ = SecretBytes();  // a login request carries no token
  auto response = call(HttpMethod::Post, "auth/" + std::string(mount) + "/login", std::move(body));
  if (!response) {
    const auto& e = response.error();
    // Vault answers 400 "invalid role or secret ID" (or "invalid secret id"); say so.
    return e.context("approle login");
  }
  auto auth = response::parseAuth(response->body);
  if (!auth) return auth.error().context("approle login");
  token_ = auth->client_token.clone();
  return auth;
}

Result<LeasedSecret> Client::read(std::string_view path) {
  auto response = call(HttpMethod::Get, std::string(path), SecretBytes());
  if (!response) return response.error().context("read " + std::string(path));
  auto secret = response::parseSecret(response->body);
  if (!secret) return secret.error().context("read " + std::string(path));
  return secret;
}

Status Client::revokeLease(std::string_view lease_id) {
  // The path form (sys/leases/revoke/<id>), not the body form: it lets a policy scope
  // revocation to the leases of one credential path.
  auto response = call(HttpMethod::Put, "sys/leases/revoke/" + std::string(lease_id), SecretBytes());
  if (!response) return response.error().context("revoke lease " + std::string(lease_id));
  return {};
}

Status Client::revokeSelf() {
  auto response = call(HttpMethod::Post, "auth/token/revoke-self", SecretBytes());
  if (!response) return response.error().context("revoke token");
  token_ = SecretBytes();
  return {};
}

}  // namespace vault
