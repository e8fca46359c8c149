// main.cc: smtp-sidecar-sendmail: read the message on stdin, submit it to the sidecar.
//
// SECURITY: runs with the caller's rights (never setuid). Reads the caller's own
// environment (SMTP_SIDECAR_SOCKET) and passwd entry; prints only addresses,
// options and the sidecar's answer texts, never message content.
// ERRORS: every failure ends in one stderr line and a sysexits(3) code.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "foundation/random.h"
#include "mailformat/address.h"
#include "mailformat/mime.h"
#include "sendmail/answer.h"
#include "sendmail/args.h"
#include "sendmail/message.h"
#include "sendmail/sidecar_client.h"

namespace {

using namespace sendmail;

constexpr const char* kProgram = "smtp-sidecar-sendmail";
constexpr const char* kVersion = "0.1.0";

int fail(int code, const std::string& line) {
  std::fprintf(stderr, "%s: %s\n", kProgram, line.c_str());
  return code;
}

int fail(const Failure& f) {
  return fail(f.exit_code, f.message);
}

// login@hostname of the real user, the default envelope sender and From address.
Expected<std::string> defaultAddress() {
  errno = 0;
  const passwd* pw = ::getpwuid(::getuid());
  if (pw == nullptr || pw->pw_name == nullptr) {
    return Failure{kExOsErr, std::string("cannot find the login name of this user: ") +
                                 (errno != 0 ? std::strerror(errno) : "no passwd entry")};
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) {
    return Failure{kExOsErr, std::string("gethostname: ") + std::strerror(errno)};
  }
  return std::string(pw->pw_name) + "@" + host;
}

Expected<std::string> readStdin(const Options& options) {
  InputCollector collector(options.dot_ends_input, options.max_message_bytes);
  std::vector<char> chunk(64 * 1024);
  auto state = InputCollector::State::More;
  while (state == InputCollector::State::More) {
    const auto n = ::read(STDIN_FILENO, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failure{kExIoErr,
                     std::string("reading the message from stdin: ") + std::strerror(errno)};
    }
    state = n == 0 ? collector.finish()
                   : collector.feed(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
  }
  if (state == InputCollector::State::TooLarge) {
    return Failure{kExDataErr, "the message is larger than " +
                                   std::to_string(options.max_message_bytes) +
                                   " bytes (--max-size=BYTES)"};
  }
  return collector.take();
}

int run(int argc, char** argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  auto parsed = parseArguments(args);
  if (auto* f = std::get_if<Failure>(&parsed)) return fail(*f);
  auto& options = std::get<Options>(parsed);
  if (options.help) {
    std::fwrite(usageText().data(), 1, usageText().size(), stdout);
    return kExOk;
  }
  if (options.version) {
    std::printf("%s %s\n", kProgram, kVersion);
    return kExOk;
  }
  if (!options.extract_recipients && options.recipients.empty()) {
    return fail(kExUsage, "no recipients given (name them as arguments or use -t)");
  }

  auto own = defaultAddress();
  if (auto* f = std::get_if<Failure>(&own)) return fail(*f);
  const auto& own_address = std::get<std::string>(own);
  const std::string sender = options.sender.value_or(own_address);
  if (auto problem = mailformat::checkAddress(sender, /*allow_empty=*/true)) {
    return fail(kExUsage, "invalid sender \"" + printable(sender, 100) + "\": " + *problem +
                              (options.sender ? "" : " (use -f SENDER)"));
  }

  // With -f '<>' the From field we may add still needs an address: login@hostname.
  if (sender.empty() && mailformat::checkAddress(own_address, /*allow_empty=*/false)) {
    return fail(kExUsage, "login@hostname (\"" + printable(own_address, 100) +
                              "\") is not a valid From address; add a From field to the message");
  }

  std::string socket_path(kDefaultSocket);
  if (options.socket_path) {
    socket_path = *options.socket_path;
  } else if (const char* env = std::getenv(std::string(kSocketEnv).c_str());
             env != nullptr && *env != '\0') {
    socket_path = env;
  }

  auto input = readStdin(options);
  if (auto* f = std::get_if<Failure>(&input)) return fail(*f);

  AssemblyParams params;
  params.extract_recipients = options.extract_recipients;
  params.argument_recipients = options.recipients;
  params.from_address = sender.empty() ? own_address : sender;
  params.full_name = options.full_name.value_or("");
  params.date = mailformat::mime::formatDate(std::chrono::system_clock::now());
  const auto& from = params.from_address;
  params.message_id = "<" + foundation::randomHex(16) + from.substr(from.rfind('@')) + ">";

  auto assembled = assembleMessage(std::get<std::string>(input), params);
  if (auto* f = std::get_if<Failure>(&assembled)) return fail(*f);
  auto& message = std::get<Assembled>(assembled);
  std::get<std::string>(input).clear();

  const auto target = requestTarget(sender, message.recipients);
  auto answer = postMessage(socket_path, target, std::move(message.message), options.timeout);
  Verdict verdict =
      std::holds_alternative<TransportError>(answer)
          ? mapTransportError(std::get<TransportError>(answer), socket_path)
          : mapAnswer(std::get<HttpAnswer>(answer).status, std::get<HttpAnswer>(answer).body);
  if (!verdict.line.empty()) fail(verdict.exit_code, verdict.line);
  return verdict.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // A sidecar that closes early must not kill us with SIGPIPE: the write fails with
  // EPIPE and the answer (or its absence) decides the exit code.
  if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    return fail(kExOsErr, std::string("signal(SIGPIPE): ") + std::strerror(errno));
  }
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Only allocation failures can get here (Asio reports errors as codes).
    return fail(kExSoftware, std::string("internal error: ") + e.what());
  }
}
