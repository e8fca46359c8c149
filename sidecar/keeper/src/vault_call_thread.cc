// vault_call_thread.cc: the keeper's Vault-call thread (see the header).
//
// SECURITY: credentials cross between the threads as shared pointers to one locked
// copy; spool keys are moved. Nothing here logs a secret.
// ERRORS: pipe2 and thread creation are checked; a full wake-up pipe is fine (the
// loop is woken already).
#include "sidecar/keeper/vault_call_thread.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sidecar/base/log.h"

namespace sidecar::keeper {

using foundation::SteadyTime;

const CredentialKeeper::PathView* usablePath(const KeeperState& state, std::size_t index,
                                             SteadyTime now) {
  if (index >= state.paths.size()) return nullptr;
  const auto& p = state.paths[index];
  if (!p.credential || now < p.usable_at || now >= p.expires_at) return nullptr;
  return &p;
}

bool allPathsUsable(const KeeperState& state, SteadyTime now) {
  for (std::size_t i = 0; i < state.paths.size(); ++i) {
    if (usablePath(state, i, now) == nullptr) return false;
  }
  return true;
}

std::uint64_t validSeconds(const KeeperState& state, SteadyTime now) {
  std::uint64_t least = 0;
  bool first = true;
  for (std::size_t i = 0; i < state.paths.size(); ++i) {
    const auto* p = usablePath(state, i, now);
    if (p == nullptr) return 0;
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(p->expires_at - now);
    const auto seconds = static_cast<std::uint64_t>(std::max<std::int64_t>(0, left.count()));
    if (first || seconds < least) least = seconds;
    first = false;
  }
  return least;
}

std::optional<SteadyTime> nextValidityChange(const KeeperState& state, SteadyTime now) {
  std::optional<SteadyTime> next;
  auto consider = [&](SteadyTime t) {
    if (t > now && (!next || t < *next)) next = t;
  };
  for (const auto& p : state.paths) {
    if (!p.credential) continue;
    consider(p.usable_at);
    consider(p.expires_at);
  }
  return next;
}

std::string notReadyWord(const KeeperState& state, SteadyTime now) {
  if (allPathsUsable(state, now)) return {};
  switch (state.login_state) {
    case CredentialKeeper::LoginState::LockedOut:
      return "approle_locked_out";
    case CredentialKeeper::LoginState::SecretIdRejected:
      return "secret_id_rejected";
    case CredentialKeeper::LoginState::Ok:
      break;
  }
  for (const auto& p : state.paths) {
    if (p.credential && now >= p.expires_at) return "credential_expired";
    if (p.credential && now < p.usable_at) return "credential_propagating";
  }
  if (state.vault_call_running && now - state.vault_call_since > std::chrono::seconds(5)) {
    return "vault_not_answering";
  }
  return "no_credential";
}

VaultCallThread::VaultCallThread(CredentialKeeper& keeper, foundation::Clock& clock)
    : keeper_(keeper), clock_(clock) {
  // A counter is published when it changes, not at the end of the round: a round can
  // wait on a hung Vault for minutes, and the metrics must not lag the log meanwhile.
  // Only the Vault thread counts, and never while holding mutex_.
  keeper_.onStatsChanged([this] {
    std::lock_guard lock(mutex_);
    state_.stats = keeper_.stats();
  });
}

VaultCallThread::~VaultCallThread() {
  (void)stop();
  keeper_.onStatsChanged({});
  if (wake_read_ >= 0) ::close(wake_read_);
  if (wake_write_ >= 0) ::close(wake_write_);
}

foundation::Status VaultCallThread::start() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return foundation::Error::internal(std::string("vault thread: pipe2: ") + std::strerror(errno));
  }
  wake_read_ = fds[0];
  wake_write_ = fds[1];
  {
    std::lock_guard lock(mutex_);
    publishLocked({});
  }
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    return foundation::Error::internal(std::string("vault thread: ") + e.what());
  }
  return {};
}

void VaultCallThread::post(Job job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  jobs_ready_.notify_one();
}

void VaultCallThread::answerSpoolKey(SpoolKeyAnswer answer) {
  {
    std::lock_guard lock(mutex_);
    spool_keys_.push_back(std::move(answer));
  }
  wake();
}

VaultCallThread::Drained VaultCallThread::drain() {
  char sink[64];
  while (wake_read_ >= 0 && ::read(wake_read_, sink, sizeof sink) > 0) {
  }
  Drained d;
  std::lock_guard lock(mutex_);
  d.state = state_;
  d.retired_leases = std::move(retired_);
  retired_.clear();
  d.credential_changed = changed_;
  changed_ = false;
  d.spool_keys = std::move(spool_keys_);
  spool_keys_.clear();
  return d;
}

void VaultCallThread::wake() {
  const char byte = 1;
  // EAGAIN: the pipe is full, so the loop has a wake-up waiting already.
  (void)!::write(wake_write_, &byte, 1);
}

void VaultCallThread::publishLocked(const CredentialKeeper::Changes& changes) {
  state_.paths = keeper_.view();
  state_.generation = keeper_.generation();
  state_.stats = keeper_.stats();
  state_.leases_active = keeper_.leasesActive();
  state_.login_state = keeper_.loginState();
  state_.login_blocked_until = keeper_.loginBlockedUntil();
  state_.secret_id_expires_unix = keeper_.secretIdExpiresUnix();
  state_.refusals_handled += changes.refusals_handled;
  retired_.insert(retired_.end(), changes.retired_leases.begin(), changes.retired_leases.end());
  changed_ = changed_ || changes.credential_changed;
}

void VaultCallThread::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    std::vector<Job> jobs = std::move(jobs_);
    jobs_.clear();
    state_.vault_call_running = true;
    state_.vault_call_since = clock_.now();
    lock.unlock();

    // Vault calls happen here, without the lock: the loop keeps answering meanwhile.
    CredentialKeeper::Changes changes;
    for (auto& job : jobs) job(keeper_, changes);
    const SteadyTime next = keeper_.tick(changes);
    if (after_round_) after_round_(keeper_);

    lock.lock();
    state_.vault_call_running = false;
    publishLocked(changes);
    wake();
    if (stopping_ || !jobs_.empty()) continue;
    const auto wait = std::clamp<std::chrono::steady_clock::duration>(
        next - clock_.now(), std::chrono::milliseconds(0), std::chrono::seconds(60));
    jobs_ready_.wait_for(lock, wait, [this] { return stopping_ || !jobs_.empty(); });
  }
  auto last = std::move(last_);
  lock.unlock();
  foundation::Status result;
  if (last) result = last(keeper_);
  lock.lock();
  last_result_ = result;
  publishLocked({});
  lock.unlock();
  wake();
}

foundation::Status VaultCallThread::stop(
    std::function<foundation::Status(CredentialKeeper&)> last) {
  if (!thread_.joinable()) {
    // Never started (or stopped already): run the last job here, once.
    if (last) return last(keeper_);
    return {};
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    last_ = std::move(last);
  }
  jobs_ready_.notify_one();
  thread_.join();
  std::lock_guard lock(mutex_);
  return last_result_;
}

}  // namespace sidecar::keeper
