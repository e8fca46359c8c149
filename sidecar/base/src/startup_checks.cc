// startup_checks.cc: see startup_checks.h.
//
// SECURITY: files are opened read-only and closed unread (symlinks are followed: a
// symlinked CA bundle is normal); directories are checked with access(2) for the real user
// running the check, which is the user start-up runs as unless root drops to
// process.user (then the files are checked as root: doctor, run as that user, tells).
// ERRORS: every problem names the setting and the path, with strerror's reason.
#include "sidecar/base/startup_checks.h"

#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sidecar/base/hardening.h"

namespace sidecar {
namespace {

std::string directoryOf(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void checkReadable(std::vector<std::string>& problems, const char* key, const std::string& path) {
  if (path.empty()) return;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    problems.push_back(std::string(key) + " " + path + ": " + std::strerror(errno));
    return;
  }
  ::close(fd);
}

void checkWritableDirectory(std::vector<std::string>& problems, const char* key,
                            const std::string& file) {
  if (file.empty()) return;
  const std::string dir = directoryOf(file);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    problems.push_back(std::string(key) + " " + file + ": directory " + dir + ": " +
                       std::strerror(errno));
  }
}

}  // namespace

std::vector<std::string> fileProblems(const Config& config) {
  std::vector<std::string> problems;
  checkReadable(problems, "vault.ca_file", config.vault.ca_file);
  checkReadable(problems, "vault.role_id_file", config.vault.role_id_file);
  if (!config.vault.secret_id_from_environment) {
    checkReadable(problems, "vault.secret_id_file", config.vault.secret_id_file);
  }
  if (config.smtp.tls != SmtpTls::None)
    checkReadable(problems, "smtp.ca_file", config.smtp.ca_file);
  for (const auto& client : config.oauth2) {
    const std::string key = "oauth2[" + client.name + "].ca_file";
    checkReadable(problems, key.c_str(), client.ca_file);  // "" (the system's): nothing
  }
  checkWritableDirectory(problems, "listen.socket", config.listen.socket_path);
  checkWritableDirectory(problems, "audit.file", config.audit.file);
  return problems;
}

std::vector<std::string> socketGroupProblems(const Config& config) {
  const std::string& name = config.listen.socket_group;
  if (name.empty() || name.find_first_not_of("0123456789") == std::string::npos) return {};
  std::vector<char> buffer(16384);
  struct group entry {};
  struct group* found = nullptr;
  const int rc = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0) {
    return {"listen.socket_group " + name + ": cannot look it up: " + std::strerror(rc)};
  }
  if (found == nullptr) return {"listen.socket_group " + name + ": no such group"};
  return {};
}

std::vector<std::string> startupProblems(const Config& config) {
  std::vector<std::string> problems;
  if (auto run_as = resolveRunAs(config.process.user); !run_as) {
    problems.push_back(run_as.error().message);
  }
  for (auto& p : socketGroupProblems(config)) problems.push_back(std::move(p));
  for (auto& p : fileProblems(config)) problems.push_back(std::move(p));
  return problems;
}

}  // namespace sidecar
