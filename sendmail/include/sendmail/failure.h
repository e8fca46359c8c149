// failure.h: the error vocabulary of smtp-sidecar-sendmail.
//
// SECURITY: a Failure's message is printed on stderr. It may name addresses and
// command-line words (the caller's own input, made printable by printable()) and
// the sidecar's answer texts, never message content.
// ERRORS: this is the error vocabulary itself: a sysexits(3) code and one line.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace sendmail {

// sysexits.h values, spelled out so the pure modules need no system header and tests
// read as the table in README.md.
inline constexpr int kExOk = 0;
inline constexpr int kExUsage = 64;
inline constexpr int kExDataErr = 65;
inline constexpr int kExUnavailable = 69;
inline constexpr int kExSoftware = 70;
inline constexpr int kExOsErr = 71;
inline constexpr int kExIoErr = 74;
inline constexpr int kExTempFail = 75;
inline constexpr int kExNoPerm = 77;

struct Failure {
  int exit_code;
  std::string message;  // one line, printable, no trailing newline
};

// Either a value or the reason the program stops with exit_code.
template <typename T>
using Expected = std::variant<T, Failure>;

// `text` with control characters replaced by '?' and cut to `max` bytes, so a
// hostile peer's or argument's bytes cannot drive the caller's terminal.
std::string printable(std::string_view text, std::size_t max = 200);

}  // namespace sendmail
