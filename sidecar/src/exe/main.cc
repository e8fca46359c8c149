// main.cc: smtp-sidecar entry point. Without --role it is the supervisor, which
// re-executes this binary once per role (keeper, worker); see supervisor.h and roles.h.
//
// SECURITY: takes no secret from argv or the environment: role_id and secret_id come
// from files named in the config. Core dumps are disabled and the process is made
// non-dumpable before any secret exists, in every role.
// ERRORS: configuration errors print one line naming the cause and exit 78 (EX_CONFIG).
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "sidecar/config.h"
#include "sidecar/log.h"
#include "sidecar/roles.h"
#include "sidecar/supervisor.h"
#include "vault/curl_global.h"
#include "vault/secret.h"

namespace {

void disableCoreDumps() {
  // Secrets live in this process's memory: never let it end up in a core file, and
  // keep other processes of the same user from ptrace-attaching or reading /proc/PID/mem.
  rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0 || ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    std::perror("smtp-sidecar: cannot disable core dumps");
    std::exit(1);
  }
}

std::string selfExecutable() {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return {};
  return std::string(path, static_cast<std::size_t>(n));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"smtp-sidecar: sends an application's mail with short-lived SMTP credentials "
               "leased from Vault/OpenBao"};
  std::string config_path = "/etc/smtp-sidecar/smtp-sidecar.toml";
  bool check_only = false;
  std::string role;
  app.add_option("-c,--config", config_path, "TOML configuration file")->capture_default_str();
  app.add_flag("--check-config", check_only, "validate the configuration and exit");
  app.add_option("--role", role, "internal: run one role (started by the supervisor)")
      ->check(CLI::IsMember({"keeper", "worker"}))
      ->group("");  // hidden from --help
  app.set_version_flag("--version", "smtp-sidecar 0.1.0");
  CLI11_PARSE(app, argc, argv);

  disableCoreDumps();
  std::signal(SIGPIPE, SIG_IGN);
  vault::initSecretMemoryOrDie();

  auto config = sidecar::loadConfig(config_path);
  if (!config) {
    sidecar::log::error("config_invalid", {{"error", config.error().message}});
    std::cerr << "smtp-sidecar: " << config.error().message << "\n";
    return sidecar::kExitConfig;
  }
  if (check_only) {
    std::cout << "smtp-sidecar: configuration " << config_path << " is valid\n";
    return 0;
  }
  if (role == "keeper") {
    vault::initCurlOrDie();
    return sidecar::runKeeper(*config, config_path);
  }
  if (role == "worker") {
    vault::initCurlOrDie();
    if (config->smtp.tls == sidecar::SmtpTls::None) {
      sidecar::log::warn("insecure_smtp", {{"message", "smtp.tls = none: the SMTP password "
                                                       "crosses the network in clear text"}});
    }
    return sidecar::runWorker(*config, config_path);
  }
  const std::string self = selfExecutable();
  if (self.empty()) {
    std::perror("smtp-sidecar: cannot find its own executable");
    return 1;
  }
  return sidecar::runSupervisor(self, config_path, *config);
}
