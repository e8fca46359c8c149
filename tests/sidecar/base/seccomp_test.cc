// seccomp_test.cc: each role's filter, installed in a forked child that then tries
// what its role may and may not do. The parent reads the child's fate: exit codes for
// calls that returned, SIGSYS for calls the filter kills.
#include "sidecar/base/seccomp.h"

#include <doctest/doctest.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <thread>

using sidecar::SeccompRole;

namespace {

// Runs `body` in a child confined to `role`; returns the raw wait status.
int inConfinedChild(SeccompRole role, const std::function<int()>& body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(90);
    if (!sidecar::installSeccompFilter(role).ok()) ::_exit(91);
    ::_exit(body());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

bool exitedWith(int status, int code) {
  return WIFEXITED(status) && WEXITSTATUS(status) == code;
}
bool killedBySigsys(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

}  // namespace

TEST_CASE("a role's filter allows what the role does") {
  for (auto role : {SeccompRole::Keeper, SeccompRole::Worker, SeccompRole::Supervisor}) {
    CAPTURE(sidecar::toString(role));
    const int status = inConfinedChild(role, [] {
      int fds[2];
      if (::pipe(fds) != 0) return 1;
      if (::write(fds[1], "x", 1) != 1) return 2;
      char c = 0;
      if (::read(fds[0], &c, 1) != 1 || c != 'x') return 3;
      // A thread (libcurl's resolver): clone3 says ENOSYS, glibc falls back to clone.
      bool ran = false;
      std::thread([&] { ran = true; }).join();
      return ran ? 0 : 4;
    });
    CHECK(exitedWith(status, 0));
  }
}

TEST_CASE("a role installs its filter under the supervisor's, as it does after exec") {
  for (auto role : {SeccompRole::Keeper, SeccompRole::Worker}) {
    CAPTURE(sidecar::toString(role));
    CHECK(exitedWith(inConfinedChild(SeccompRole::Supervisor,
                                     [role] {
                                       if (!sidecar::installSeccompFilter(role).ok()) return 1;
                                       return ::getpid() > 0 ? 0 : 2;
                                     }),
                     0));
  }
}

TEST_CASE("calls outside the list fail with EPERM") {
  const int status = inConfinedChild(SeccompRole::Worker, [] {
    const long rc = ::syscall(SYS_sethostname, "x", 1);
    return rc == -1 && errno == EPERM ? 0 : 1;
  });
  CHECK(exitedWith(status, 0));
}

TEST_CASE("the roles die on exec, ptrace and new processes") {
  for (auto role : {SeccompRole::Keeper, SeccompRole::Worker}) {
    CAPTURE(sidecar::toString(role));
    CHECK(killedBySigsys(inConfinedChild(role, [] {
      const char* argv[] = {"/bin/true", nullptr};
      ::execv("/bin/true", const_cast<char* const*>(argv));
      return 1;
    })));
    CHECK(killedBySigsys(inConfinedChild(role, [] {
      (void)::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      return 1;
    })));
    CHECK(killedBySigsys(inConfinedChild(role, [] {
      const pid_t child = ::fork();  // clone without CLONE_THREAD
      if (child == 0) ::_exit(0);
      return 1;
    })));
    CHECK(killedBySigsys(inConfinedChild(role, [] {
      (void)::setuid(0);
      return 1;
    })));
  }
}

TEST_CASE("the supervisor may fork but not trace") {
  CHECK(exitedWith(inConfinedChild(SeccompRole::Supervisor,
                                   [] {
                                     const pid_t child = ::fork();
                                     if (child == 0) ::_exit(7);
                                     int status = 0;
                                     if (::waitpid(child, &status, 0) != child) return 1;
                                     return exitedWith(status, 7) ? 0 : 2;
                                   }),
                   0));
  CHECK(killedBySigsys(inConfinedChild(SeccompRole::Supervisor, [] {
    (void)::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    return 1;
  })));
}
