// curl_options.h (private to the sidecar library): curl_easy_setopt with every result
// checked, for the SMTP sender and the doctor.
//
// SECURITY: a silently refused option could mean an unverified peer or a plaintext
// password on the wire, so the first refused option is remembered and the caller must
// not perform the transfer when failed() names one.
// ERRORS: failed() is nullptr or the name of the first option libcurl refused.
#pragma once

#include <curl/curl.h>

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

}  // namespace foundation
