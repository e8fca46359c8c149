// curl_options.h: what every libcurl user of the project shares (vault-client's
// transport, the keeper's token endpoint client, the doctor): curl_easy_setopt with
// every result checked, the handles' deleters, and request/response bodies kept in
// locked memory (SecretBytes / SecretBuffer) on their way through libcurl.
//
// SECURITY: a silently refused option could mean an unverified peer or a plaintext
// password on the wire, so the first refused option is remembered and the caller must
// not perform the transfer when failed() names one. Bodies may carry secrets (tokens,
// secret_ids, passwords): libcurl reads them from and writes them to locked memory only.
// ERRORS: failed() is nullptr or the name of the first option libcurl refused; a body
// larger than its SecretBuffer's limit aborts the transfer (libcurl: CURLE_WRITE_ERROR).
#pragma once

#include <curl/curl.h>

#include <algorithm>
#include <cstring>

#include "foundation/secret.h"

namespace foundation {

class CurlOptions {
 public:
  explicit CurlOptions(CURL* curl) : curl_(curl) {}
  template <typename T>
  CurlOptions& set(CURLoption option, T value, const char* name) {
    if (failed_ == nullptr && curl_easy_setopt(curl_, option, value) != CURLE_OK) failed_ = name;
    return *this;
  }
  const char* failed() const { return failed_; }

 private:
  CURL* curl_;
  const char* failed_ = nullptr;
};

struct CurlEasyDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

// CURLOPT_READFUNCTION with CURLOPT_READDATA = &upload: the body from locked memory.
struct CurlSecretUpload {
  const SecretBytes* body;
  std::size_t offset = 0;
};
inline std::size_t curlReadSecret(char* out, std::size_t size, std::size_t count, void* userdata) {
  auto* upload = static_cast<CurlSecretUpload*>(userdata);
  const std::size_t n = std::min(size * count, upload->body->size() - upload->offset);
  std::memcpy(out, upload->body->cString().pointer + upload->offset, n);
  upload->offset += n;
  return n;
}

// CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA = a SecretBuffer*: the answer into
// locked memory, up to the buffer's limit (past it 0, which aborts the transfer).
inline std::size_t curlWriteSecret(char* data, std::size_t size, std::size_t count,
                                   void* userdata) {
  auto* buffer = static_cast<SecretBuffer*>(userdata);
  const std::size_t len = size * count;
  return buffer->append(data, len) ? len : 0;
}

}  // namespace foundation
