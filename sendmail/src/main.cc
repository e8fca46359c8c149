// main.cc: smtp-sidecar-sendmail: read the message on stdin, submit it to the sidecar.
//
// SECURITY: runs with the caller's rights (never setuid). Reads the caller's own
// environment (SMTP_SIDECAR_SOCKET) and passwd entry; prints only addresses,
// options and the sidecar's answer texts, never message content.
// ERRORS: every failure ends in one stderr line and a sysexits(3) code.
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
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

Expected<std::string> hostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) {
    return Failure{kExOsErr, std::string("gethostname: ") + std::strerror(errno)};
  }
  return std::string(host);
}

// login@hostname of the real user: the From address added for -f '<>'.
Expected<std::string> defaultAddress() {
  errno = 0;
  const passwd* pw = ::getpwuid(::getuid());
  if (pw == nullptr || pw->pw_name == nullptr) {
    return Failure{kExOsErr, std::string("cannot find the login name of this user: ") +
                                 (errno != 0 ? std::strerror(errno) : "no passwd entry")};
  }
  auto host = hostName();
  if (auto* f = std::get_if<Failure>(&host)) return *f;
  return std::string(pw->pw_name) + "@" + std::get<std::string>(host);
}

bool writeAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const auto n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// -bs: the caller speaks SMTP on stdin/stdout; the bytes go both ways between it and
// the sidecar's SMTP socket, where the one SMTP protocol module of the project answers
// (sidecar/worker/intake). The sidecar identifies this process's uid by SO_PEERCRED:
// the caller's, since this program runs with the caller's rights.
int relaySmtp(const Options& options) {
  std::string path(kDefaultSmtpSocket);
  if (options.smtp_socket_path) {
    path = *options.smtp_socket_path;
  } else if (const char* env = std::getenv(std::string(kSmtpSocketEnv).c_str());
             env != nullptr && *env != '\0') {
    path = env;
  }
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path) {
    return fail(kExUsage, "the SMTP socket path is too long: " + printable(path, 100));
  }
  const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return fail(kExOsErr, std::string("socket: ") + std::strerror(errno));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int saved = errno;
    ::close(sock);
    return fail(kExUnavailable, "cannot connect to the sidecar's SMTP socket " +
                                    printable(path, 100) + ": " + std::strerror(saved) +
                                    " (is listen.smtp_socket set? --smtp-socket=PATH)");
  }
  std::vector<char> buffer(64 * 1024);
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sock, POLLIN, 0}};
  int code = kExOk;
  while (true) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      code = fail(kExOsErr, std::string("poll: ") + std::strerror(errno));
      break;
    }
    if (fds[1].revents != 0) {  // the sidecar's replies; its close ends the session
      const auto n = ::read(sock, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (!writeAll(STDOUT_FILENO, buffer.data(), static_cast<std::size_t>(n))) {
        code = fail(kExIoErr, std::string("writing to stdout: ") + std::strerror(errno));
        break;
      }
    }
    if (fds[0].fd >= 0 && fds[0].revents != 0) {
      const auto n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // the caller is done: the sidecar sees the end, answers, closes
        ::shutdown(sock, SHUT_WR);
        fds[0].fd = -1;
      } else if (!writeAll(sock, buffer.data(), static_cast<std::size_t>(n))) {
        break;  // the sidecar closed; what it said is read above
      }
    }
  }
  ::close(sock);
  return code;
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
  if (options.smtp_on_stdio) return relaySmtp(options);
  if (!options.extract_recipients && options.recipients.empty()) {
    return fail(kExUsage, "no recipients given (name them as arguments or use -t)");
  }

  // Without -f the sender is the sidecar's choice (the caller's profile).
  const std::optional<std::string>& sender = options.sender;
  if (sender) {
    if (auto problem = mailformat::checkAddress(*sender, /*allow_empty=*/true)) {
      return fail(kExUsage, "invalid sender \"" + printable(*sender, 100) + "\": " + *problem);
    }
  }
  // With -f '<>' the From field we may add still needs an address: login@hostname.
  std::string from_address = sender.value_or("");
  if (sender && sender->empty()) {
    auto own = defaultAddress();
    if (auto* f = std::get_if<Failure>(&own)) return fail(*f);
    from_address = std::get<std::string>(own);
    if (mailformat::checkAddress(from_address, /*allow_empty=*/false)) {
      return fail(kExUsage, "login@hostname (\"" + printable(from_address, 100) +
                                "\") is not a valid From address; add a From field to the message");
    }
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
  params.from_address = from_address;
  params.full_name = options.full_name.value_or("");
  params.date = mailformat::mime::formatDate(std::chrono::system_clock::now());
  std::string domain;
  if (const auto at = from_address.rfind('@'); at != std::string::npos) {
    domain = from_address.substr(at + 1);
  } else {
    auto host = hostName();
    if (auto* f = std::get_if<Failure>(&host)) return fail(*f);
    domain = std::get<std::string>(host);
  }
  params.message_id = "<" + foundation::randomHex(16) + "@" + domain + ">";

  auto assembled = assembleMessage(std::get<std::string>(input), params);
  if (auto* f = std::get_if<Failure>(&assembled)) return fail(*f);
  auto& message = std::get<Assembled>(assembled);
  std::get<std::string>(input).clear();

  const auto target = requestTarget(
      sender ? std::optional<std::string_view>(*sender) : std::nullopt, message.recipients);
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
