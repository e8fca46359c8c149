// keeper_figures.h: the keeper's metric figures as plain data: what the keeper sends
// the worker in an ipc.h Metrics message (typed fields, bounded lists) and what the
// worker renders (sidecar_metrics.h).
//
// SECURITY: the strings are fixed words (operations, reasons, status classes) and
// credential paths from the configuration; never a lease id or a secret. The decoder
// (ipc.cc) enforces the limits below and the character sets of names.
// ERRORS: none here (plain data).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sidecar::telemetry {

// At most this many entries in each list of KeeperFigures (what ipc.h accepts).
inline constexpr std::size_t kMaxFigureEntries = 64;
inline constexpr std::size_t kMaxFigureName = 64;   // operation, reason, status class
inline constexpr std::size_t kMaxFigurePath = 256;  // a credential path

// The buckets of the Vault request latency histogram (seconds).
inline constexpr std::array<double, 12> kVaultLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                0.5,   1,    2.5,   5,    10,  30};

struct KeeperFigures {
  struct Named {  // a counter with one label: a rotation reason
    std::string name;
    std::uint64_t count = 0;
    bool operator==(const Named&) const = default;
  };
  struct Expiry {
    std::string path;  // the credential path (vault.credential_path, a profile's)
    std::uint64_t seconds = 0;
    bool operator==(const Expiry&) const = default;
  };
  struct Requests {
    std::string operation;     // vault::RequestObservation::operation
    std::string status_class;  // 2xx, 3xx, 4xx, 5xx, error
    std::uint64_t count = 0;
    bool operator==(const Requests&) const = default;
  };
  struct Latency {
    std::string operation;
    // One count per bucket of kVaultLatencyBuckets, then +Inf (not cumulative).
    std::array<std::uint64_t, kVaultLatencyBuckets.size() + 1> buckets{};
    std::uint64_t sum_microseconds = 0;
    bool operator==(const Latency&) const = default;
  };

  std::uint64_t leases_active = 0;
  std::uint64_t lease_renewals = 0;
  std::uint64_t lease_renewal_failures = 0;
  std::uint64_t token_renewals = 0;
  std::uint64_t token_renewal_failures = 0;
  std::uint64_t logins = 0;
  std::uint64_t login_failures = 0;
  std::vector<Named> rotations;
  std::vector<Expiry> expiry;
  std::vector<Requests> vault_requests;
  std::vector<Latency> vault_latency;
  // The AppRole secret_id the keeper would log in again with (issue 14): seconds until
  // it expires, when its unwrap said (secret_id_expiry_known).
  bool secret_id_expiry_known = false;
  std::uint64_t secret_id_expires_seconds = 0;
  bool operator==(const KeeperFigures&) const = default;
};

}  // namespace sidecar::telemetry
