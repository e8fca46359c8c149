// vault_call_thread.h: the keeper's Vault calls on their own thread, so that a Vault
// that accepts connections but never answers (SIGSTOP, a hung load balancer) cannot
// stall the keeper's answers to the worker (issue 14).
//
// The thread owns the CredentialKeeper (and through it the vault::Client) after
// start(): it runs tick() when something is due and the jobs the keeper's loop posts
// (a credential refused, a reload, a spool data key). After each round it publishes
// what the loop answers from: every path's current credential with its validity, the
// figures, and what changed. The loop never waits for Vault; it only takes the
// published state under a mutex held for a few copies of shared pointers.
//
// SECURITY: no secret is copied to hand it between the threads: a credential is a
// std::shared_ptr<const ipc::SmtpCredential> (SecretBytes inside, zeroed when the last
// holder drops it), a spool data key is moved (SecretBytes) from this thread to the
// loop. The wake-up is one byte on a pipe (pipe2: already in the keeper's seccomp
// filter, as are the thread's clone/futex calls, which libcurl's resolver needs too).
// ERRORS: start() fails only if the pipe or the thread cannot be made; Vault failures
// stay inside CredentialKeeper (logged, retried with backoff).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "foundation/clock.h"
#include "foundation/result.h"
#include "foundation/secret.h"
#include "sidecar/keeper/credential_keeper.h"

namespace sidecar::keeper {

// A spool data key the Vault thread fetched from Transit, for the loop to send.
struct SpoolKeyAnswer {
  std::uint32_t request_id = 0;
  std::string refusal;  // non-empty: why there is no key (sent as NoCredential)
  // With a refusal: Transit said it can never decrypt `wrapped` (spool_key_answer.h);
  // sent as SpoolKeyLost instead.
  bool lost = false;
  std::string wrapped;  // Transit ciphertext (not secret)
  foundation::SecretBytes key;
};

// What the loop answers from, as of the Vault thread's last round.
struct KeeperState {
  std::vector<CredentialKeeper::PathView> paths;
  std::uint64_t generation = 0;
  CredentialKeeper::Stats stats;
  std::size_t leases_active = 0;
  CredentialKeeper::LoginState login_state = CredentialKeeper::LoginState::Ok;
  foundation::SteadyTime login_blocked_until{};
  std::uint64_t secret_id_expires_unix = 0;  // CredentialKeeper::secretIdExpiresUnix()
  std::uint64_t refusals_handled = 0;        // Changes::refusals_handled, summed
  bool vault_call_running = false;           // a call is on its way now (e.g. Vault hangs)
  foundation::SteadyTime vault_call_since{};
};

// Whether path `index` of `state` has a credential that may be handed out at `now`.
const CredentialKeeper::PathView* usablePath(const KeeperState& state, std::size_t index,
                                             foundation::SteadyTime now);
// Every path holds a usable credential.
bool allPathsUsable(const KeeperState& state, foundation::SteadyTime now);
// Seconds the least-lasting usable credential remains valid (0: a path has none).
std::uint64_t validSeconds(const KeeperState& state, foundation::SteadyTime now);
// The next time readiness changes by itself (a credential becomes usable or expires),
// or nullopt.
std::optional<foundation::SteadyTime> nextValidityChange(const KeeperState& state,
                                                         foundation::SteadyTime now);
// A fixed word for /v1/ready and metrics: why not ready (empty when ready).
std::string notReadyWord(const KeeperState& state, foundation::SteadyTime now);

class VaultCallThread {
 public:
  // Runs on the Vault thread, between ticks; reports what it changed in Changes.
  using Job = std::function<void(CredentialKeeper&, CredentialKeeper::Changes&)>;

  VaultCallThread(CredentialKeeper& keeper, foundation::Clock& clock);
  ~VaultCallThread();  // stop() without a last job if still running
  VaultCallThread(const VaultCallThread&) = delete;
  VaultCallThread& operator=(const VaultCallThread&) = delete;

  // Runs on the Vault thread after every round (the jobs and a tick), before the state
  // is published: the keeper's hand-off record and the secret_id warning read the
  // CredentialKeeper, which only this thread may touch once it runs. Set before start().
  void afterEachRound(std::function<void(CredentialKeeper&)> hook) {
    after_round_ = std::move(hook);
  }
  // Publishes the keeper's current state and starts the thread. From now on only the
  // thread touches the keeper.
  foundation::Status start();
  // Readable when the thread published something (drain() it).
  int wakeFd() const noexcept { return wake_read_; }

  // From the loop: run `job` on the Vault thread as soon as its current call ends.
  void post(Job job);
  // From a job on the Vault thread: a spool key for the loop to send.
  void answerSpoolKey(SpoolKeyAnswer answer);

  // On the loop: the latest state; retired leases, whether a credential changed, and
  // spool key answers since the last drain.
  struct Drained {
    KeeperState state;
    std::vector<std::string> retired_leases;
    bool credential_changed = false;
    std::vector<SpoolKeyAnswer> spool_keys;
  };
  Drained drain();

  // Ends the thread after its current call, runs `last` on it (revocation), joins.
  // Idempotent; returns what `last` returned.
  foundation::Status stop(std::function<foundation::Status(CredentialKeeper&)> last = {});

 private:
  void run();
  void publishLocked(const CredentialKeeper::Changes& changes);
  void wake();

  CredentialKeeper& keeper_;
  foundation::Clock& clock_;
  std::function<void(CredentialKeeper&)> after_round_;
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::thread thread_;

  std::mutex mutex_;  // guards everything below
  std::condition_variable jobs_ready_;
  std::vector<Job> jobs_;
  bool stopping_ = false;
  std::function<foundation::Status(CredentialKeeper&)> last_;
  foundation::Status last_result_;
  KeeperState state_;
  std::vector<std::string> retired_;
  bool changed_ = false;
  std::vector<SpoolKeyAnswer> spool_keys_;
};

}  // namespace sidecar::keeper
