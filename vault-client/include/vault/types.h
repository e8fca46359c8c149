// types.h: typed results of Vault requests.
//
// SECURITY: everything a response says that may be secret (client_token, every field of
// a secret's data) is a SecretBytes; identifiers that are not secret (lease ids,
// accessors, policy names) are plain strings and may be logged.
// ERRORS: none (plain data).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "foundation/secret.h"

namespace vault {

// The `auth` block of a login or token response.
struct AuthInfo {
  foundation::SecretBytes client_token;
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
  const foundation::SecretBytes* find(std::string_view name) const;
  void set(std::string name, foundation::SecretBytes value);
  std::size_t size() const noexcept { return fields_.size(); }
  std::vector<std::string> names() const;
  // For fields that are not secret (ttl, creation_path, ciphertext): a plain copy.
  std::optional<std::string> plainText(std::string_view name) const;
  std::optional<std::int64_t> integer(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, foundation::SecretBytes>> fields_;
};

// `wrap_info` of a response-wrapped answer: the wrapping token is a secret (it can be
// unwrapped once); the rest is metadata.
struct WrapInfo {
  foundation::SecretBytes token;
  std::string accessor;
  std::chrono::seconds ttl{0};
  std::string creation_time;
  std::string creation_path;
};

// A logical read/write answer: data plus lease information.
struct LeasedSecret {
  std::string request_id;
  std::string lease_id;  // empty when the secret is not leased
  std::chrono::seconds lease_duration{0};
  bool renewable = false;
  SecretData data;
  std::vector<std::string> warnings;
  std::optional<WrapInfo> wrap_info;  // set when the answer was response-wrapped
  std::optional<AuthInfo> auth;       // set when the answer carried an auth block
};

// auth/token/lookup-self. The token's own id (a secret) is not kept.
struct TokenInfo {
  std::string accessor;
  std::chrono::seconds ttl{0};  // remaining
  std::chrono::seconds creation_ttl{0};
  std::chrono::seconds explicit_max_ttl{0};  // 0 = none beyond the mount's
  bool renewable = false;
  std::string expire_time;  // RFC 3339, empty for non-expiring tokens
  std::vector<std::string> policies;
};

// sys/leases/renew and sys/leases/lookup.
struct LeaseInfo {
  std::string lease_id;
  std::chrono::seconds ttl{0};  // granted (renew) or remaining (lookup)
  bool renewable = false;
  std::string issue_time;   // lookup only
  std::string expire_time;  // lookup only
};

// A KV version 2 read: the secret's fields and its version metadata.
struct KvSecret {
  SecretData data;
  std::int64_t version = 0;
  std::string created_time;
  bool deleted = false;  // deletion_time set or destroyed
};

// transit/datakey/plaintext: the key in the clear (raw bytes, locked) and wrapped.
struct DataKey {
  foundation::SecretBytes plaintext;
  std::string ciphertext;
};

// sys/health: answered with a body whatever the node's state (the status code says it too).
struct HealthStatus {
  long http_status = 0;
  bool initialized = false;
  bool sealed = true;
  bool standby = false;
  bool performance_standby = false;
  std::string version;
  std::string cluster_name;
};

// sys/leader.
struct LeaderStatus {
  bool ha_enabled = false;
  bool is_self = false;
  std::string leader_address;
  std::string leader_cluster_address;
};

}  // namespace vault
