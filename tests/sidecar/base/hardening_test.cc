// hardening_test.cc: the process limits, the run-as rules and the environment secret.
#include "sidecar/base/hardening.h"

#include <doctest/doctest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

using sidecar::hardenProcess;
using sidecar::resolveRunAs;
using sidecar::takeSecretFromEnvironment;

TEST_CASE("hardenProcess: no core, not dumpable, no new privileges, umask 077") {
  // In a child, so the test runner itself stays debuggable.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!hardenProcess()) ::_exit(10);
    rlimit core{};
    if (::getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0)
      ::_exit(11);
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(12);
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) ::_exit(13);
    if (::umask(0) != 077) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("resolveRunAs: root must name a user, and never root itself") {
  if (::geteuid() != 0) {
    // Not root: naming no user is fine, naming another user cannot be honoured.
    auto none = resolveRunAs("");
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    CHECK_FALSE(resolveRunAs("nobody"));
    return;
  }
  auto refused = resolveRunAs("");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("refusing to run as root") != std::string::npos);
  CHECK(resolveRunAs("root").error().message.find("must not be root") != std::string::npos);
  CHECK(resolveRunAs("no-such-user-xyz").error().message.find("no such user") != std::string::npos);
  auto nobody = resolveRunAs("nobody");
  REQUIRE(nobody);
  REQUIRE(nobody->has_value());
  CHECK((*nobody)->user == "nobody");
  CHECK((*nobody)->uid != 0);
}

TEST_CASE("a secret in the environment is moved into locked memory and wiped") {
  foundation::initSecretMemoryOrDie();
  REQUIRE(::setenv("SMTP_SIDECAR_TEST_SECRET", "s3cr3t-value", 1) == 0);
  char* in_environment = std::getenv("SMTP_SIDECAR_TEST_SECRET");
  REQUIRE(in_environment != nullptr);
  auto taken = takeSecretFromEnvironment("SMTP_SIDECAR_TEST_SECRET");
  REQUIRE(taken.has_value());
  CHECK(taken->equals("s3cr3t-value"));
  CHECK(std::getenv("SMTP_SIDECAR_TEST_SECRET") == nullptr);
  // glibc keeps setenv's "NAME=value" string allocated after unsetenv: all zero now.
  const std::size_t name_length = std::strlen("SMTP_SIDECAR_TEST_SECRET=");
  CHECK(std::string(in_environment - name_length, name_length + 12) ==
        std::string(name_length + 12, '\0'));
  CHECK_FALSE(takeSecretFromEnvironment("SMTP_SIDECAR_TEST_SECRET").has_value());
}
