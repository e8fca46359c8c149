// http_transport.h: the seam between the Vault client and the network.
//
// SECURITY: request and response bodies may carry secrets (secret_id in a login
// request, client_token and passwords in responses), so both are SecretBytes. The
// token travels as its own SecretBytes and becomes the X-Vault-Token header inside the
// transport only. Implementations must verify TLS and must not log bodies or headers.
// ERRORS: Temporary for connection failures and timeouts, marked `unsent` when the
// request certainly never left (connect or TLS handshake failed); the HTTP status of a
// response that did arrive is not an error at this layer.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace vault {

enum class HttpMethod { Get, Put, Post, Delete, List };

struct HttpRequest {
  HttpMethod method = HttpMethod::Get;
  std::string path;              // e.g. "/v1/auth/approle/login"; no query string with secrets
  foundation::SecretBytes body;  // JSON, empty for none
  const foundation::SecretBytes* token = nullptr;  // sent as X-Vault-Token when set
  std::string wrap_ttl;  // X-Vault-Wrap-TTL when non-empty ("60s"): answer response-wrapped
};

struct HttpResponse {
  long status = 0;
  foundation::SecretBytes body;  // received straight into locked memory
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual foundation::Result<HttpResponse> send(const HttpRequest& request) = 0;
};
using HttpTransportPtr = std::unique_ptr<HttpTransport>;

struct TransportOptions {
  // "https://host:port", "http://host:port" (dev only) or "unix:///path/to/socket".
  // One transport talks to one address; the Client fails over between transports.
  std::string address;
  std::string ca_file;      // PEM bundle to trust; required for https unless ca_path
  std::string ca_path;      // directory of hashed CA certificates
  std::string client_cert;  // optional, for TLS client-certificate auth
  std::string client_key;
  std::string vault_namespace;  // X-Vault-Namespace when non-empty
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  std::size_t max_response_bytes = 1 << 20;  // Vault answers are small; cap them
};

// libcurl-backed transport (vault/curl_transport.cc). Fails on options that would
// weaken TLS (https without a CA, unreadable CA file).
foundation::Result<HttpTransportPtr> makeCurlTransport(const TransportOptions& options);

}  // namespace vault
