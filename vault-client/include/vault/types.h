// types.h: typed results of Vault requests.
//
// SECURITY: everything a response says that may be secret (client_token, every field of
// a secret's data) is a SecretBytes; identifiers that are not secret (lease ids,
// accessors, policy names) are plain strings and may be logged.
// ERRORS: none (plain data).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "vault/secret.h"

namespace vault {

// The `auth` block of a login or token response.
struct AuthInfo {
  SecretBytes client_token;
  std::string accessor;
  std::chrono::seconds lease_duration{0};
  bool renewable = false;
  std::vector<std::string> policies;
};

// Field name -> value, from a secret's `data` object. String values are kept as they
// are; numbers and booleans as their JSON text; nested objects/arrays as their JSON
// text too. Names are not secret.
class SecretData {
 public:
  const SecretBytes* find(std::string_view name) const;
  void set(std::string name, SecretBytes value);
  std::size_t size() const noexcept { return fields_.size(); }
  std::vector<std::string> names() const;

 private:
  std::vector<std::pair<std::string, SecretBytes>> fields_;
};

// A logical read/write answer: data plus lease information.
struct LeasedSecret {
  std::string request_id;
  std::string lease_id;  // empty when the secret is not leased
  std::chrono::seconds lease_duration{0};
  bool renewable = false;
  SecretData data;
  std::vector<std::string> warnings;
};

}  // namespace vault
