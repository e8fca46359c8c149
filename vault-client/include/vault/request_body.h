// request_body.h: JSON request bodies written straight into locked memory.
//
// SECURITY: a body may carry a secret (secret_id, a wrapping token, plaintext for
// Transit), so it is built in a SecretBuffer and never in a std::string. Keys and
// non-secret values come from our own code.
// ERRORS: none; a body over the size limit is an Internal error at build().
#pragma once

#include <cstdint>
#include <string_view>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace vault {

class RequestBody {
 public:
  RequestBody();
  RequestBody& text(std::string_view key, std::string_view value);  // not secret
  RequestBody& secret(std::string_view key, const foundation::SecretBytes& value);
  RequestBody& secretBase64(std::string_view key,
                            const foundation::SecretBytes& value);    // standard, padded
  RequestBody& base64(std::string_view key, std::string_view bytes);  // not secret
  RequestBody& integer(std::string_view key, std::int64_t value);
  RequestBody& boolean(std::string_view key, bool value);
  // {"k":...} in locked memory.
  foundation::Result<foundation::SecretBytes> build();

 private:
  void key(std::string_view key);
  void raw(std::string_view bytes);
  void quoted(std::string_view value);
  foundation::SecretBuffer buffer_;
  bool first_ = true;
  bool ok_ = true;
};

}  // namespace vault
