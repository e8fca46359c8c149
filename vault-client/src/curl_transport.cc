// curl_transport.cc: HttpTransport over one reused libcurl easy handle.
//
// SECURITY: TLS verification is always on for https (VERIFYPEER 1, VERIFYHOST 2, a
// configured CA file or directory is required); only http/https, no redirects (a
// redirect could carry the token elsewhere). Every curl_easy_setopt is checked: a
// silently ignored option can mean an unverified connection. The token header line is
// built in locked memory; libcurl's copy is zeroed by the allocator from
// curl_global.h. Response bodies go straight into a SecretBuffer with a size cap.
// ERRORS: Temporary for transport failures (with libcurl's error text, never a body),
// Permanent for options libcurl refuses and for over-large responses.
#include <curl/curl.h>

#include <cstring>
#include <mutex>

#include "foundation/curl_global.h"
#include "foundation/curl_options.h"
#include "vault/http_transport.h"

namespace vault {
namespace {

// Failures before the request could have been written: safe to send again anywhere.
bool neverSent(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return true;
    default:
      return false;
  }
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(TransportOptions options) : options_(std::move(options)) {}

  foundation::Status init() {
    foundation::initCurlOrDie();
    const std::string& a = options_.address;
    if (a.rfind("unix://", 0) == 0) {
      unix_socket_ = a.substr(7);
      base_url_ = "http://localhost";
      if (unix_socket_.empty())
        return foundation::Error::permanent("vault address unix:// has no path");
    } else if (a.rfind("https://", 0) == 0) {
      if (options_.ca_file.empty() && options_.ca_path.empty()) {
        return foundation::Error::permanent(
            "an https Vault address needs a CA file or directory: the "
            "server's certificate is always verified");
      }
      base_url_ = a;
    } else if (a.rfind("http://", 0) == 0) {
      base_url_ = a;  // plaintext: only for a dev server on loopback
    } else {
      return foundation::Error::permanent(
          "vault address must start with https://, http:// or unix://");
    }
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
    easy_.reset(curl_easy_init());
    if (!easy_) return foundation::Error::internal("curl_easy_init failed");
    return {};
  }

