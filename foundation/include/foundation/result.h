// result.h: errors as values for every module of the project.
//
// SECURITY: an Error's message is logged and may be sent back to a local client, so it
// must never contain a secret (token, secret_id, password) or bytes of a response that
// could carry one. Build messages from constants, paths, status codes and lengths.
// ERRORS: none; this is the error vocabulary itself.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace foundation {

// What the caller should do about a failure. It maps to SMTP 4xx/5xx and HTTP 503/4xx.
enum class ErrorKind {
  Temporary,  // try again later: network, 5xx, sealed, rate limited
  Permanent,  // will fail again the same way: refused login, bad input, 4xx
  Internal,   // a bug or broken invariant in this program
};

const char* toString(ErrorKind kind) noexcept;

struct Error {
  ErrorKind kind;
  std::string message;  // safe to log: never holds a secret
  // True when the request certainly never reached the peer (connection refused, name
  // not resolved, TLS handshake failed): then even a non-idempotent request may be
  // sent again, to this peer or another.
  bool unsent = false;

  static Error temporary(std::string msg) { return {ErrorKind::Temporary, std::move(msg)}; }
  static Error notSent(std::string msg) { return {ErrorKind::Temporary, std::move(msg), true}; }
  static Error permanent(std::string msg) { return {ErrorKind::Permanent, std::move(msg)}; }
  static Error internal(std::string msg) { return {ErrorKind::Internal, std::move(msg)}; }

  // Prefixes context ("login: ") while keeping the kind.
  Error context(const std::string& what) const& { return {kind, what + ": " + message, unsent}; }
};

// Result<T>: either a T or an Error. Small on purpose: no exceptions cross module
// boundaries, and callers must look at the result ([[nodiscard]]).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }
  // The error's message, or "" on success (safe to evaluate either way, e.g. in a test
  // assertion's message or a log field).
  std::string errorMessage() const { return ok() ? std::string() : error().message; }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }
  std::string errorMessage() const { return ok_ ? std::string() : error_.message; }

 private:
  Error error_{ErrorKind::Internal, {}};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace foundation
