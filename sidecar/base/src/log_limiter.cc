// log_limiter.cc: per-key line budget (see log_limiter.h).
//
// SECURITY: memory is bounded by max_keys; past it, expired windows are dropped and a
// key that still finds no room shares one overflow window, so many keys cannot
// unlock more lines than one.
// ERRORS: none.
#include "sidecar/base/log_limiter.h"

namespace sidecar::log {

LogLimiter::LogLimiter(std::uint32_t lines_per_interval, Clock::duration interval,
                       std::size_t max_keys)
    : lines_per_interval_(lines_per_interval), interval_(interval), max_keys_(max_keys) {}

std::optional<std::uint64_t> LogLimiter::admit(const std::string& key, Clock::time_point now) {
  auto it = windows_.find(key);
  if (it == windows_.end()) {
    if (windows_.size() >= max_keys_) {
      for (auto w = windows_.begin(); w != windows_.end();) {
        w = (now - w->second.start >= interval_ && w->second.suppressed == 0) ? windows_.erase(w)
                                                                              : std::next(w);
      }
    }
    const std::string& slot = windows_.size() >= max_keys_ ? std::string("\x01overflow") : key;
    it = windows_.try_emplace(slot, Window{now, 0, 0}).first;
  }
  Window& w = it->second;
  if (now - w.start >= interval_) {
    w.start = now;
    w.written = 0;
  }
  if (w.written >= lines_per_interval_) {
    ++w.suppressed;
    return std::nullopt;
  }
  ++w.written;
  const auto suppressed = w.suppressed;
  w.suppressed = 0;
  return suppressed;
}

}  // namespace sidecar::log
