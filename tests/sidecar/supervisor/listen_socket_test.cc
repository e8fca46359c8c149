// listen_socket_test.cc: the client socket the supervisor creates (listen_socket.h), in a
// temporary directory as an ordinary user: its mode and group, a stale socket replaced,
// a file that is not a socket left alone, an unknown group refused with nothing left.
#include "sidecar/supervisor/listen_socket.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "listen-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

bool connects(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

sidecar::ListenSettings at(const std::string& path, std::uint32_t mode,
                           const std::string& group = "") {
  sidecar::ListenSettings s;
  s.socket_path = path;
  s.socket_mode = mode;
  s.socket_group = group;
  return s;
}

}  // namespace

TEST_CASE("resolveGroup: a number is a gid as it stands; a name is looked up") {
  const struct {
    std::string name;
    bool ok;
    gid_t want;
  } rows[] = {
      {"0", true, 0},
      {"10000", true, 10000},
      {"4294967294", true, 4294967294U},
      {"4294967295", false, 0},   // (gid_t)-1 means "unchanged" to chown: refused
      {"99999999999", false, 0},  // out of range
      {"root", true, 0},          // from the group database
      {"no-such-group-for-sure", false, 0},
      {"12ab", false, 0},  // not a number, and no such name
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    gid_t out = 12345;
    CHECK(sidecar::resolveGroup(row.name, out) == row.ok);
    CHECK(out == (row.ok ? row.want : 12345));
  }
}

TEST_CASE("createListenSocket: listening, with the mode and group asked for") {
  TempDir dir;
  const std::string own_gid = std::to_string(::getegid());
  const struct {
    std::uint32_t mode;
    std::string group;
  } rows[] = {{0600, ""}, {0660, own_gid}, {0666, ""}};
  for (const auto& row : rows) {
    CAPTURE(row.mode);
    const std::string path = dir.path + "/s";
    const int fd = sidecar::createListenSocket(at(path, row.mode, row.group));
    REQUIRE(fd >= 0);
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == row.mode);
    CHECK(st.st_gid == ::getegid());
    CHECK(connects(path));
    ::close(fd);  // the file stays: the next row's call finds it stale and replaces it
  }
}

TEST_CASE("createListenSocket: refusals leave what is at the path as it was") {
  TempDir dir;
  // A regular file at the path (a typo in listen.socket?) is not a socket: never removed.
  const std::string file = dir.path + "/file";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  CHECK(sidecar::createListenSocket(at(file, 0660)) == -1);
  CHECK(fs::is_regular_file(file));

  // An unknown group: refused, and the socket just bound is removed again.
  const std::string sock = dir.path + "/s";
  CHECK(sidecar::createListenSocket(at(sock, 0660, "no-such-group-for-sure")) == -1);
  CHECK_FALSE(fs::exists(fs::symlink_status(sock)));

  // A directory that does not exist, and a path too long for sun_path.
  CHECK(sidecar::createListenSocket(at(dir.path + "/none/s", 0660)) == -1);
  CHECK(sidecar::createListenSocket(at(dir.path + "/" + std::string(120, 'x'), 0660)) == -1);
  CHECK(sidecar::createListenSocket(at("", 0660)) == -1);
}
