// worker_test_config.h: the config the worker room's in-process tests run with: a
// Vault that is never asked (the keeper link stays unconnected), plaintext SMTP to the
// discard port (never reached: no credential), the given [listen] lines.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "sidecar/base/config.h"

namespace workertest {

inline sidecar::Config configWith(const std::string& socket_path, const std::string& listen) {
  auto config = sidecar::parseConfig(R"(
[vault]
address = "https://127.0.0.1:8200"
role_id_file = "/run/sidecar/role_id"
secret_id_file = "/run/sidecar/secret_id"
credential_path = "smtp/creds/app"

[smtp]
host = "127.0.0.1"
port = 9
tls = "none"
allow_insecure = true

[listen]
socket = ")" + socket_path + "\"\n" + listen,
                                     {});
  REQUIRE_MESSAGE(config.ok(), config.errorMessage());
  return *config;
}

}  // namespace workertest
