// main.cc: smtp-sidecar entry point. Without --role it is the supervisor, which
// re-executes this binary once per role (keeper, worker); see supervisor.h and roles.h.
//
// SECURITY: takes no secret from argv. role_id and secret_id come from files named in
// the config, or the secret_id from SMTP_SIDECAR_SECRET_ID, which is moved into locked
// memory and wiped from the environment first thing. Every process hardens itself
// (hardening.h) before any secret exists; root only drops to process.user.
// ERRORS: configuration errors print one line naming the cause and exit 78 (EX_CONFIG).
#include <unistd.h>

#include <climits>
#include <csignal>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "foundation/curl_global.h"
#include "foundation/secret.h"
#include "sidecar/base/config.h"
#include "sidecar/base/hardening.h"
#include "sidecar/base/log.h"
#include "sidecar/base/startup_checks.h"
#include "sidecar/doctor/doctor.h"
#include "sidecar/ipc/roles.h"
#include "sidecar/keeper/keeper.h"
#include "sidecar/supervisor/supervisor.h"
#include "sidecar/worker/worker.h"

namespace {

std::string selfExecutable() {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return {};
  return std::string(path, static_cast<std::size_t>(n));
}

}  // namespace

int main(int argc, char** argv) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  // A fuzz build keeps secret bytes on the ordinary heap (foundation/src/secret.cc),
  // so its daemons must never run with real secrets.
  std::fputs("smtp-sidecar: a fuzz build (secrets are not in locked memory): refusing to run\n",
             stderr);
  return 78;  // EX_CONFIG
#endif
  // Before anything else: no core file, no ptrace by the same user, no secret_id left
  // in /proc/PID/environ.
  if (auto hardened = sidecar::hardenProcess(); !hardened) {
    std::cerr << "smtp-sidecar: cannot harden the process: " << hardened.error().message << "\n";
    return 1;
  }
  foundation::initSecretMemoryOrDie();
  auto secret_id_from_environment =
      sidecar::takeSecretFromEnvironment(sidecar::kSecretIdEnvironmentVariable);

  CLI::App app{
      "smtp-sidecar: sends an application's mail with short-lived SMTP credentials "
      "leased from Vault/OpenBao"};
  std::string config_path = "/etc/smtp-sidecar/smtp-sidecar.toml";
  bool check_only = false;
  std::string role;
  bool secret_id_from_supervisor = false;
  app.add_option("-c,--config", config_path, "TOML configuration file")->capture_default_str();
  app.add_flag("--check-config", check_only, "validate the configuration and exit");
  app.add_option("--role", role, "internal: run one role (started by the supervisor)")
      ->check(CLI::IsMember({"keeper", "worker"}))
      ->group("");  // hidden from --help
  app.add_flag(sidecar::kSecretIdFromSupervisorOption, secret_id_from_supervisor,
               "internal: the keeper receives the secret_id from the supervisor")
      ->group("");
  app.set_version_flag("--version", "smtp-sidecar 0.1.0");
  // `doctor [-c FILE]`: -c falls through to the option above.
  CLI::App* doctor = app.add_subcommand("doctor",
                                        "check the configuration against Vault and the "
                                        "SMTP server step by step, and explain failures");
  // Its own -c, so that `doctor --help` lists it (same variable as the top-level one).
  doctor->add_option("-c,--config", config_path, "TOML configuration file")->capture_default_str();
  doctor->fallthrough();
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGPIPE, SIG_IGN);
  if (*doctor) {
    return sidecar::doctor::run(config_path, std::cout,
                                secret_id_from_environment ? std::move(*secret_id_from_environment)
                                                           : foundation::SecretBytes());
  }

  auto config = sidecar::loadConfig(
      config_path, secret_id_from_environment.has_value() || secret_id_from_supervisor);
  if (!config) {
    sidecar::log::error("config_invalid", {{"error", config.error().message}});
    std::cerr << "smtp-sidecar: " << config.error().message << "\n";
    return sidecar::kExitConfig;
  }
  sidecar::log::setMinimumLevel(config->process.log_level);
  if (check_only) {
    // What start-up would refuse too (root without process.user, a missing CA file, ...),
    // not only what the parser refuses.
    const auto problems = sidecar::startupProblems(*config);
    if (!problems.empty()) {
      for (const auto& p : problems)
        std::cerr << "smtp-sidecar: " << config_path << ": " << p << "\n";
      std::cerr << "smtp-sidecar: configuration " << config_path
                << " parses, but start-up would refuse it\n";
      return sidecar::kExitConfig;
    }
    std::cout << "smtp-sidecar: configuration " << config_path << " is valid\n";
    return 0;
  }
  // A role checks that it runs as its own user; the supervisor resolves process.user.
  const std::string& own_user = role == "keeper"   ? config->process.keeperUser()
                                : role == "worker" ? config->process.workerUser()
                                                   : config->process.user;
  auto run_as = sidecar::resolveRunAs(own_user);
  if (!run_as) {
    sidecar::log::error("refusing_to_start", {{"error", run_as.error().message}});
    std::cerr << "smtp-sidecar: " << run_as.error().message << "\n";
    return sidecar::kExitConfig;
  }
  if (role.empty()) {
    // Without root, the roles can only run as the user who started the sidecar.
    for (const std::string* user : {&config->process.keeperUser(), &config->process.workerUser()}) {
      if (auto r = sidecar::resolveRunAs(*user); !r) {
        sidecar::log::error("refusing_to_start", {{"error", r.error().message}});
        std::cerr << "smtp-sidecar: " << r.error().message << "\n";
        return sidecar::kExitConfig;
      }
    }
  }
  if (!role.empty() && run_as->has_value()) {
    std::cerr << "smtp-sidecar: a role is never started as root\n";
    return sidecar::kExitConfig;
  }
  if (role == "keeper") {
    foundation::initCurlOrDie();
    return sidecar::runKeeper(*config, config_path);
  }
  if (role == "worker") {
    foundation::initCurlOrDie();
    if (config->smtp.tls == sidecar::SmtpTls::None) {
      sidecar::log::warn("insecure_smtp", {{"message",
                                            "smtp.tls = none: the SMTP password "
                                            "crosses the network in clear text"}});
    }
    return sidecar::runWorker(*config, config_path);
  }
  // The supervisor: a file that cannot be read is named now, not found by a role later.
  auto problems = sidecar::fileProblems(*config);
  for (auto& p : sidecar::socketGroupProblems(*config)) problems.push_back(std::move(p));
  if (!problems.empty()) {
    for (const auto& p : problems) {
      sidecar::log::error("refusing_to_start", {{"error", p}});
      std::cerr << "smtp-sidecar: " << p << "\n";
    }
    return sidecar::kExitConfig;
  }
  const std::string self = selfExecutable();
  if (self.empty()) {
    std::perror("smtp-sidecar: cannot find its own executable");
    return 1;
  }
  return sidecar::runSupervisor(self, config_path, *config,
                                secret_id_from_environment ? std::move(*secret_id_from_environment)
                                                           : foundation::SecretBytes(),
                                *run_as);
}
