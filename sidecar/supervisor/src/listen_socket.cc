// listen_socket.cc: see listen_socket.h.
//
// SECURITY: see listen_socket.h (umask 0777 while binding, group before mode).
// ERRORS: every C call is checked; failures are logged with the socket's path.
#include "sidecar/supervisor/listen_socket.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sidecar/base/log.h"

namespace sidecar {

bool resolveGroup(const std::string& name, gid_t& out) {
  if (name.find_first_not_of("0123456789") == std::string::npos) {
    errno = 0;
    char* end = nullptr;
    const unsigned long value = std::strtoul(name.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || value >= 4294967295UL) return false;
    out = static_cast<gid_t>(value);
    return true;
  }
  std::vector<char> buffer(16384);
  struct group entry {};
  struct group* found = nullptr;
  if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return false;
  }
  out = found->gr_gid;
  return true;
}

// The Unix socket clients connect to, created once for all worker generations.
int createListenSocket(const ListenSettings& settings) {
  const std::string& path = settings.socket_path;
  // parseConfig refuses longer paths; checked here too, as sun_path is a fixed array.
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    log::error("listen_failed", {{"socket", path}, {"error", "not a usable Unix socket path"}});
    return -1;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      log::error("listen_failed", {{"socket", path}, {"error", "exists and is not a socket"}});
      return -1;
    }
    ::unlink(path.c_str());  // a stale socket from an earlier run
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // No permissions until chmod: no window in which another user could connect.
  const mode_t old_mask = ::umask(0777);
  const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  gid_t gid = static_cast<gid_t>(-1);  // chown's "unchanged"
  if (!settings.socket_group.empty() && !resolveGroup(settings.socket_group, gid)) {
    log::error("listen_failed",
               {{"socket", path}, {"error", "unknown group " + settings.socket_group}});
    ::close(fd);
    if (bound == 0) ::unlink(path.c_str());
    return -1;
  }
  // The group first, then the mode: members of the group get access only once both
  // are in place (the mode is 0 until chmod).
  if (bound != 0 || ::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0 ||
      ::chmod(path.c_str(), static_cast<mode_t>(settings.socket_mode)) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    log::error("listen_failed", {{"socket", path}, {"error", std::strerror(errno)}});
    ::close(fd);
    return -1;
  }
  return fd;
}

// Who may connect: the socket's owner, group and mode as the file system has them, so an
// operator sees at start which users' group the app must be in.
void logSocketReady(const ListenSettings& settings) {
  struct stat st {};
  if (::stat(settings.socket_path.c_str(), &st) != 0) return;
  std::string group = std::to_string(st.st_gid);
  std::vector<char> buffer(16384);
  struct group entry {};
  struct group* found = nullptr;
  if (::getgrgid_r(st.st_gid, &entry, buffer.data(), buffer.size(), &found) == 0 &&
      found != nullptr) {
    group = found->gr_name;
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  const bool group_may = (st.st_mode & S_IWGRP) != 0;
  log::info("socket_ready",
            {{"socket", settings.socket_path},
             {"uid", static_cast<std::int64_t>(st.st_uid)},
             {"group", group},
             {"mode", std::string(mode)},
             {"detail", group_may ? "members of group " + group +
                                        " (and its owner) may connect; set listen.socket_group "
                                        "to the app users' group"
                                  : std::string("only the socket's owner may connect")}});
}

}  // namespace sidecar
