// request_fields.h: typed access to a request's `data` JSON (the fields a user wrote
// with `bao write`) and to our own `internal_data`.
//
// SECURITY: the JSON comes from the host, originally from any client allowed to write
// the path: size-limited (1 MiB), must be an object (or null), every value is
// type-checked, unknown keys can be listed so handlers refuse typos. Go sends numbers as
// floats: integers are accepted as int64, integral doubles, or numeric strings.
// ERRORS: Permanent with the offending field's name (never its value).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace smtpplugin {

// Large enough for a CA bundle in config's ca_pem.
inline constexpr std::size_t kMaxRequestDataBytes = 1024 * 1024;

class RequestFields {
 public:
  // "" and "null" give an empty object.
  static foundation::Result<RequestFields> parse(std::string_view json);
  // For JSON that holds a secret (the stored config): parsed in place, so every string
  // stays inside `buffer` (locked memory, wiped when freed) instead of being copied to
  // the heap. `buffer` must outlive the returned object.
  static foundation::Result<RequestFields> parseInPlace(foundation::SecretBytes& buffer);

  RequestFields(RequestFields&&) noexcept;
  RequestFields& operator=(RequestFields&&) noexcept;
  ~RequestFields();

  bool has(std::string_view key) const;
  std::vector<std::string> keys() const;

  foundation::Result<std::optional<std::string>> getString(std::string_view key) const;
  // A string that is a secret (a password): copied from the (locked, in-place parsed)
  // body straight into SecretBytes, never through a std::string.
  foundation::Result<std::optional<foundation::SecretBytes>> getSecret(std::string_view key) const;
  foundation::Result<std::optional<std::int64_t>> getInt(std::string_view key) const;
  foundation::Result<std::optional<bool>> getBool(std::string_view key) const;
  // A number (seconds) or a duration string ("1h30m", see parseDurationSeconds).
  foundation::Result<std::optional<std::int64_t>> getDurationSeconds(std::string_view key) const;
  // A JSON array of strings, or one string of comma-separated items (CLI style).
  foundation::Result<std::optional<std::vector<std::string>>> getStringList(
      std::string_view key) const;

  // Fails naming the first key not in `allowed`.
  foundation::Status onlyKeys(std::initializer_list<std::string_view> allowed) const;

 private:
  struct Impl;
  explicit RequestFields(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace smtpplugin
