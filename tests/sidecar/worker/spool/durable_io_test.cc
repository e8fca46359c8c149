// durable_io_test.cc: the spool's shared file steps (durable_io.h, private to the
// spool room, used by the committer and the store): which errno reads as a full disk,
// a directory's fsync and what its failure names, the owned descriptor.
#include "durable_io.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

using namespace sidecar::spool::detail;
namespace fs = std::filesystem;

TEST_CASE("ioError: a full disk or quota is named, every errno is Temporary") {
  const struct {
    int err;
    const char* prefix;
  } rows[] = {
      {ENOSPC, "spool disk full: write /s/x: "},
      {EDQUOT, "spool disk full: write /s/x: "},
      {EIO, "spool: write /s/x: "},
      {EACCES, "spool: write /s/x: "},
  };
  for (const auto& row : rows) {
    CAPTURE(row.err);
    const auto e = ioError("write /s/x", row.err);
    CHECK((e.kind == foundation::ErrorKind::Temporary));
    CHECK(e.message.rfind(row.prefix, 0) == 0);
    CHECK(e.message.size() > std::string(row.prefix).size());  // strerror's words follow
  }
}

TEST_CASE("syncDirectory: a directory syncs; a missing one or a file names the open") {
  std::string pattern = (fs::temp_directory_path() / "durable-io-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  const std::string dir = pattern;
  CHECK(syncDirectory(dir).ok());

  const auto missing = syncDirectory(dir + "/none");
  REQUIRE_FALSE(missing.ok());
  CHECK((missing.error().kind == foundation::ErrorKind::Temporary));
  CHECK(missing.error().message.find("open " + dir + "/none") != std::string::npos);

  const std::string file = dir + "/plain";
  { Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)); }
  const auto not_dir = syncDirectory(file);  // O_DIRECTORY refuses it: ENOTDIR
  REQUIRE_FALSE(not_dir.ok());
  CHECK(not_dir.error().message.find("open " + file) != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("Fd: close() reports and releases; the destructor closes what is left") {
  int raw[2];
  REQUIRE(::pipe(raw) == 0);
  {
    Fd read_end(raw[0]);
    Fd write_end(raw[1]);
    CHECK(write_end.close() == 0);
    CHECK(write_end.get() == -1);
    CHECK(::fcntl(raw[1], F_GETFD) == -1);  // gone now, not at scope end
  }
  CHECK(::fcntl(raw[0], F_GETFD) == -1);  // closed by the destructor
}
