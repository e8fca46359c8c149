// types.cc: SecretData, a small ordered map of field name -> SecretBytes.
//
// SECURITY: values stay SecretBytes; names are not secret.
// ERRORS: none.
#include "vault/types.h"

namespace vault {

const SecretBytes* SecretData::find(std::string_view name) const {
  for (const auto& [key, value] : fields_) {
    if (key == name) return &value;
  }
  return nullptr;
}

void SecretData::set(std::string name, SecretBytes value) {
  for (auto& [key, existing] : fields_) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  fields_.emplace_back(std::move(name), std::move(value));
}

std::vector<std::string> SecretData::names() const {
  std::vector<std::string> out;
  out.reserve(fields_.size());
  for (const auto& field : fields_) out.push_back(field.first);
  return out;
}

}  // namespace vault
