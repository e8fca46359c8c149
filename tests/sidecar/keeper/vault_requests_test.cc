// vault_requests_test.cc: the keeper's count of its Vault requests.
#include "sidecar/keeper/vault_requests.h"

#include <doctest/doctest.h>

#include <vector>

using namespace sidecar;
using namespace sidecar::telemetry;
using namespace std::chrono_literals;

TEST_CASE("Vault requests are counted by operation and status class") {
  VaultRequestRecorder recorder;
  auto seen = [&](const char* op, long status, bool error, std::chrono::milliseconds d) {
    vault::RequestObservation o;
    o.operation = op;
    o.status = status;
    o.transport_error = error;
    o.duration = d;
    recorder.observe(o);
  };
  seen("lease_renew", 200, false, 20ms);
  seen("lease_renew", 200, false, 30ms);
  seen("lease_renew", 0, true, 3000ms);
  seen("approle_login", 400, false, 5ms);
  seen("read", 503, false, 40s);
  KeeperFigures f;
  recorder.fill(f);
  const std::vector<KeeperFigures::Requests> expected = {
      {"approle_login", "4xx", 1},
      {"lease_renew", "2xx", 2},
      {"lease_renew", "error", 1},
      {"read", "5xx", 1},
  };
  CHECK(f.vault_requests == expected);
  REQUIRE(f.vault_latency.size() == 3);
  const auto& renew = f.vault_latency[1];
  CHECK(renew.operation == "lease_renew");
  CHECK(renew.buckets[2] == 1);  // 20 ms: le 0.025
  CHECK(renew.buckets[3] == 1);  // 30 ms: le 0.05
  CHECK(renew.buckets[9] == 1);  // 3 s: le 5
  CHECK(renew.sum_microseconds == 3050000);
  CHECK(f.vault_latency[2].buckets[12] == 1);  // 40 s: +Inf
}
