// startup_checks_test.cc: what --check-config and the supervisor refuse before starting,
// each problem naming its setting and path. Works on files in a temporary directory.
#include "sidecar/base/startup_checks.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "startup-checks.XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const {
    std::ofstream(path / name) << "x\n";
    return (path / name).string();
  }
};

bool mentions(const std::vector<std::string>& problems, const std::string& a,
              const std::string& b) {
  for (const auto& p : problems) {
    if (p.find(a) != std::string::npos && p.find(b) != std::string::npos) return true;
  }
  return false;
}

sidecar::Config configIn(const TempDir& dir) {
  sidecar::Config c;
  c.vault.ca_file = dir.file("vault-ca.pem");
  c.vault.role_id_file = dir.file("role_id");
  c.vault.secret_id_file = dir.file("secret_id");
  c.smtp.tls = sidecar::SmtpTls::StartTls;
  c.smtp.ca_file = dir.file("mail-ca.pem");
  c.listen.socket_path = (dir.path / "smtp.sock").string();
  c.audit.file = (dir.path / "audit.log").string();
  return c;
}

}  // namespace

TEST_CASE("every file start-up reads or writes beside is checked, and a problem names it") {
  TempDir dir;
  const std::string missing = (dir.path / "missing.pem").string();
  struct Case {
    const char* name;
    void (*change)(sidecar::Config&, const std::string& missing);
    const char* key;  // the problem names this key and the missing path
  };
  const Case cases[] = {
      {"vault CA", [](sidecar::Config& c, const std::string& m) { c.vault.ca_file = m; },
       "vault.ca_file"},
      {"role_id", [](sidecar::Config& c, const std::string& m) { c.vault.role_id_file = m; },
       "vault.role_id_file"},
      {"secret_id", [](sidecar::Config& c, const std::string& m) { c.vault.secret_id_file = m; },
       "vault.secret_id_file"},
      {"smtp CA", [](sidecar::Config& c, const std::string& m) { c.smtp.ca_file = m; },
       "smtp.ca_file"},
      {"socket directory",
       [](sidecar::Config& c, const std::string& m) { c.listen.socket_path = m + "/smtp.sock"; },
       "listen.socket"},
      {"audit directory",
       [](sidecar::Config& c, const std::string& m) { c.audit.file = m + "/audit.log"; },
       "audit.file"},
  };
  CHECK(sidecar::fileProblems(configIn(dir)).empty());
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto config = configIn(dir);
      c.change(config, missing);
      const auto problems = sidecar::fileProblems(config);
      CHECK(problems.size() == 1);
      CAPTURE(problems);
      CHECK(mentions(problems, c.key, missing));
      CHECK(mentions(problems, c.key, "No such file or directory"));
    }
  }
}

TEST_CASE("files that start-up does not read are not required") {
  TempDir dir;
  auto config = configIn(dir);
  config.vault.ca_file.clear();  // http:// or the system's CAs
  config.audit.file.clear();     // stderr
  config.vault.secret_id_file = (dir.path / "not-there").string();
  config.vault.secret_id_from_environment = true;
  config.smtp.tls = sidecar::SmtpTls::None;
  config.smtp.ca_file = (dir.path / "not-there-either").string();
  CHECK(sidecar::fileProblems(config).empty());
}

TEST_CASE("listen.socket_group must name an existing group") {
  sidecar::Config config;
  config.listen.socket_group = "no-such-group-for-this-test";
  const auto problems = sidecar::socketGroupProblems(config);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "listen.socket_group no-such-group-for-this-test: no such group");
  config.listen.socket_group = "root";
  CHECK(sidecar::socketGroupProblems(config).empty());
  config.listen.socket_group = "4242";  // a gid needs no entry in the group database
  CHECK(sidecar::socketGroupProblems(config).empty());
}

TEST_CASE("startupProblems includes the user check --check-config used to skip") {
  TempDir dir;
  auto config = configIn(dir);
  const auto problems = sidecar::startupProblems(config);
  if (::geteuid() == 0) {
    // Root without process.user: start-up refuses, so --check-config must too.
    CHECK(mentions(problems, "refusing to run as root", "process.user"));
    config.process.user = "no-such-user-for-this-test";
    CHECK(mentions(sidecar::startupProblems(config), "process.user", "no such user"));
  } else {
    CHECK(problems.empty());
  }
}
