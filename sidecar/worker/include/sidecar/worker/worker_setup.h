// worker_setup.h: the decisions worker_main.cc takes from the configuration, apart from
// the event loop that acts on them so that they can be tested: the spool's limits, and
// on SIGHUP which of the worker's parts take the new file (config.cc's parameter table
// names, per key, who applies it live).
//
// SECURITY: pure; configuration values only (no secret, no client input).
// ERRORS: none.
#pragma once

#include <cstddef>

#include "sidecar/base/config.h"
#include "sidecar/spool/store.h"

namespace sidecar::worker {

spool::StoreLimits spoolLimits(const SpoolSettings& spool);

// What a SIGHUP from `current` to `fresh` asks of the worker. The log level is applied
// on every reload and the audit file reopened on every reload (rotation), so neither
// has a flag; keys only a restart applies are the supervisor's to name.
struct WorkerReload {
  bool sender = false;      // a new SMTP sender: smtp.*, the queue's limits
  bool profiles = false;    // the profiles and their credential paths
  std::size_t changed = 0;  // keys that differ (for the log line)
};
WorkerReload workerReload(const Config& current, const Config& fresh);

}  // namespace sidecar::worker
