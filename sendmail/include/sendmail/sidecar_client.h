// sidecar_client.h: one POST /v1/messages over the sidecar's Unix socket.
//
// SECURITY: talks to whatever listens at the socket path (the path comes from the
// caller's environment or command line, and this program has the caller's rights
// only). The answer is read with Beast's parser with limits (16 KiB of headers,
// 1 MiB of body) and a deadline; it is not interpreted here (answer.h does that).
// ERRORS: TransportError values; no exceptions escape.
#pragma once

#include <chrono>
#include <string>
#include <variant>

#include "sendmail/answer.h"

namespace sendmail {

struct HttpAnswer {
  unsigned status = 0;
  std::string body;
};

// Sends `message` (message/rfc822) to `target` and waits up to `timeout` for the
// answer. The answer is read while the body is still being written, so an early
// answer (413 before the body was read) is seen even if the sidecar stops reading.
std::variant<HttpAnswer, TransportError> postMessage(const std::string& socket_path,
                                                     const std::string& target, std::string message,
                                                     std::chrono::seconds timeout);

}  // namespace sendmail
