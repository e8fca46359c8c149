// request_body.cc: see request_body.h.
//
// SECURITY: every byte goes into the locked buffer; base64 of a secret is encoded into
// a locked scratch block that is zeroed when freed.
// ERRORS: overflow of the 1 MiB cap is reported by build().
#include "vault/request_body.h"

#include <sodium.h>

#include <string>

namespace vault {
namespace {
constexpr std::size_t kMaxBody = 1 << 20;
}

RequestBody::RequestBody() : buffer_(kMaxBody) {
  raw("{");
}

void RequestBody::raw(std::string_view bytes) {
  ok_ = ok_ && buffer_.append(bytes.data(), bytes.size());
}

void RequestBody::quoted(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  raw("\"");
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      const char escaped[2] = {'\\', ch};
      raw(std::string_view(escaped, 2));
    } else if (c < 0x20) {
      const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      raw(std::string_view(escaped, 6));
    } else {
      raw(std::string_view(&ch, 1));
    }
  }
  raw("\"");
}

void RequestBody::key(std::string_view name) {
  if (!first_) raw(",");
  first_ = false;
  quoted(name);
  raw(":");
}

RequestBody& RequestBody::text(std::string_view name, std::string_view value) {
  key(name);
  quoted(value);
  return *this;
}

RequestBody& RequestBody::secret(std::string_view name, const foundation::SecretBytes& value) {
  key(name);
  value.reveal([&](std::string_view v) { quoted(v); });
  return *this;
}

RequestBody& RequestBody::secretBase64(std::string_view name,
                                       const foundation::SecretBytes& value) {
  const std::size_t len = sodium_base64_encoded_len(value.size(), sodium_base64_VARIANT_ORIGINAL);
  foundation::SecretBytes encoded(len);
  value.reveal([&](std::string_view v) {
    sodium_bin2base64(encoded.mutableData(), len, reinterpret_cast<const unsigned char*>(v.data()),
                      v.size(), sodium_base64_VARIANT_ORIGINAL);
  });
  encoded.truncate(len - 1);  // the encoder's NUL
  key(name);
  encoded.reveal([&](std::string_view v) { quoted(v); });
  return *this;
}

RequestBody& RequestBody::base64(std::string_view name, std::string_view bytes) {
  const std::size_t len = sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string encoded(len, '\0');
  sodium_bin2base64(encoded.data(), len, reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  encoded.resize(len - 1);
  return text(name, encoded);
}

RequestBody& RequestBody::integer(std::string_view name, std::int64_t value) {
  key(name);
  raw(std::to_string(value));
  return *this;
}

RequestBody& RequestBody::boolean(std::string_view name, bool value) {
  key(name);
  raw(value ? "true" : "false");
  return *this;
}

foundation::Result<foundation::SecretBytes> RequestBody::build() {
  raw("}");
  if (!ok_) return foundation::Error::internal("request body larger than 1 MiB");
  return buffer_.take();
}

}  // namespace vault
