// restart_policy.h: what the supervisor does when a role exits: stop for good, or start
// it again after a backoff. Pure (no processes, no clock of its own), so it is tested
// without root or children; supervisor.cc applies it to waitpid()'s statuses.
//
// SECURITY: none of its own; it keeps a role that keeps crashing (a compromised or
// broken worker) from being restarted in a tight loop.
// ERRORS: none; a decision for every status.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "foundation/clock.h"

namespace sidecar {

// A role that keeps dying is restarted after 1 s, 2 s, ... up to 30 s (each delay up to
// 20% shorter, so a host full of sidecars does not restart in step).
inline constexpr foundation::BackoffPolicy kRoleRestartBackoff{std::chrono::seconds(1),
                                                               std::chrono::seconds(30), 2.0, 0.2};
// A role that ran this long was not crash-looping: its next restart waits 1 s again. A
// keeper that crashes is replaced by one that takes over its token (issue 14) and must
// answer within 5 s, so a second crash after 10 s is not made to wait 2 s, 4 s...
inline constexpr std::chrono::seconds kRoleStableAfter{10};

// A waitpid() status as one number: the exit code, or 128 + the signal (the shell's way).
int roleExitCode(int wait_status) noexcept;

struct RestartDecision {
  bool stop = false;  // kExitConfig: a restart cannot fix it; the supervisor exits with it
  int exit_code = 0;  // roleExitCode() of the status
  std::chrono::milliseconds delay{0};  // when not stopping: start the role again after this
};

class RestartPolicy {
 public:
  explicit RestartPolicy(foundation::UniformSource uniform = foundation::systemUniform())
      : backoff_(kRoleRestartBackoff, std::move(uniform)) {}

  // The role exited with `wait_status` after running for `uptime`.
  RestartDecision onExit(int wait_status, std::chrono::steady_clock::duration uptime);

 private:
  foundation::Backoff backoff_;
};

}  // namespace sidecar
