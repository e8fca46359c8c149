// log_limiter.h: at most N lines per interval for each (peer, event), with the count
// of what was left out carried by the next line written.
//
// SECURITY: a local client that may open the socket chooses how often the worker
// logs (one refused connection = one line); without a limit it fills the disk or
// drowns the lines that matter. Keys are bounded in number.
// ERRORS: none.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace sidecar::log {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  LogLimiter(std::uint32_t lines_per_interval, Clock::duration interval,
             std::size_t max_keys = 1024);

  // Whether a line for `key` may be written now. nullopt: leave it out (counted).
  // Otherwise the number of lines left out for this key since the last one written,
  // which the caller adds to the line as "suppressed".
  std::optional<std::uint64_t> admit(const std::string& key, Clock::time_point now);

 private:
  struct Window {
    Clock::time_point start;
    std::uint32_t written = 0;
    std::uint64_t suppressed = 0;
  };
  std::uint32_t lines_per_interval_;
  Clock::duration interval_;
  std::size_t max_keys_;
  std::map<std::string, Window> windows_;
};

}  // namespace sidecar::log
