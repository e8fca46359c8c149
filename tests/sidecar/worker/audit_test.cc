// audit_test.cc: the audit line's exact form, and the file's mode and appending.
#include "sidecar/worker/audit.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace sidecar::audit;
using namespace std::chrono_literals;

namespace {

Record sample() {
  Record r;
  // 2026-11-27T11:44:58.123Z
  r.time = std::chrono::system_clock::time_point{} + 1795779898s + 123ms;
  r.uid = 1000;
  r.pid = 4242;
  r.profile = "web";
  r.sender = "noreply@example.org";
  r.recipients = 2;
  r.bytes = 1234;
  r.message_id = "abc.123@example.org";
  r.outcome = "accepted";
  r.smtp_code = 250;
  r.smtp_text = "2.0.0 Ok: queued as 4Xy\"z";
  r.lease_id = "smtp/creds/web/AbC";
  return r;
}

}  // namespace

TEST_CASE("the audit line, exactly") {
  CHECK(formatLine(sample()) ==
        R"({"event":"audit","time":"2026-11-27T11:44:58.123Z","uid":1000,"pid":4242,)"
        R"("profile":"web","id":"","sender":"noreply@example.org","recipients":2,"bytes":1234,)"
        R"("message_id":"abc.123@example.org","outcome":"accepted","smtp_code":250,)"
        R"("smtp_text":"2.0.0 Ok: queued as 4Xy\"z","lease_id":"smtp/creds/web/AbC"})");
}

TEST_CASE("control characters are escaped, so one record stays one line") {
  Record r = sample();
  r.smtp_text = "line1\r\nline2";
  const auto line = formatLine(r);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find("line1\\r\\nline2") != std::string::npos);
}

TEST_CASE("RFC 3339 UTC times") {
  CHECK(rfc3339(std::chrono::system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  CHECK(rfc3339(std::chrono::system_clock::time_point{} + 951782400s + 5ms) ==
        "2000-02-29T00:00:00.005Z");
}

TEST_CASE("the audit file is created 0600, appended to, and reopened after rotation") {
  char dir_template[] = "/tmp/audit-test-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/audit.log";
  {
    Log log;
    REQUIRE(log.open(path).ok());
    log.write(sample());
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    // Rotation: the file is moved away, SIGHUP reopens the path.
    REQUIRE(::rename(path.c_str(), (path + ".1").c_str()) == 0);
    REQUIRE(log.reopen(path).ok());
    log.write(sample());
    log.write(sample());
    CHECK_FALSE(log.open(dir + "/missing/audit.log").ok());  // the old file stays in use
    log.write(sample());
  }
  auto lines = [](const std::string& p) {
    std::ifstream in(p);
    int n = 0;
    for (std::string line; std::getline(in, line);) {
      CHECK(line == formatLine(sample()));
      ++n;
    }
    return n;
  };
  CHECK(lines(path + ".1") == 1);
  CHECK(lines(path) == 3);
  ::unlink(path.c_str());
  ::unlink((path + ".1").c_str());
  ::rmdir(dir.c_str());
}
