// types.cc: SecretData, a small ordered map of field name -> SecretBytes.
//
// SECURITY: values stay SecretBytes; names are not secret.
// ERRORS: none.
#include "vault/types.h"

#include <charconv>

namespace vault {

const foundation::SecretBytes* SecretData::find(std::string_view name) const {
  for (const auto& [key, value] : fields_) {
    if (key == name) return &value;
  }
  return nullptr;
}

void SecretData::set(std::string name, foundation::SecretBytes value) {
  for (auto& [key, existing] : fields_) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  fields_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string> SecretData::plainText(std::string_view name) const {
  const foundation::SecretBytes* value = find(name);
  if (value == nullptr) return std::nullopt;
  return value->reveal([](std::string_view v) { return std::string(v); });
}

std::optional<std::int64_t> SecretData::integer(std::string_view name) const {
  const foundation::SecretBytes* value = find(name);
  if (value == nullptr) return std::nullopt;
  return value->reveal([](std::string_view v) -> std::optional<std::int64_t> {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
    return n;
  });
}

std::vector<std::string> SecretData::names() const {
  std::vector<std::string> out;
  out.reserve(fields_.size());
  for (const auto& field : fields_) out.push_back(field.first);
  return out;
}

}  // namespace vault
