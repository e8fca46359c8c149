// restart_policy_test.cc: the supervisor's decision when a role exits, table-driven,
// with waitpid()-shaped statuses (no children, no root).
#include "sidecar/supervisor/restart_policy.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <vector>

#include "sidecar/ipc/roles.h"

namespace {

using namespace std::chrono_literals;

// The statuses waitpid() reports, built the way the kernel encodes them (W_EXITCODE,
// W_STOPCODE in glibc's <sys/wait.h>).
int exited(int code) {
  return W_EXITCODE(code, 0);
}
int killed(int signo) {
  return W_EXITCODE(0, signo);
}

// No jitter: uniform() == 0 gives the full delay.
sidecar::RestartPolicy fixedPolicy() {
  return sidecar::RestartPolicy([] { return 0.0; });
}

}  // namespace

TEST_CASE("roleExitCode: the exit code, or 128 + the signal") {
  struct Row {
    int status;
    int code;
  };
  const Row rows[] = {
      {exited(0), 0},         {exited(1), 1},         {exited(78), 78},      {exited(127), 127},
      {killed(SIGKILL), 137}, {killed(SIGSEGV), 139}, {killed(SIGSYS), 159}, {killed(SIGTERM), 143},
  };
  for (const auto& row : rows) {
    CAPTURE(row.status);
    CHECK(sidecar::roleExitCode(row.status) == row.code);
  }
}

TEST_CASE("a configuration error stops the sidecar; anything else restarts the role") {
  struct Row {
    const char* name;
    int status;
    bool stop;
  };
  const Row rows[] = {
      {"EX_CONFIG", exited(sidecar::kExitConfig), true},
      {"clean exit", exited(0), false},
      {"crash exit", exited(1), false},
      {"exec failed", exited(127), false},
      {"seccomp kill", killed(SIGSYS), false},
      {"OOM kill", killed(SIGKILL), false},
      // 128 + 78 would not be a signal; a signal never reads as EX_CONFIG.
      {"signal, not an exit code", killed(SIGTERM), false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    auto policy = fixedPolicy();
    const auto decision = policy.onExit(row.status, 1s);
    CHECK(decision.stop == row.stop);
    CHECK(decision.exit_code == sidecar::roleExitCode(row.status));
    if (!row.stop) CHECK(decision.delay == 1000ms);
  }
}

TEST_CASE("a role that keeps dying waits 1 s, 2 s, 4 s ... at most 30 s") {
  auto policy = fixedPolicy();
  std::vector<long long> delays;
  for (int i = 0; i < 8; ++i) delays.push_back(policy.onExit(exited(1), 2s).delay.count());
  CHECK(delays == std::vector<long long>{1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000});
}

TEST_CASE("a role that ran long enough (kRoleStableAfter) starts its backoff again") {
  auto policy = fixedPolicy();
  for (int i = 0; i < 5; ++i) policy.onExit(killed(SIGSEGV), 2s);
  CHECK(policy.onExit(killed(SIGSEGV), 2s).delay == 30000ms);
  CHECK(policy.onExit(killed(SIGSEGV), sidecar::kRoleStableAfter + 1s).delay == 1000ms);
  CHECK(policy.onExit(killed(SIGSEGV), 2s).delay == 2000ms);
}

TEST_CASE("restart delays are jittered downwards by at most 20%") {
  // uniform() == 1: the shortest delay the policy allows.
  sidecar::RestartPolicy policy([] { return 1.0; });
  CHECK(policy.onExit(exited(1), 1s).delay == 800ms);
  CHECK(policy.onExit(exited(1), 1s).delay == 1600ms);
}
