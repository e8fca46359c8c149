// log.h: hclog-style JSON lines on stderr, the format the go-plugin host parses
// (@level, @message, @timestamp, @module, then key/value pairs).
//
// SECURITY: callers pass messages and values that never contain a secret (passwords,
// hashes, the DB connection password); see result.h. Values are JSON-escaped, so a
// hostile string (a role name from a request) cannot forge another log line.
// ERRORS: a failed write to stderr is ignored (there is nowhere else to report it).
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace smtpplugin {

enum class LogLevel { Trace, Debug, Info, Warn, Error };

using LogField = std::pair<std::string_view, std::string_view>;

// One line without the trailing newline; `now` formatted as
// 2006-01-02T15:04:05.000000Z (UTC).
std::string formatLogLine(LogLevel level, std::string_view message,
                          std::initializer_list<LogField> fields,
                          std::chrono::system_clock::time_point now);

// Writes one line (+ '\n') to stderr with a single write(2).
void logLine(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

}  // namespace smtpplugin
