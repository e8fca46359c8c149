// args.cc: the sendmail command line (see args.h).
//
// SECURITY: caller input, bounded by kMaxArguments / kMaxArgumentBytes; values that
// reach the message or the envelope are checked here (-F) or in message.cc
// (recipients) with the sidecar's own address rules.
// ERRORS: Failure{kExUsage, ...}.
//
// Why hand-written and not CLI11 (which smtp-sidecar itself uses): sendmail's flags
// follow getopt(3) conventions that applications rely on and CLI11 cannot express:
//  - a flag's argument may be attached or the next word, and the next word is taken
//    even when it starts with '-' ("-f -weird" is a sender, "-oi" is -o with "i");
//  - -o, -b and -q select behaviour by the attached letters (-oi sets an option,
//    -odb/-oem are ignored, -bm is the default mode, -bp/-bs/-q... must be refused
//    with EX_USAGE and a clear message, -q takes an optional attached argument);
//  - flags cluster ("-ti", "-itf sender");
//  - options end at the first non-option word, like Postfix's sendmail, so a
//    recipient is never read as a flag after it;
//  - every error must exit 64 (EX_USAGE), not CLI11's own exit codes.
// Our own options are long-only (--socket=PATH, ...) so they cannot clash with any
// sendmail letter.
#include "sendmail/args.h"

#include <charconv>

