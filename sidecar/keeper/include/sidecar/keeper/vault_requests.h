// vault_requests.h: the keeper's count of its own Vault requests (by operation word and
// status class, with a latency histogram), sent to the worker as KeeperFigures.
//
// SECURITY: the observer (vault::ClientOptions::observer) gets only the operation word
// from vault::Client, never a path, a token or a body; list sizes are bounded
// (kMaxFigureEntries) so a future caller cannot grow them without limit.
// ERRORS: none; a figure past its list limit is dropped.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "sidecar/ipc/keeper_figures.h"
#include "vault/client.h"

namespace sidecar::telemetry {

// Counts the keeper's Vault requests (the vault::ClientOptions::observer). observe()
// runs on the Vault-call thread, fill() on the keeper's loop: a mutex between them.
class VaultRequestRecorder {
 public:
  void observe(const vault::RequestObservation& seen);
  // Adds what was counted to `figures` (its vault_requests and vault_latency).
  void fill(KeeperFigures& figures) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> requests_;
  std::map<std::string, KeeperFigures::Latency> latency_;
};

// "2xx".."5xx", or "error" for a transport failure.
const char* vaultStatusClass(const vault::RequestObservation& seen) noexcept;

}  // namespace sidecar::telemetry
