// supervisor.cc: start, watch and stop the keeper and worker roles (see supervisor.h).
//
// SECURITY: each role is a fresh exec of this binary (OpenSMTPD's model), so no
// address space is shared. Signals are handled synchronously with sigtimedwait, so no
// work happens in signal handlers.
// ERRORS: logged as JSON lines; fatal setup errors return 1.
#include "sidecar/supervisor/supervisor.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "foundation/clock.h"
#include "sidecar/base/log.h"
#include "sidecar/base/seccomp.h"
#include "sidecar/ipc/fd_passing.h"
#include "sidecar/ipc/handoff.h"
#include "sidecar/ipc/ipc.h"
#include "sidecar/ipc/smtp_listeners.h"
#include "sidecar/supervisor/listen_socket.h"
#include "sidecar/supervisor/restart_policy.h"

namespace sidecar {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWorkerStopDeadline = std::chrono::seconds(30);
constexpr auto kKeeperStopDeadline = std::chrono::seconds(30);

struct Role {
  const char* name;
  pid_t pid = -1;
  int control = -1;  // our end of the control channel
  Clock::time_point started{};
  RestartPolicy restarts{};  // restart_policy.h: stop, or restart after a backoff
  Clock::time_point restart_at{};
  bool restart_pending = false;
  int last_status = 0;
  std::optional<RunAs> user{};  // its own account, when it is not the supervisor's
};

class Supervisor {
 public:
  Supervisor(std::string self_exe, std::string config_path, const Config& config,
             foundation::SecretBytes secret_id, const std::optional<RunAs>& run_as)
      : self_exe_(std::move(self_exe)),
        config_path_(std::move(config_path)),
        config_(config),
        secret_id_(std::move(secret_id)),
        run_as_(run_as) {}

  int run() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return 1;
    supervisor_pid_ = ::getpid();  // the roles' parent check (execRole)

    // Roles are started from this descriptor, opened while the path is still reachable:
    // after the privilege drop the user may not be able to search the directories that
    // lead to the binary (a build tree under /root, say).
    // Kept above the descriptor numbers a role inherits (kControlFd, kListenFd).
    const int exe_fd = ::open(self_exe_.c_str(), O_PATH | O_CLOEXEC);
    self_exe_fd_ = exe_fd < 0 ? -1 : ::fcntl(exe_fd, F_DUPFD_CLOEXEC, 64);
    if (exe_fd >= 0) ::close(exe_fd);
    if (self_exe_fd_ < 0) {
      log::error("start_failed",
                 {{"error", std::string("cannot open own executable: ") + std::strerror(errno)}});
      return 1;
    }
    // The keeper's hand-off memory (issue 14): created here, before this process
    // confines itself, and passed to every keeper it starts, so a keeper that dies
    // without warning is replaced by one that takes over its token and leases. This
    // process never maps or reads it.
    if (auto memory = ipc::createHandoffMemory(); memory) {
      handoff_fd_ = ::fcntl(memory->fd, F_DUPFD_CLOEXEC, 64);
      ::close(memory->fd);
      log::info("handoff_memory_ready", {{"backing", ipc::toString(memory->backing)}});
    } else {
      log::warn("handoff_unavailable", {{"error", memory.error().message}});
    }
    listen_fd_ = createListenSocket(config_.listen);
    if (listen_fd_ < 0) return 1;
    // The SMTP intake's listeners (issue 15), created here for the same reason.
    if (!config_.listen.smtp_socket_path.empty()) {
      ListenSettings smtp = config_.listen;
      smtp.socket_path = config_.listen.smtp_socket_path;
      smtp_fds_[0] = createListenSocket(smtp);
      if (smtp_fds_[0] < 0) return 1;
    }
    if (config_.listen.smtp_port != 0) {
      auto tcp = ipc::createLoopbackListeners(config_.listen.smtp_port);
      if (!tcp) {
        log::error("listen_failed",
                   {{"smtp_port", config_.listen.smtp_port}, {"error", tcp.error().message}});
        return 1;
      }
      smtp_fds_[1] = tcp->ipv4;
      smtp_fds_[2] = tcp->ipv6;
    }
    if (config_.implicitProfile()) {
      log::warn("no_profiles_configured",
                {{"detail",
                  "no [[profile]] section: every local user who can open the socket "
                  "may send with vault.credential_path"},
                 {"socket", config_.listen.socket_path},
                 {"socket_mode", static_cast<std::int64_t>(config_.listen.socket_mode)}});
    }
    if (run_as_) {
      // The socket file is created as root; it then belongs to the user the roles run
      // as, and nothing after this line runs as root. Without listen.socket_group it
      // gets that user's primary group, not root's: the app users meant to send are
      // then that group's members (socket_ready says so), never only root.
      const gid_t socket_gid = config_.listen.socket_group.empty()
                                   ? static_cast<gid_t>(run_as_->gid)
                                   : static_cast<gid_t>(-1);
      if (::chown(config_.listen.socket_path.c_str(), static_cast<uid_t>(run_as_->uid),
                  socket_gid) != 0 ||
          (smtp_fds_[0] >= 0 && ::chown(config_.listen.smtp_socket_path.c_str(),
                                        static_cast<uid_t>(run_as_->uid), socket_gid) != 0)) {
        log::error("listen_failed", {{"socket", config_.listen.socket_path},
                                     {"error", std::string("chown: ") + std::strerror(errno)}});
        return 1;
      }
      // Roles with their own accounts: resolved now (the user database may not be
      // readable later), started by a supervisor that keeps only what switching needs.
      for (Role* role : {&keeper_, &worker_}) {
        const std::string& name =
            role == &keeper_ ? config_.process.keeperUser() : config_.process.workerUser();
        if (name == run_as_->user) continue;
        auto resolved = resolveRunAs(name);
        if (!resolved || !*resolved) {
          log::error(
              "privilege_drop_failed",
              {{"role", role->name},
               {"error", resolved ? "role user needs a start as root" : resolved.error().message}});
          return 1;
        }
        role->user = **resolved;
      }
      const bool switching = keeper_.user.has_value() || worker_.user.has_value();
      if (auto dropped = dropPrivileges(*run_as_, switching); !dropped) {
        log::error("privilege_drop_failed", {{"error", dropped.error().message}});
        return 1;
      }
      log::info("privileges_dropped", {{"user", run_as_->user},
                                       {"uid", static_cast<std::int64_t>(run_as_->uid)},
                                       {"keeper_user", config_.process.keeperUser()},
                                       {"worker_user", config_.process.workerUser()}});
    }
    logSocketReady(config_.listen);
    if (config_.process.seccomp) {
      if (auto s = installSeccompFilter(SeccompRole::Supervisor); !s) {
        log::error("seccomp_failed", {{"error", s.error().message}});
        return kExitConfig;
      }
    }
    if (!spawn(keeper_) || !spawn(worker_)) return stopAll(1);
    if (!connectPeers()) return stopAll(1);
    log::info("supervisor_started", {{"keeper_pid", static_cast<int>(keeper_.pid)},
                                     {"worker_pid", static_cast<int>(worker_.pid)}});

