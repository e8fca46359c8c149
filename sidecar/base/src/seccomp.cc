// seccomp.cc: the per-role system-call filters (see seccomp.h).
//
// SECURITY: allowlists. They were read off strace of the end-to-end suites (every
// role's calls while sending, retrying, reloading on SIGHUP, serving /metrics and
// stopping), plus what the same code needs on paths those runs do not take but a
// deployment does: threads for libcurl's resolver (a Vault or SMTP host name),
// name-service lookups, and the file calls of the audit log and the spool (fsync,
// rename, directory listing). Filters stack: a role runs under the supervisor's filter
// as well as its own, so the supervisor's list is the union and each role's is its own.
// ERRORS: Permanent errors naming the step; a role that cannot confine itself exits.
#include "sidecar/base/seccomp.h"

#include <sched.h>
#include <seccomp.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

namespace sidecar {
namespace {

// Everything a role built on glibc, libsodium, OpenSSL, libcurl and Asio does.
constexpr const char* kCommon[] = {
    // memory (sodium_malloc: mmap, mprotect guard pages, mlock, madvise DONTDUMP)
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "mlock",
    "mlock2",
    "munlock",
    "mincore",
    "membarrier",
    // threads and time (libcurl's resolver thread; glibc's clone3 gets ENOSYS and falls
    // back to clone, whose flags the filter can check)
    "futex",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "set_tid_address",
    "gettid",
    "sched_yield",
    "sched_getaffinity",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "exit",
    "exit_group",
    "restart_syscall",
    // signals
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "sigaltstack",
    "signalfd4",
    "tgkill",
    "tkill",
    "getpid",
    "getppid",
    // identity (read only)
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "capget",
    "prctl",
    "prlimit64",
    "getrlimit",
    "sysinfo",
    "uname",
    "getrusage",
    "times",
    "getrandom",
    "arch_prctl",
    // a role adds its own filter under the supervisor's (only ever narrowing)
    "seccomp",
    // files: configuration, CA bundles, secret files, audit log, spool
    "openat",
    "open",
    "close",
    "close_range",
    "read",
    "readv",
    "pread64",
    "write",
    "writev",
    "pwrite64",
    "lseek",
    "fstat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getcwd",
    "getdents64",
    "fcntl",
    "dup",
    "dup2",
    "dup3",
    "pipe2",
    "fsync",
    "fdatasync",
    "sync_file_range",  // the spool's group commit (sidecar/worker/spool/committer.h)
    "ftruncate",
    "rename",
    "renameat",
    "renameat2",
    "link",  // the spool's set-aside where renameat2 has no RENAME_NOREPLACE (store.cc)
    "linkat",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "fchmod",
    "fchmodat",
    "umask",
    "flock",
    "ioctl",
    // sockets and the event loop
    "socket",
    "socketpair",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "shutdown",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "eventfd2",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
};

// Only the supervisor: it creates the socket, drops root, starts and reaps the roles.
constexpr const char* kSupervisorOnly[] = {
    "chmod",    "chown",  "fchown", "fchownat",  "wait4",     "waitid",    "kill",
    "execveat", "setuid", "setgid", "setgroups", "setresuid", "setresgid", "capset",
};

// What a compromised process could use to run other code or reach other processes:
// it dies at once (SIGSYS) instead of getting an error it might retry. In every
// process, the supervisor included:
constexpr const char* kKillEverywhere[] = {
    "execve",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "setns",
    "unshare",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "open_by_handle_at",
    "kcmp",
};
// And in the keeper and the worker, which neither start processes nor change users
// (the supervisor does both when it starts them):
constexpr const char* kKillInRolesToo[] = {
    "execveat",  "fork",   "vfork",  "setuid",  "setgid",      "setgroups",   "setresuid",
    "setresgid", "capset", "keyctl", "add_key", "request_key", "personality", "name_to_handle_at",
};

struct FilterDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

foundation::Error failed(const char* step, int rc, std::string_view name = {}) {
  std::string message = std::string("seccomp: ") + step;
  if (!name.empty()) message += "(" + std::string(name) + ")";
  return foundation::Error::permanent(message + ": " + std::strerror(-rc));
}

// A name this libseccomp or architecture does not know is skipped: it cannot be called
// here either.
foundation::Status addRule(scmp_filter_ctx ctx, std::uint32_t action, const char* name) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return {};
  if (int rc = seccomp_rule_add(ctx, action, nr, 0); rc < 0 && rc != -EEXIST) {
    return failed("rule_add", rc, name);
  }
  return {};
}

}  // namespace

const char* toString(SeccompRole role) noexcept {
  switch (role) {
    case SeccompRole::Supervisor:
      return "supervisor";
    case SeccompRole::Keeper:
      return "keeper";
    case SeccompRole::Worker:
      return "worker";
  }
  return "?";
}

foundation::Status installSeccompFilter(SeccompRole role) {
  std::unique_ptr<std::remove_pointer_t<scmp_filter_ctx>, FilterDeleter> ctx(
      seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  if (!ctx) return foundation::Error::permanent("seccomp: init failed");
  const bool supervisor = role == SeccompRole::Supervisor;
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc < 0) {
    return failed("attr_set(TSYNC)", rc);
  }
  auto add = [&](std::uint32_t action, const auto& names) -> foundation::Status {
    for (const char* name : names) {
      if (auto s = addRule(ctx.get(), action, name); !s) return s;
    }
    return {};
  };
  if (auto s = add(SCMP_ACT_ALLOW, kCommon); !s) return s;
  if (supervisor) {
    if (auto s = add(SCMP_ACT_ALLOW, kSupervisorOnly); !s) return s;
  }
  if (auto s = add(SCMP_ACT_KILL_PROCESS, kKillEverywhere); !s) return s;
  if (!supervisor) {
    if (auto s = add(SCMP_ACT_KILL_PROCESS, kKillInRolesToo); !s) return s;
  }
  // clone: threads everywhere; new processes only from the supervisor (which forks the
  // roles). clone3 passes its flags in memory the filter cannot read: ENOSYS makes
  // glibc use clone instead.
  if (supervisor) {
    if (auto s = addRule(ctx.get(), SCMP_ACT_ALLOW, "clone"); !s) return s;
  } else {
    // (No SCMP_A0 here: its compound literal is C, not C++.)
    const int nr = seccomp_syscall_resolve_name("clone");
    const scmp_arg_cmp thread{0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD};
    const scmp_arg_cmp process{0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0};
    if (int rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_ALLOW, nr, 1, &thread); rc < 0) {
      return failed("rule_add", rc, "clone");
    }
    if (int rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_KILL_PROCESS, nr, 1, &process);
        rc < 0) {
      return failed("rule_add", rc, "clone");
    }
  }
  if (const int nr = seccomp_syscall_resolve_name("clone3"); nr != __NR_SCMP_ERROR) {
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), nr, 0); rc < 0) {
      return failed("rule_add", rc, "clone3");
    }
  }
  if (int rc = seccomp_load(ctx.get()); rc < 0) return failed("load", rc);
  return {};
}

}  // namespace sidecar
