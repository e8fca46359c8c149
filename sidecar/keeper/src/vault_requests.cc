// vault_requests.cc: see vault_requests.h.
//
// SECURITY: only constant operation words and status classes become keys.
// ERRORS: none.
#include "sidecar/keeper/vault_requests.h"

#include <algorithm>

namespace sidecar::telemetry {

const char* vaultStatusClass(const vault::RequestObservation& seen) noexcept {
  if (seen.transport_error || seen.status < 100 || seen.status > 599) return "error";
  static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  return kClasses[seen.status / 100 - 1];
}

void VaultRequestRecorder::observe(const vault::RequestObservation& seen) {
  // The operation is one of vault::Client's constant words; the limits only guard
  // against a future caller that passes something else.
  const std::string operation(seen.operation.substr(0, kMaxFigureName));
  std::lock_guard lock(mutex_);
  const auto key = std::make_pair(operation, std::string(vaultStatusClass(seen)));
  if (requests_.size() < kMaxFigureEntries || requests_.count(key) != 0) ++requests_[key];
  if (latency_.size() >= kMaxFigureEntries && latency_.count(operation) == 0) return;
  auto& latency = latency_[operation];
  latency.operation = operation;
  const double seconds = std::chrono::duration<double>(seen.duration).count();
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kVaultLatencyBuckets.begin(), kVaultLatencyBuckets.end(), seconds) -
      kVaultLatencyBuckets.begin());
  ++latency.buckets[bucket];
  latency.sum_microseconds += static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(seen.duration).count()));
}

void VaultRequestRecorder::fill(KeeperFigures& figures) const {
  std::lock_guard lock(mutex_);
  for (const auto& [key, count] : requests_) {
    if (figures.vault_requests.size() >= kMaxFigureEntries) break;
    figures.vault_requests.push_back({key.first, key.second, count});
  }
  for (const auto& [operation, latency] : latency_) {
    if (figures.vault_latency.size() >= kMaxFigureEntries) break;
    figures.vault_latency.push_back(latency);
  }
}

}  // namespace sidecar::telemetry