  foundation::Result<HttpResponse> send(const HttpRequest& request) override {
    std::lock_guard lock(mutex_);  // one handle: requests are serialised
    CURL* c = easy_.get();
    curl_easy_reset(c);  // keeps the connection cache, clears the previous options

    foundation::SecretBuffer received(options_.max_response_bytes);
    foundation::CurlSecretUpload upload{&request.body};
    char error_buffer[CURL_ERROR_SIZE] = {0};
    const std::string url = base_url_ + request.path;

    std::unique_ptr<curl_slist, foundation::CurlSlistDeleter> headers;
    auto addHeader = [&](const char* line) {
      curl_slist* next = curl_slist_append(headers.get(), line);
      if (next == nullptr) return false;
      (void)headers.release();
      headers.reset(next);
      return true;
    };
    bool headers_ok = addHeader("X-Vault-Request: true") &&
                      addHeader("Content-Type: application/json") && addHeader("Expect:");
    if (!request.wrap_ttl.empty()) {
      headers_ok = headers_ok && addHeader(("X-Vault-Wrap-TTL: " + request.wrap_ttl).c_str());
    }
    if (!options_.vault_namespace.empty()) {
      headers_ok =
          headers_ok && addHeader(("X-Vault-Namespace: " + options_.vault_namespace).c_str());
    }
    if (request.token != nullptr) {
      // Built in locked memory; curl_slist_append copies it into zeroed-on-free memory.
      static constexpr std::string_view kPrefix = "X-Vault-Token: ";
      foundation::SecretBytes line(kPrefix.size() + request.token->size());
      std::memcpy(line.mutableData(), kPrefix.data(), kPrefix.size());
      request.token->reveal([&](std::string_view token) {
        std::memcpy(line.mutableData() + kPrefix.size(), token.data(), token.size());
      });
      headers_ok = headers_ok && addHeader(line.cString().pointer);
    }
    if (!headers_ok) return foundation::Error::internal("out of memory building request headers");

    const char* failed = nullptr;
    auto set = [&](CURLoption option, auto value, const char* name) {
      if (failed == nullptr && curl_easy_setopt(c, option, value) != CURLE_OK) failed = name;
    };
    set(CURLOPT_ERRORBUFFER, error_buffer, "ERRORBUFFER");
    set(CURLOPT_URL, url.c_str(), "URL");
    set(CURLOPT_PROTOCOLS_STR, "http,https", "PROTOCOLS_STR");
    set(CURLOPT_FOLLOWLOCATION, 0L, "FOLLOWLOCATION");
    set(CURLOPT_NOSIGNAL, 1L, "NOSIGNAL");
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()),
        "CONNECTTIMEOUT_MS");
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()), "TIMEOUT_MS");
    set(CURLOPT_HTTPHEADER, headers.get(), "HTTPHEADER");
    set(CURLOPT_WRITEFUNCTION, foundation::curlWriteSecret, "WRITEFUNCTION");
    set(CURLOPT_WRITEDATA, &received, "WRITEDATA");
    if (!unix_socket_.empty())
      set(CURLOPT_UNIX_SOCKET_PATH, unix_socket_.c_str(), "UNIX_SOCKET_PATH");
    if (base_url_.rfind("https://", 0) == 0) {
      set(CURLOPT_SSL_VERIFYPEER, 1L, "SSL_VERIFYPEER");
      set(CURLOPT_SSL_VERIFYHOST, 2L, "SSL_VERIFYHOST");
      set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2), "SSLVERSION");
      if (!options_.ca_file.empty()) set(CURLOPT_CAINFO, options_.ca_file.c_str(), "CAINFO");
      if (!options_.ca_path.empty()) set(CURLOPT_CAPATH, options_.ca_path.c_str(), "CAPATH");
      if (!options_.client_cert.empty()) {
        set(CURLOPT_SSLCERT, options_.client_cert.c_str(), "SSLCERT");
        set(CURLOPT_SSLKEY, options_.client_key.c_str(), "SSLKEY");
      }
    }
    switch (request.method) {
      case HttpMethod::Get:
        set(CURLOPT_HTTPGET, 1L, "HTTPGET");
        break;
      case HttpMethod::List:
        set(CURLOPT_CUSTOMREQUEST, "LIST", "CUSTOMREQUEST");
        break;
      case HttpMethod::Delete:
        set(CURLOPT_CUSTOMREQUEST, "DELETE", "CUSTOMREQUEST");
        break;
      case HttpMethod::Put:
      case HttpMethod::Post:
        // Upload from locked memory through a read callback, so libcurl never needs
        // its own copy of a body that may hold a secret_id.
        set(CURLOPT_POST, 1L, "POST");
        set(CURLOPT_READFUNCTION, foundation::curlReadSecret, "READFUNCTION");
        set(CURLOPT_READDATA, &upload, "READDATA");
        set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()),
            "POSTFIELDSIZE_LARGE");
        if (request.method == HttpMethod::Put) set(CURLOPT_CUSTOMREQUEST, "PUT", "CUSTOMREQUEST");
        break;
    }
    if (failed != nullptr) {
      return foundation::Error::permanent(std::string("libcurl refused option ") + failed);
    }

    const CURLcode rc = curl_easy_perform(c);
    if (received.overflowed()) {
      return foundation::Error::permanent("vault response larger than " +
                                          std::to_string(options_.max_response_bytes) + " bytes");
    }
    if (rc != CURLE_OK) {
      std::string message =
          "vault request " + request.path + " to " + options_.address +
          " failed: " + (error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc));
      return neverSent(rc) ? foundation::Error::notSent(std::move(message))
                           : foundation::Error::temporary(std::move(message));
    }
    HttpResponse response;
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status) != CURLE_OK) {
      return foundation::Error::internal("no HTTP status from libcurl");
    }
    response.body = received.take();
    return response;
  }

 private:
  TransportOptions options_;
  std::string base_url_;
  std::string unix_socket_;
  std::mutex mutex_;
  std::unique_ptr<CURL, foundation::CurlEasyDeleter> easy_;
};

}  // namespace

foundation::Result<HttpTransportPtr> makeCurlTransport(const TransportOptions& options) {
  auto transport = std::make_unique<CurlTransport>(options);
  if (auto s = transport->init(); !s) return s.error();
  return HttpTransportPtr(std::move(transport));
}

}  // namespace vault
