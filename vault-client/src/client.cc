// client.cc: Vault requests built in locked memory, answers through response_parser,
// with retries and failover between server addresses.
//
// SECURITY: request bodies that carry secrets (role_id, secret_id, wrapping tokens,
// Transit plaintext) are written straight into SecretBytes by RequestBody; no
// std::string ever holds them. The token is kept here and handed to the transport as a
// pointer for each request. Base64 plaintext from Transit is decoded into locked memory.
// ERRORS: transport errors pass through; non-2xx answers become Errors with Vault's
// own error text and a context prefix naming the operation (never a body or a value).
#include "vault/client.h"

#include <sodium.h>

#include "vault/response_parser.h"

namespace vault {
namespace {

bool isSuccess(long status) {
  return status >= 200 && status < 300;
}

// Answers that another node, or the same one a moment later, may answer well: rate
// limiting, a sealed or standby node (503, or 307 when a standby redirects instead of
// forwarding), an active node not yet elected (500), a proxy in between (502, 504), and
// a performance standby behind on replication (412).
bool worthRetrying(long status) {
  return status == 307 || status == 412 || status == 429 || status >= 500;
}

foundation::Error contextOf(const foundation::Error& e, std::string_view what) {
  return e.context(std::string(what));
}

// Standard base64 text (Transit's encoding) into locked memory.
foundation::Result<foundation::SecretBytes> decodeBase64(const foundation::SecretBytes& text,
                                                         std::string_view what) {
  foundation::SecretBytes out(text.size());  // decoded is never longer than its encoding
  std::size_t len = 0;
  const int rc = text.reveal([&](std::string_view v) {
    return sodium_base642bin(reinterpret_cast<unsigned char*>(out.mutableData()), out.size(),
                             v.data(), v.size(), nullptr, &len, nullptr,
                             sodium_base64_VARIANT_ORIGINAL);
  });
  if (rc != 0)
    return foundation::Error::permanent("malformed response: " + std::string(what) +
                                        " is not base64");
  out.truncate(len);
  return out;
}

}  // namespace

Client::Client(std::vector<HttpTransportPtr> transports, ClientOptions options)
    : transports_(std::move(transports)), options_(std::move(options)) {}

Client::Client(HttpTransportPtr transport, ClientOptions options) : options_(std::move(options)) {
  transports_.push_back(std::move(transport));
}

foundation::Result<HttpResponse> Client::call(std::string_view operation, HttpMethod method,
                                              std::string path, foundation::SecretBytes body,
                                              Repeatable repeatable) {
  Call c{method, std::move(path), std::move(body), repeatable};
  c.operation = operation;
  return call(std::move(c));
}

foundation::Result<HttpResponse> Client::call(Call c) {
  if (transports_.empty()) return foundation::Error::internal("vault client has no server address");
  HttpRequest request;
  request.method = c.method;
  request.path = "/v1/" + c.path;
  request.body = std::move(c.body);
  request.wrap_ttl = std::move(c.wrap_ttl);
  const foundation::SecretBytes* token = c.token != nullptr ? c.token : &token_;
  request.token = token->empty() ? nullptr : token;

  foundation::Backoff backoff(options_.retry_backoff, options_.uniform);
  const std::size_t addresses = transports_.size();
  std::size_t failed_this_round = 0;
  for (unsigned attempt = 1;; ++attempt) {
    const foundation::SteadyTime started = options_.clock->now();
    auto response = transports_[current_]->send(request);
    if (options_.observer) {
      RequestObservation seen;
      seen.operation = c.operation;
      seen.transport_error = !response;
      seen.status = response ? response->status : 0;
      seen.duration = options_.clock->now() - started;
      seen.attempt = attempt;
      options_.observer(seen);
    }
    foundation::Error failure = foundation::Error::internal("");
    bool repeat = false;
    if (!response) {
      failure = std::move(response).error();
      repeat = failure.unsent || c.repeatable == Repeatable::Yes;
    } else if (isSuccess(response->status) || c.any_status) {
      return response;
    } else {
      failure = response::parseError(response->status, response->body);
      repeat = worthRetrying(response->status) && c.repeatable == Repeatable::Yes;
    }
    if (!repeat || attempt >= options_.max_attempts) return failure;
    // Another address first, at once; when all have failed in this round, wait.
    if (addresses > 1) current_ = (current_ + 1) % addresses;
    if (++failed_this_round < addresses) continue;
    failed_this_round = 0;
    options_.clock->sleepFor(backoff.next());
  }
}

// ---- auth ----

foundation::Result<AuthInfo> Client::loginAppRole(const foundation::SecretBytes& role_id,
                                                  const foundation::SecretBytes& secret_id,
                                                  std::string_view mount) {
  auto body = RequestBody().secret("role_id", role_id).secret("secret_id", secret_id).build();
  if (!body) return body.error();
  token_ = foundation::SecretBytes();  // a login request carries no token
  // A secret_id may have a use limit: a login whose answer was lost is not repeated.
  auto response = call("approle_login", HttpMethod::Post, "auth/" + std::string(mount) + "/login",
                       std::move(*body), Repeatable::OnlyIfUnsent);
  if (!response) return contextOf(response.error(), "approle login");
  auto auth = response::parseAuth(response->body);
  if (!auth) return contextOf(auth.error(), "approle login");
  token_ = auth->client_token.clone();
  return auth;
}

foundation::Result<foundation::SecretBytes> Client::unwrapSecretId(
    const foundation::SecretBytes& wrapping_token, std::string_view role, std::string_view mount,
    std::chrono::seconds* ttl) {
  constexpr std::string_view kWhat = "unwrap secret_id";
  auto lookup_body = RequestBody().secret("token", wrapping_token).build();
  if (!lookup_body) return lookup_body.error();
  Call lookup{HttpMethod::Post, "sys/wrapping/lookup", std::move(*lookup_body)};
  const foundation::SecretBytes no_token;
  lookup.token = &no_token;
  lookup.operation = "wrapping_lookup";  // lookup needs no token; do not show ours to it
  auto looked_up = call(std::move(lookup));
  if (!looked_up) {
    const foundation::Error& e = looked_up.error();
    if (e.kind == foundation::ErrorKind::Permanent) {
      return foundation::Error::permanent(
          std::string(kWhat) +
          ": the wrapping token has expired, was already used, or is not a "
          "wrapping token (" +
          e.message + ")");
    }
    return contextOf(e, kWhat);
  }
  auto info = response::parseSecret(looked_up->body);
  if (!info) return contextOf(info.error(), kWhat);
  const std::string expected =
      "auth/" + std::string(mount) + "/role/" + std::string(role) + "/secret-id";
  const auto creation_path = info->data.plainText("creation_path");
  if (!creation_path || *creation_path != expected) {
    return foundation::Error::permanent(std::string(kWhat) + ": refused: the token wraps '" +
                                        creation_path.value_or("?") + "', not '" + expected +
                                        "' (it may be forged)");
  }

  Call unwrap{HttpMethod::Post, "sys/wrapping/unwrap", foundation::SecretBytes(),
              Repeatable::OnlyIfUnsent};
  unwrap.token = &wrapping_token;
  unwrap.operation = "wrapping_unwrap";
  auto unwrapped = call(std::move(unwrap));
  if (!unwrapped) {
    if (unwrapped.error().kind == foundation::ErrorKind::Permanent) {
      return foundation::Error::permanent(
          std::string(kWhat) + ": the wrapping token was used between lookup and unwrap (" +
          unwrapped.error().message + "); someone else may hold the secret_id");
    }
    return contextOf(unwrapped.error(), kWhat);
  }
  auto secret = response::parseSecret(unwrapped->body);
  if (!secret) return contextOf(secret.error(), kWhat);
  const foundation::SecretBytes* secret_id = secret->data.find("secret_id");
  if (secret_id == nullptr || secret_id->empty()) {
    return foundation::Error::permanent(std::string(kWhat) +
                                        ": the unwrapped answer has no secret_id");
  }
  if (ttl != nullptr) {
    // A JSON number as text (SecretData keeps numbers so); anything else: unknown.
    *ttl = std::chrono::seconds(0);
    const auto text = secret->data.plainText("secret_id_ttl");
    if (text && !text->empty() && text->size() <= 12 &&
        text->find_first_not_of("0123456789") == std::string::npos) {
      *ttl = std::chrono::seconds(std::stoll(*text));
    }
  }
  return secret_id->clone();
}

// ---- token ----

foundation::Result<TokenInfo> Client::lookupSelf() {
  auto response = call("token_lookup_self", HttpMethod::Get, "auth/token/lookup-self");
  if (!response) return contextOf(response.error(), "token lookup-self");
  auto info = response::parseTokenLookup(response->body);
  if (!info) return contextOf(info.error(), "token lookup-self");
  return info;
}

foundation::Result<AuthInfo> Client::renewSelf(std::chrono::seconds increment) {
  auto body = RequestBody().integer("increment", increment.count()).build();
  if (!body) return body.error();
  auto response =
      call("token_renew_self", HttpMethod::Post, "auth/token/renew-self", std::move(*body));
  if (!response) return contextOf(response.error(), "token renew-self");
  auto auth = response::parseAuth(response->body);
  if (!auth) return contextOf(auth.error(), "token renew-self");
  return auth;
}

foundation::Status Client::revokeSelf() {
  auto response = call("token_revoke_self", HttpMethod::Post, "auth/token/revoke-self");
  if (!response) return contextOf(response.error(), "revoke token");
  token_ = foundation::SecretBytes();
  return {};
}

foundation::Status Client::revokeToken(const foundation::SecretBytes& token) {
  Call revoke{HttpMethod::Post, "auth/token/revoke-self", foundation::SecretBytes()};
  revoke.token = &token;
  revoke.operation = "token_revoke";
  if (token.empty()) return foundation::Error::internal("revoke token: empty token");
  auto response = call(std::move(revoke));
  if (!response) return contextOf(response.error(), "revoke replaced token");
  return {};
}

// ---- logical ----

foundation::Result<LeasedSecret> Client::read(std::string_view path, std::string_view wrap_ttl) {
  Call c{HttpMethod::Get, std::string(path), foundation::SecretBytes()};
  c.wrap_ttl = std::string(wrap_ttl);
  c.operation = "read";
  auto response = call(std::move(c));
  if (!response) return contextOf(response.error(), "read " + std::string(path));
  auto secret = response::parseSecret(response->body);
  if (!secret) return contextOf(secret.error(), "read " + std::string(path));
  return secret;
}

foundation::Result<LeasedSecret> Client::write(std::string_view path, foundation::SecretBytes body,
                                               std::string_view wrap_ttl) {
  Call c{HttpMethod::Put, std::string(path), std::move(body), Repeatable::OnlyIfUnsent};
  c.wrap_ttl = std::string(wrap_ttl);
  c.operation = "write";
  auto response = call(std::move(c));
  if (!response) return contextOf(response.error(), "write " + std::string(path));
  if (response->status == 204 || response->body.empty()) return LeasedSecret{};
  auto secret = response::parseSecret(response->body);
  if (!secret) return contextOf(secret.error(), "write " + std::string(path));
  return secret;
}

foundation::Result<std::vector<std::string>> Client::list(std::string_view path) {
  Call c{HttpMethod::List, std::string(path), foundation::SecretBytes()};
  c.any_status = true;
  c.operation = "list";
  auto response = call(std::move(c));
  if (!response) return contextOf(response.error(), "list " + std::string(path));
  if (response->status == 404) return std::vector<std::string>{};
  if (!isSuccess(response->status)) {
    return contextOf(response::parseError(response->status, response->body),
                     "list " + std::string(path));
  }
  auto keys = response::parseList(response->body);
  if (!keys) return contextOf(keys.error(), "list " + std::string(path));
  return keys;
}

foundation::Status Client::remove(std::string_view path) {
  auto response = call("delete", HttpMethod::Delete, std::string(path));
  if (!response) return contextOf(response.error(), "delete " + std::string(path));
  return {};
}

// ---- leases ----

foundation::Result<LeaseInfo> Client::renewLease(std::string_view lease_id,
                                                 std::chrono::seconds increment) {
  auto body = RequestBody().integer("increment", increment.count()).build();
  if (!body) return body.error();
  const std::string what = "renew lease " + std::string(lease_id);
  auto response = call("lease_renew", HttpMethod::Put, "sys/leases/renew/" + std::string(lease_id),
                       std::move(*body));
  if (!response) return contextOf(response.error(), what);
  auto lease = response::parseLeaseRenewal(response->body);
  if (!lease) return contextOf(lease.error(), what);
  return lease;
}

foundation::Result<LeaseInfo> Client::lookupLease(std::string_view lease_id) {
  auto body = RequestBody().text("lease_id", lease_id).build();
  if (!body) return body.error();
  const std::string what = "lookup lease " + std::string(lease_id);
  auto response = call("lease_lookup", HttpMethod::Put, "sys/leases/lookup", std::move(*body));
  if (!response) return contextOf(response.error(), what);
  auto lease = response::parseLeaseLookup(response->body);
  if (!lease) return contextOf(lease.error(), what);
  return lease;
}

foundation::Status Client::revokeLease(std::string_view lease_id) {
  // The path form (sys/leases/revoke/<id>), not the body form: it lets a policy scope
  // revocation to the leases of one credential path.
  auto response =
      call("lease_revoke", HttpMethod::Put, "sys/leases/revoke/" + std::string(lease_id));
  if (!response) return contextOf(response.error(), "revoke lease " + std::string(lease_id));
  return {};
}

// ---- KV v2, Transit ----

foundation::Result<KvSecret> Client::readKv2(std::string_view mount, std::string_view path,
                                             std::int64_t version) {
  std::string url = std::string(mount) + "/data/" + std::string(path);
  if (version > 0) url += "?version=" + std::to_string(version);
  const std::string what = "kv read " + std::string(mount) + "/" + std::string(path);
  auto response = call("kv_read", HttpMethod::Get, std::move(url));
  if (!response) return contextOf(response.error(), what);
  auto secret = response::parseKv2(response->body);
  if (!secret) return contextOf(secret.error(), what);
  return secret;
}

foundation::Result<std::string> Client::transitEncrypt(std::string_view mount, std::string_view key,
                                                       const foundation::SecretBytes& plaintext) {
  auto body = RequestBody().secretBase64("plaintext", plaintext).build();
  if (!body) return body.error();
  auto out = write(std::string(mount) + "/encrypt/" + std::string(key), std::move(*body));
  if (!out) return out.error();
  auto ciphertext = out->data.plainText("ciphertext");
  if (!ciphertext)
    return foundation::Error::permanent("transit encrypt: no ciphertext in the answer");
  return *ciphertext;
}

foundation::Result<foundation::SecretBytes> Client::transitDecrypt(std::string_view mount,
                                                                   std::string_view key,
                                                                   std::string_view ciphertext) {
  auto body = RequestBody().text("ciphertext", ciphertext).build();
  if (!body) return body.error();
  auto out = write(std::string(mount) + "/decrypt/" + std::string(key), std::move(*body));
  if (!out) return out.error();
  const foundation::SecretBytes* plaintext = out->data.find("plaintext");
  if (plaintext == nullptr)
    return foundation::Error::permanent("transit decrypt: no plaintext in the answer");
  return decodeBase64(*plaintext, "plaintext");
}

foundation::Result<std::string> Client::transitSign(std::string_view mount, std::string_view key,
                                                    std::string_view input,
                                                    std::string_view hash_algorithm) {
  auto body = RequestBody().base64("input", input).build();
  if (!body) return body.error();
  auto out =
      write(std::string(mount) + "/sign/" + std::string(key) + "/" + std::string(hash_algorithm),
            std::move(*body));
  if (!out) return out.error();
  auto signature = out->data.plainText("signature");
  if (!signature) return foundation::Error::permanent("transit sign: no signature in the answer");
  return *signature;
}

foundation::Result<DataKey> Client::transitDataKey(std::string_view mount, std::string_view key,
                                                   int bits) {
  auto body = RequestBody().integer("bits", bits).build();
  if (!body) return body.error();
  auto out = write(std::string(mount) + "/datakey/plaintext/" + std::string(key), std::move(*body));
  if (!out) return out.error();
  const foundation::SecretBytes* plaintext = out->data.find("plaintext");
  auto ciphertext = out->data.plainText("ciphertext");
  if (plaintext == nullptr || !ciphertext) {
    return foundation::Error::permanent(
        "transit datakey: plaintext or ciphertext missing in the answer");
  }
  auto decoded = decodeBase64(*plaintext, "plaintext");
  if (!decoded) return decoded.error();
  return DataKey{std::move(*decoded), std::move(*ciphertext)};
}

// ---- sys ----

foundation::Result<HealthStatus> Client::health() {
  Call c{HttpMethod::Get, "sys/health", foundation::SecretBytes()};
  c.operation = "health";
  c.any_status = true;  // 429 standby, 501 uninitialised, 503 sealed: all carry the body
  auto response = call(std::move(c));
  if (!response) return contextOf(response.error(), "health");
  auto status = response::parseHealth(response->status, response->body);
  if (!status) return contextOf(status.error(), "health");
  return status;
}

foundation::Result<LeaderStatus> Client::leader() {
  auto response = call("leader", HttpMethod::Get, "sys/leader");
  if (!response) return contextOf(response.error(), "leader");
  auto status = response::parseLeader(response->body);
  if (!status) return contextOf(status.error(), "leader");
  return status;
}

}  // namespace vault
