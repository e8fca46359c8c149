// args.h: the sendmail command line (the subset an application's mailer uses).
//
// SECURITY: argv comes from the (local, unprivileged) caller; this program runs with
// the caller's own rights, so the command line is a usage contract, not a trust
// boundary to a more privileged party. Still parsed in one pure function with limits
// (argument count and length) and fuzzed, because its values reach the message header
// (-F) and the envelope (-f, recipients).
// ERRORS: Failure with kExUsage (64) for unknown, malformed or unsupported flags.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sendmail/failure.h"

namespace sendmail {

inline constexpr std::size_t kDefaultMaxMessageBytes = std::size_t{25} << 20;  // 25 MiB
inline constexpr std::chrono::seconds kDefaultTimeout{120};
inline constexpr std::string_view kDefaultSocket = "/run/smtp-sidecar/smtp.sock";
inline constexpr std::string_view kSocketEnv = "SMTP_SIDECAR_SOCKET";
// -bs relays SMTP to the sidecar's SMTP socket (listen.smtp_socket); the variable has
// the name of the sidecar's own override of that setting.
inline constexpr std::string_view kDefaultSmtpSocket = "/run/smtp-sidecar/submit.sock";
inline constexpr std::string_view kSmtpSocketEnv = "SMTP_SIDECAR_LISTEN_SMTP_SOCKET";
inline constexpr std::size_t kMaxArguments = 1024;
inline constexpr std::size_t kMaxArgumentBytes = 4096;
inline constexpr std::size_t kMaxFullNameBytes = 256;

struct Options {
  bool extract_recipients = false;                          // -t
  bool dot_ends_input = true;                               // cleared by -i / -oi
  std::optional<std::string> sender;                        // -f / -r, brackets removed; "" is <>
  std::optional<std::string> full_name;                     // -F
  std::vector<std::string> recipients;                      // the arguments after the options
  std::optional<std::string> socket_path;                   // --socket=PATH
  bool smtp_on_stdio = false;                               // -bs
  std::optional<std::string> smtp_socket_path;              // --smtp-socket=PATH
  std::size_t max_message_bytes = kDefaultMaxMessageBytes;  // --max-size=BYTES
  std::chrono::seconds timeout = kDefaultTimeout;           // --timeout=SECONDS
  bool help = false;                                        // --help
  bool version = false;                                     // --version
};

// Parses argv without argv[0].
Expected<Options> parseArguments(const std::vector<std::string_view>& args);

// The --help text.
std::string_view usageText();

}  // namespace sendmail
