// answer.h: the sidecar's HTTP API as this client sees it: the request target, and the
// mapping of answers and transport failures to sysexits codes.
//
// SECURITY: the answer comes from whatever listens on the socket path. It is parsed
// here only (RapidJSON, bounded by the 1 MiB the client reads), and its texts are made
// printable and cut short before they reach stderr. The query string percent-encodes
// every byte outside RFC 3986 unreserved characters and '@' (so '+', '&' or '=' in an address
// cannot change the envelope).
// ERRORS: none raised; every input maps to a Verdict.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sendmail {

// "/v1/messages?from=...&to=...&to=..."
// Without `from`, the sidecar names the sender (the caller's profile).
std::string requestTarget(std::optional<std::string_view> from,
                          const std::vector<std::string>& recipients);

struct Verdict {
  int exit_code;
  std::string line;  // what to print on stderr; empty: print nothing
};

// An HTTP answer of POST /v1/messages (status + JSON body) -> exit code and reason.
Verdict mapAnswer(unsigned http_status, std::string_view body);

// Why no answer arrived.
enum class TransportFailure {
  SocketMissing,     // ENOENT/ENOTDIR: no sidecar installed or running here
  PermissionDenied,  // EACCES/EPERM: the caller is not in the socket's group
  Refused,           // ECONNREFUSED: a stale socket, nobody listening
  Timeout,           // no answer in time
  Broken,            // the connection broke mid-way
  BadAnswer,         // not HTTP, or too large
  BadPath,           // socket path too long for sockaddr_un
};

struct TransportError {
  TransportFailure kind;
  std::string detail;  // system error text; safe to print
};

Verdict mapTransportError(const TransportError& error, std::string_view socket_path);

}  // namespace sendmail
