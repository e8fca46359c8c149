// worker_setup_test.cc: what worker_main takes from the configuration (worker_setup.h):
// the spool's limits, and on SIGHUP which of its parts take the new file, table-driven
// over real config edits (config.cc's parameter table decides; this checks the worker
// acts on its columns).
#include "sidecar/worker/worker_setup.h"

#include <doctest/doctest.h>

#include <functional>

#include "worker_test_config.h"

using sidecar::Config;
using sidecar::worker::workerReload;

TEST_CASE("spoolLimits: the [spool] settings, and the sync mode they make") {
  const struct {
    bool fsync;
    bool group_commit;
    sidecar::spool::Sync want;
  } rows[] = {
      {true, true, sidecar::spool::Sync::Batched},
      {true, false, sidecar::spool::Sync::PerFile},
      {false, true, sidecar::spool::Sync::None},
      {false, false, sidecar::spool::Sync::None},
  };
  for (const auto& row : rows) {
    sidecar::SpoolSettings s;
    s.max_bytes = 12345;
    s.max_messages = 67;
    s.fsync = row.fsync;
    s.group_commit = row.group_commit;
    const auto limits = sidecar::worker::spoolLimits(s);
    CHECK(limits.max_bytes == 12345);
    CHECK(limits.max_messages == 67);
    CHECK((limits.sync() == row.want));
  }
}

TEST_CASE("workerReload: each edit reaches the part that applies it, and only that part") {
  const Config base = workertest::configWith("/run/test.sock", "");
  const struct {
    const char* name;
    std::function<void(Config&)> edit;
    bool sender;
    bool profiles;
    std::size_t changed;
  } rows[] = {
      {"nothing", [](Config&) {}, false, false, 0},
      {"smtp.host", [](Config& c) { c.smtp.host = "mail.example.test"; }, true, false, 1},
      {"smtp.port", [](Config& c) { c.smtp.port = 2525; }, true, false, 1},
      {"smtp.max_connections", [](Config& c) { c.smtp.max_connections += 1; }, true, false, 1},
      {"listen.max_queue", [](Config& c) { c.listen.max_queue += 1; }, true, false, 1},
      {"a profile's senders",
       [](Config& c) { c.profiles.front().senders.push_back("app@example.test"); }, false, true, 1},
      {"vault.credential_path", [](Config& c) { c.vault.credential_path = "smtp/creds/web"; },
       false, true, 1},
      {"the log level only", [](Config& c) { c.process.log_level = sidecar::log::Level::Debug; },
       false, false, 1},
      {"the audit file only (reopened on every reload)",
       [](Config& c) { c.audit.file = "/var/log/other.audit"; }, false, false, 1},
      {"vault.rotation_grace_seconds (the keeper's)",
       [](Config& c) { c.vault.rotation_grace += std::chrono::seconds(1); }, false, false, 1},
      {"smtp and a profile at once",
       [](Config& c) {
         c.smtp.helo_name = "relay.example.test";
         c.profiles.front().rate_per_minute = 60;
       },
       true, true, 2},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    Config fresh = base;
    row.edit(fresh);
    const auto got = workerReload(base, fresh);
    CHECK(got.sender == row.sender);
    CHECK(got.profiles == row.profiles);
    CHECK(got.changed == row.changed);
  }
}
