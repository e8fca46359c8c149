// worker_setup.cc: see worker_setup.h.
//
// SECURITY: pure.
// ERRORS: none.
#include "sidecar/worker/worker_setup.h"

namespace sidecar::worker {

spool::StoreLimits spoolLimits(const SpoolSettings& spool) {
  spool::StoreLimits limits;
  limits.max_bytes = spool.max_bytes;
  limits.max_messages = spool.max_messages;
  limits.fsync = spool.fsync;
  limits.group_commit = spool.group_commit;
  return limits;
}

WorkerReload workerReload(const Config& current, const Config& fresh) {
  WorkerReload out;
  const auto changes = configChanges(current, fresh);
  out.changed = changes.size();
  for (const auto& change : changes) {
    out.sender = out.sender || (change.live & reload::kWorkerSender) != 0;
    out.profiles = out.profiles || (change.live & reload::kWorkerProfiles) != 0;
  }
  return out;
}

}  // namespace sidecar::worker