    while (true) {
      timespec timeout{1, 0};
      siginfo_t info{};
      const int sig = ::sigtimedwait(&set, &info, &timeout);
      if (sig == SIGTERM || sig == SIGINT) {
        log::info("supervisor_stopping", {{"signal", sig}});
        return shutdown();
      }
      if (sig == SIGHUP) reload();
      if (int code = reapChildren(); code >= 0) return stopAll(code);
      if (!restartDue()) return stopAll(1);
    }
  }

 private:
  bool spawn(Role& role) {
    int control[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) return false;
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(control[0]);
      ::close(control[1]);
      return false;
    }
    if (pid == 0) execRole(role, control[1]);  // does not return
    ::close(control[1]);
    if (role.control >= 0) ::close(role.control);
    role.control = control[0];
    if (&role == &keeper_) {
      // The keeper's first message: the hand-off memory (without a descriptor when
      // there is none; the keeper then runs as before issue 14).
      ipc::Packet message;
      if (!ipc::encodeHandoffMemory(message) ||
          !ipc::sendPacket(role.control, message, handoff_fd_)) {
        log::error("handoff_memory_handover_failed", {{"role", role.name}});
      }
    }
    if (&role == &keeper_ && !secret_id_.empty()) {
      // The keeper waits for this before it logs in.
      ipc::Packet message;
      const bool sent =
          ipc::encodeSecretId(secret_id_, message) && ipc::sendPacket(role.control, message);
      message.wipe();
      if (!sent) log::error("secret_id_handover_failed", {{"role", role.name}});
    }
    role.pid = pid;
    role.started = Clock::now();
    role.restart_pending = false;
    return true;
  }

  // In the forked child, before exec: says why the role never started (the supervisor
  // logs only the exit code) and exits. Single-threaded parent, so logging is safe here.
  [[noreturn]] static void abandonRole(const char* role, const char* step, int error) {
    log::error("role_start_failed",
               {{"role", role}, {"step", step}, {"error", std::strerror(error)}});
    ::_exit(1);
  }

  [[noreturn]] void execRole(const Role& role, int control) {
    // In the child: its own user first (a credential change clears the death signal),
    // then die with the supervisor; unblock signals; exact descriptors only.
    if (role.user) {
      if (auto s = becomeRoleUser(*role.user); !s) {
        log::error("role_user_switch_failed", {{"role", role.name}, {"error", s.error().message}});
        ::_exit(kExitConfig);
      }
    }
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
      abandonRole(role.name, "prctl(PR_SET_PDEATHSIG)", errno);
    }
    // The supervisor may have died between fork and prctl: then the death signal never
    // comes, and the child has been re-parented. Compare with the pid recorded before
    // fork, not with 1: in a container or a pod the supervisor itself is PID 1.
    if (::getppid() != supervisor_pid_) {
      log::error("role_start_failed", {{"role", role.name},
                                       {"step", "parent check"},
                                       {"error", "the supervisor exited before the role started"}});
      ::_exit(1);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const bool is_worker = &role == &worker_;
    // Move both descriptors above the target numbers first: the listening socket may
    // itself be descriptor 3, which dup2(control, 3) would otherwise replace.
    const int moved_control = ::fcntl(control, F_DUPFD_CLOEXEC, 10);
    const int moved_listen = is_worker ? ::fcntl(listen_fd_, F_DUPFD_CLOEXEC, 10) : -1;
    if (moved_control < 0 || (is_worker && moved_listen < 0)) {
      abandonRole(role.name, "fcntl(F_DUPFD_CLOEXEC)", errno);
    }
    int moved_smtp[3] = {-1, -1, -1};
    for (int i = 0; is_worker && i < 3; ++i) {
      if (smtp_fds_[i] >= 0 && (moved_smtp[i] = ::fcntl(smtp_fds_[i], F_DUPFD_CLOEXEC, 10)) < 0) {
        abandonRole(role.name, "fcntl(F_DUPFD_CLOEXEC, smtp)", errno);
      }
    }
    // dup2 clears close-on-exec on the new descriptor, so exactly these survive exec.
    if (::dup2(moved_control, kControlFd) < 0) abandonRole(role.name, "dup2(control)", errno);
    if (is_worker && ::dup2(moved_listen, kListenFd) < 0) {
      abandonRole(role.name, "dup2(listen)", errno);
    }
    for (int i = 0; is_worker && i < 3; ++i) {
      if (moved_smtp[i] >= 0 && ::dup2(moved_smtp[i], ipc::kSmtpListenFds[i]) < 0) {
        abandonRole(role.name, "dup2(smtp)", errno);
      }
    }
    // Everything else closes; the executable's descriptor is close-on-exec.
    const unsigned first_free =
        is_worker ? static_cast<unsigned>(ipc::kSmtpListenFds[2]) + 1 : kControlFd + 1;
    const unsigned exe_fd = static_cast<unsigned>(self_exe_fd_);
    ::close_range(first_free, exe_fd - 1, 0);
    ::close_range(exe_fd + 1, ~0U, 0);
    const std::string role_name = role.name;
    const char* argv[] = {self_exe_.c_str(),
                          "--role",
                          role_name.c_str(),
                          "--config",
                          config_path_.c_str(),
                          secret_id_.empty() ? nullptr : kSecretIdFromSupervisorOption,
                          nullptr};
    ::execveat(self_exe_fd_, "", const_cast<char* const*>(argv), environ, AT_EMPTY_PATH);
    const int exec_error = errno;
    log::error("role_start_failed",
               {{"role", role.name}, {"step", "execveat"}, {"error", std::strerror(exec_error)}});
    ::_exit(127);
  }

  // A new keeper<->worker channel, one end to each role.
  bool connectPeers() {
    int peer[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, peer) != 0) return false;
    ipc::Packet message;
    const bool ok = ipc::encodePeerChannel(message) &&
                    ipc::sendPacket(keeper_.control, message, peer[0]) &&
                    ipc::sendPacket(worker_.control, message, peer[1]);
    ::close(peer[0]);
    ::close(peer[1]);
    return ok;
  }

  // Reaps exited children. Returns an exit code to stop with, or -1 to go on.
  int reapChildren() {
    while (true) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return -1;
      Role* role = pid == keeper_.pid ? &keeper_ : pid == worker_.pid ? &worker_ : nullptr;
      // Not a role: as PID 1 (a container, a pod) every orphan in the namespace becomes
      // our child; waitpid(-1) has reaped it, so no zombie stays behind.
      if (role == nullptr) continue;
      role->pid = -1;
      role->last_status = status;
      const RestartDecision decision = role->restarts.onExit(status, Clock::now() - role->started);
      log::warn("role_exited", {{"role", role->name}, {"code", decision.exit_code}});
      if (decision.stop) {
        log::error("role_failed_permanently", {{"role", role->name},
                                               {"message",
                                                "not restarting: fix the cause and "
                                                "start again"}});
        return kExitConfig;
      }
      const auto delay = decision.delay;
      role->restart_at = Clock::now() + delay;
      role->restart_pending = true;
      log::info("role_restart_scheduled",
                {{"role", role->name}, {"in_ms", static_cast<std::int64_t>(delay.count())}});
    }
  }

  // SIGHUP: the roles apply what they can of the new file; a file that does not
  // validate is refused here and everything keeps running as it was.
  void reload() {
    auto fresh = loadConfig(config_path_, !secret_id_.empty());
    if (!fresh) {
      log::error("config_reload_refused", {{"error", fresh.error().message}});
      return;
    }
    log::setMinimumLevel(fresh->process.log_level);
    // The socket belongs to this process and outlives reloads: a new path needs a
    // restart (the roles say so too).
    fresh->listen.socket_path = config_.listen.socket_path;
    fresh->listen.smtp_socket_path = config_.listen.smtp_socket_path;
    fresh->listen.smtp_port = config_.listen.smtp_port;
    std::string keys;
    for (const auto& change : configChanges(config_, *fresh)) {
      keys += (keys.empty() ? "" : ",") + change.key;
      // No role applies it while running (config.cc's table says who applies what).
      if (change.live == reload::kRestart) {
        log::warn("config_restart_required", {{"key", change.key}});
      }
    }
    log::info("config_reload", {{"changed", keys}});
    config_ = std::move(*fresh);
    for (Role* r : {&keeper_, &worker_}) {
      if (r->pid > 0) ::kill(r->pid, SIGHUP);
    }
  }

  bool restartDue() {
    bool restarted = false;
    for (Role* r : {&keeper_, &worker_}) {
      if (r->restart_pending && Clock::now() >= r->restart_at) {
        if (!spawn(*r)) return false;
        log::info("role_restarted", {{"role", r->name}, {"pid", static_cast<int>(r->pid)}});
        restarted = true;
      }
    }
    if (restarted && keeper_.pid > 0 && worker_.pid > 0) return connectPeers();
    return true;
  }

  bool waitFor(Role& role, std::chrono::seconds deadline) {
    const auto until = Clock::now() + deadline;
    while (role.pid > 0 && Clock::now() < until) {
      int status = 0;
      const pid_t pid = ::waitpid(role.pid, &status, WNOHANG);
      if (pid == role.pid) {
        role.pid = -1;
        role.last_status = status;
        return true;
      }
      ::usleep(20000);
    }
    return role.pid <= 0;
  }

  // Worker first (stop accepting, finish sends), then the keeper (revoke leases).
  int shutdown() {
    ::close(listen_fd_);
    ::unlink(config_.listen.socket_path.c_str());
    for (const int fd : smtp_fds_) {
      if (fd >= 0) ::close(fd);
    }
    if (smtp_fds_[0] >= 0) ::unlink(config_.listen.smtp_socket_path.c_str());
    if (worker_.pid > 0) {
      ::kill(worker_.pid, SIGTERM);
      if (!waitFor(worker_, kWorkerStopDeadline)) ::kill(worker_.pid, SIGKILL);
      waitFor(worker_, std::chrono::seconds(5));
    }
    int code = 0;
    if (keeper_.pid > 0) {
      ::kill(keeper_.pid, SIGTERM);
      if (!waitFor(keeper_, kKeeperStopDeadline)) {
        ::kill(keeper_.pid, SIGKILL);
        waitFor(keeper_, std::chrono::seconds(5));
        code = 1;
      } else if (!WIFEXITED(keeper_.last_status) || WEXITSTATUS(keeper_.last_status) != 0) {
        code = 1;  // the keeper could not revoke everything
      }
    }
    if (handoff_fd_ >= 0) ::close(handoff_fd_);  // the keeper has cleared it
    handoff_fd_ = -1;
    log::info("supervisor_stopped", {{"code", code}});
    return code;
  }

  int stopAll(int code) {
    const int shutdown_code = shutdown();
    return code != 0 ? code : shutdown_code;
  }

  std::string self_exe_;
  std::string config_path_;
  Config config_;
  foundation::SecretBytes secret_id_;
  std::optional<RunAs> run_as_;
  Role keeper_{"keeper"};
  Role worker_{"worker"};
  int listen_fd_ = -1;
  int smtp_fds_[3] = {-1, -1, -1};  // SMTP intake: Unix socket, 127.0.0.1, ::1
  int self_exe_fd_ = -1;
  int handoff_fd_ = -1;  // the keeper's hand-off memory (ipc/handoff.h); never mapped here
  pid_t supervisor_pid_ = -1;
};

}  // namespace

int runSupervisor(const std::string& self_exe, const std::string& config_path, const Config& config,
                  foundation::SecretBytes secret_id, const std::optional<RunAs>& run_as) {
  return Supervisor(self_exe, config_path, config, std::move(secret_id), run_as).run();
}

}  // namespace sidecar