namespace sendmail {
namespace {

Failure usage(std::string message) {
  return Failure{kExUsage, std::move(message) + " (see --help)"};
}

// sendmail flags that take an argument and are ignored, as in Postfix's sendmail:
// -B body type, -C config file, -L syslog label, -N DSN notify, -R DSN return,
// -X log file, -h hop count, -e error mode (ancient), -V envelope id.
bool isIgnoredWithArgument(char c) {
  switch (c) {
    case 'B':
    case 'C':
    case 'L':
    case 'N':
    case 'R':
    case 'X':
    case 'h':
    case 'e':
    case 'V':
      return true;
    default:
      return false;
  }
}

// Ignored flags without argument: -v verbose, -G gateway, -U initial submission,
// -m me too, -n no aliasing, -x/-c legacy, -4/-6 address family.
bool isIgnoredFlag(char c) {
  switch (c) {
    case 'v':
    case 'G':
    case 'U':
    case 'm':
    case 'n':
    case 'x':
    case 'c':
    case '4':
    case '6':
      return true;
    default:
      return false;
  }
}

std::string stripBrackets(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

template <typename T>
bool parseNumber(std::string_view text, T& out) {
  if (text.empty()) return false;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

std::optional<Failure> parseLongOption(std::string_view arg, Options& out) {
  const auto eq = arg.find('=');
  const auto name = arg.substr(0, eq);
  const bool has_value = eq != std::string_view::npos;
  const auto value = has_value ? arg.substr(eq + 1) : std::string_view{};
  if (name == "--help" && !has_value) {
    out.help = true;
  } else if (name == "--version" && !has_value) {
    out.version = true;
  } else if (name == "--socket") {
    if (value.empty()) return usage("--socket needs a path: --socket=PATH");
    out.socket_path = std::string(value);
  } else if (name == "--max-size") {
    std::size_t bytes = 0;
    if (!parseNumber(value, bytes) || bytes == 0) {
      return usage("--max-size needs a number of bytes: --max-size=BYTES");
    }
    out.max_message_bytes = bytes;
  } else if (name == "--smtp-socket") {
    if (!has_value || value.empty()) return usage("--smtp-socket needs a path: --smtp-socket=PATH");
    out.smtp_socket_path = std::string(value);
  } else if (name == "--timeout") {
    unsigned seconds = 0;
    if (!parseNumber(value, seconds) || seconds == 0 || seconds > 86400) {
      return usage("--timeout needs seconds (1-86400): --timeout=SECONDS");
    }
    out.timeout = std::chrono::seconds(seconds);
  } else {
    return usage("unknown option " + printable(name, 64) +
                 (has_value || name == "--socket" || name == "--smtp-socket" ||
                          name == "--max-size" || name == "--timeout"
                      ? std::string(" (long options take their value after '=')")
                      : std::string()));
  }
  return std::nullopt;
}

std::optional<Failure> applyOption(char flag, std::string_view value, Options& out) {
  switch (flag) {
    case 'f':
    case 'r': {  // -r: the historic name of -f
      out.sender = stripBrackets(value);
      return std::nullopt;
    }
    case 'F': {
      if (value.size() > kMaxFullNameBytes ||
          value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
        return usage("-F: the full name must be at most 256 bytes without CR, LF or NUL");
      }
      out.full_name = std::string(value);
      return std::nullopt;
    }
    case 'o':
      // -oi is the only -o option with an effect; the others (-odi, -odb, -oem, -oep,
      // -oee, -om, -oXxx ...) tune a local queue we do not have and are ignored, as
      // Postfix's sendmail ignores them.
      if (value == "i") out.dot_ends_input = false;
      return std::nullopt;
    case 'b':
      if (value == "m") return std::nullopt;
      if (value == "s") {
        out.smtp_on_stdio = true;
        return std::nullopt;
      }
      return usage("mode -b" + printable(value, 16) +
                   " is not supported: smtp-sidecar-sendmail only submits messages (-bm); "
                   "it has no queue, aliases or daemon");
    case 'O':  // -O option=value: ignored like -o
      return std::nullopt;
    default:
      if (isIgnoredWithArgument(flag)) return std::nullopt;
      return usage(std::string("unknown option -") + printable(std::string_view(&flag, 1)));
  }
}

bool takesArgument(char c) {
  return c == 'f' || c == 'r' || c == 'F' || c == 'o' || c == 'b' || c == 'O' ||
         isIgnoredWithArgument(c);
}

}  // namespace

Expected<Options> parseArguments(const std::vector<std::string_view>& args) {
  if (args.size() > kMaxArguments) return usage("too many arguments");
  Options out;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const auto arg = args[i];
    if (arg.size() > kMaxArgumentBytes) return usage("an argument is longer than 4096 bytes");
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the first recipient ends the options
    if (arg[1] == '-') {
      if (auto f = parseLongOption(arg, out)) return *f;
      continue;
    }
    for (std::size_t j = 1; j < arg.size(); ++j) {
      const char c = arg[j];
      if (c == 't') {
        out.extract_recipients = true;
      } else if (c == 'i') {
        out.dot_ends_input = false;
      } else if (c == 'q') {
        return usage(
            "-q (queue runs) is not supported: smtp-sidecar-sendmail keeps no queue; "
            "the sidecar delivers at once");
      } else if (c == 'I') {
        return usage("-I (newaliases) is not supported: smtp-sidecar-sendmail has no aliases");
      } else if (isIgnoredFlag(c)) {
        // no effect
      } else if (takesArgument(c)) {
        std::string_view value;
        if (j + 1 < arg.size()) {
          value = arg.substr(j + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
          if (value.size() > kMaxArgumentBytes) {
            return usage("an argument is longer than 4096 bytes");
          }
        } else {
          return usage(std::string("option -") + c + " needs an argument");
        }
        if (auto f = applyOption(c, value, out)) return *f;
        break;  // the argument took the rest of this word
      } else {
        return usage(std::string("unknown option -") + printable(std::string_view(&c, 1)));
      }
    }
  }
  for (; i < args.size(); ++i) {
    if (args[i].size() > kMaxArgumentBytes) return usage("an argument is longer than 4096 bytes");
    out.recipients.emplace_back(args[i]);
  }
  return out;
}

std::string_view usageText() {
  return R"(usage: smtp-sidecar-sendmail [options] [--] [recipient ...] < message

Submits the message on stdin to the local smtp-sidecar (POST /v1/messages on its
Unix socket), like sendmail(8). Exit codes follow sysexits(3).

sendmail options:
  -t            also send to the To, Cc and Bcc addresses of the message
                (Bcc fields are always removed from the message)
  -f SENDER     envelope sender; "<>" is the null sender. Without -f the sidecar
                picks it: the caller's profile's default_sender, else the message's
                one From address
  -bs           SMTP on stdin/stdout, relayed to the sidecar's SMTP socket (the
                default of Symfony Mailer, SwiftMailer, Laravel)
  -r SENDER     same as -f
  -F NAME       full name for the From field, used only if the message has none
  -i, -oi       a line with only "." does not end the message
  -bm           deliver mail (the default and only mode)
  ignored, as by Postfix's sendmail: -odi -odb -oem -oep -oee -om -oX... -v -m -n
                -G -U -B type -C file -L label -N dsn -R ret -V envid -X file -h n
  refused (exit 64): -q..., -bp, -bd, -bi, -bv and the other -b modes, -I
  recipients without a domain ("root") go where the profile's aliases say

smtp-sidecar-sendmail options (long options only, values after '='):
  --socket=PATH     the sidecar's socket (default: $SMTP_SIDECAR_SOCKET, then
                    /run/smtp-sidecar/smtp.sock)
  --smtp-socket=PATH the sidecar's SMTP socket for -bs (default:
                    $SMTP_SIDECAR_LISTEN_SMTP_SOCKET, then /run/smtp-sidecar/submit.sock)
  --max-size=BYTES  largest message read from stdin (default 26214400 = 25 MiB)
  --timeout=SECONDS how long to wait for the sidecar's answer (default 120)
  --help, --version
)";
}

}  // namespace sendmail
