// audit.h: the audit log: one JSON line per message (its final outcome), to a file the
// worker appends to, or to stderr.
//
// SECURITY: records who sent what to how many, never message bodies, never secrets:
// the record has no field that could hold one (the lease id is not secret). Addresses
// and the Message-ID come from checked client input and are JSON-escaped. The file is
// created 0600 and opened O_APPEND (one write(2) per line, so lines never interleave)
// and O_NOFOLLOW.
// ERRORS: open errors are returned as Status; a failed write is logged and dropped
// (the message outcome is not changed by it).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "foundation/result.h"

namespace sidecar::audit {

struct Record {
  std::chrono::system_clock::time_point time;
  std::uint32_t uid = 0;
  std::int32_t pid = 0;
  std::string profile;
  std::string id;  // the asynchronous message id; empty for synchronous sends
  std::string sender;
  std::size_t recipients = 0;
  std::size_t bytes = 0;
  std::string message_id;
  // accepted, rejected, auth_refused, temporary_failure, tls_failure, no_credential
  std::string outcome;
  int smtp_code = 0;
  std::string smtp_text;
  std::string lease_id;
};

// The line (without newline). Pure; the field order is fixed.
std::string formatLine(const Record& record);

// RFC 3339 UTC with milliseconds: 2026-11-27T11:24:58.123Z
std::string rfc3339(std::chrono::system_clock::time_point time);

class Log {
 public:
  Log() = default;
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;
  // Opens `path` (empty: stderr). On failure the previous file stays in use.
  foundation::Status open(const std::string& path);
  // SIGHUP after log rotation: the same (or a new) path opened afresh.
  foundation::Status reopen(const std::string& path) { return open(path); }
  void write(const Record& record);

 private:
  int fd_ = 2;
  bool owned_ = false;
};

}  // namespace sidecar::audit
