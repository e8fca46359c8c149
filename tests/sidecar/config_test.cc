// config_test.cc: TOML + environment parsing of the sidecar configuration.
#include "sidecar/config.h"

#include <doctest/doctest.h>

namespace {

using sidecar::Environment;
using sidecar::parseConfig;
using sidecar::SmtpTls;

const char* kValid = R"(
[vault]
address = "https://127.0.0.1:8200"
ca_file = "/etc/ssl/vault-ca.pem"
role_id_file = "/run/sidecar/role_id"
secret_id_file = "/run/sidecar/secret_id"
credential_path = "database/creds/example-app"

[smtp]
host = "127.0.0.1"
ca_file = "/etc/ssl/mail-ca.pem"

[listen]
socket = "/run/sidecar/smtp.sock"
)";

}  // namespace

TEST_CASE("a valid config parses with defaults filled in") {
  auto got = parseConfig(kValid, {});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->vault.address == "https://127.0.0.1:8200");
  CHECK(got->vault.approle_mount == "approle");
  CHECK(got->vault.credential_path == "database/creds/example-app");
  CHECK((got->smtp.tls == SmtpTls::StartTls));
  CHECK(got->smtp.port == 587);
  CHECK(got->listen.socket_mode == 0660);
  CHECK(got->listen.max_message_bytes == 25u << 20);
}

TEST_CASE("environment variables override the file") {
  Environment env{{"SMTP_SIDECAR_SMTP_PORT", "2587"},
                  {"SMTP_SIDECAR_VAULT_ADDRESS", "http://127.0.0.1:18200"},
                  {"SMTP_SIDECAR_LISTEN_SOCKET_MODE", "0600"},
                  {"SMTP_SIDECAR_SMTP_TLS", "implicit"},
                  {"UNRELATED", "x"}};
  auto got = parseConfig(kValid, env);
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->smtp.port == 2587);
  CHECK(got->vault.address == "http://127.0.0.1:18200");
  CHECK(got->listen.socket_mode == 0600);
  CHECK((got->smtp.tls == SmtpTls::Implicit));
}

TEST_CASE("implicit TLS defaults to port 465") {
  auto got = parseConfig(kValid, {{"SMTP_SIDECAR_SMTP_TLS", "implicit"}});
  REQUIRE(got.ok());
  CHECK(got->smtp.port == 465);
}

TEST_CASE("bad configurations are refused with a message naming the cause") {
  struct Case {
    const char* name;
    std::string toml;
    Environment env;
    const char* want_in_message;
  };
  const std::string valid = kValid;
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = valid;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const Case cases[] = {
      {"syntax error", "[vault\naddress=", {}, "config:1"},
      {"unknown key", valid + "\n[smtp2]\nx = 1\n", {}, "unknown setting smtp2.x"},
      {"typo in a key", replace("host = ", "hots = "), {}, "unknown setting smtp.hots"},
      {"missing address", replace("address = \"https://127.0.0.1:8200\"", ""), {},
       "vault.address is required"},
      {"bad address scheme", replace("https://127", "ftp://127"), {}, "must start with"},
      {"absolute credential path", replace("\"database/creds", "\"/database/creds"), {},
       "relative Vault path"},
      {"plaintext smtp without opt-in", valid, {{"SMTP_SIDECAR_SMTP_TLS", "none"}},
       "allow_insecure"},
      {"unknown tls mode", valid, {{"SMTP_SIDECAR_SMTP_TLS", "ssl"}}, "SMTP_SIDECAR_SMTP_TLS"},
      {"port out of range", valid, {{"SMTP_SIDECAR_SMTP_PORT", "70000"}}, "[1, 65535]"},
      {"port not a number", valid, {{"SMTP_SIDECAR_SMTP_PORT", "25x"}}, "integer"},
      {"unknown environment variable", valid, {{"SMTP_SIDECAR_SMTP_HOSTNAME", "x"}},
       "unknown environment variable SMTP_SIDECAR_SMTP_HOSTNAME"},
      {"no smtp CA", replace("ca_file = \"/etc/ssl/mail-ca.pem\"", ""), {}, "smtp.ca_file"},
      {"socket path too long", valid, {{"SMTP_SIDECAR_LISTEN_SOCKET", "/" + std::string(120, 'a')}},
       "longer than"},
      {"wrong type", replace("host = \"127.0.0.1\"", "host = [1]"), {}, "smtp.host"},
      {"bad bool", valid, {{"SMTP_SIDECAR_SMTP_ALLOW_INSECURE", "maybe"}}, "true or false"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto got = parseConfig(c.toml, c.env);
      REQUIRE_FALSE(got.ok());
      CHECK((got.error().kind == vault::ErrorKind::Permanent));
      INFO("got message: " << got.error().message << ", want it to contain: " << c.want_in_message);
      CHECK(got.error().message.find(c.want_in_message) != std::string::npos);
    }
  }
}

TEST_CASE("plaintext smtp is allowed only with the explicit opt-in") {
  auto got = parseConfig(kValid, {{"SMTP_SIDECAR_SMTP_TLS", "none"},
                                  {"SMTP_SIDECAR_SMTP_ALLOW_INSECURE", "true"}});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK((got->smtp.tls == SmtpTls::None));
  CHECK(got->smtp.port == 25);
}

TEST_CASE("process.user, and a secret_id from the environment instead of a file") {
  auto got = parseConfig(std::string(kValid) + "\n[process]\nuser = \"smtp-sidecar\"\n", {});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->process.user == "smtp-sidecar");

  std::string without_file = kValid;
  const std::string line = "secret_id_file = \"/run/sidecar/secret_id\"\n";
  without_file.erase(without_file.find(line), line.size());
  auto missing = parseConfig(without_file, {});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("SMTP_SIDECAR_SECRET_ID") != std::string::npos);
  auto from_environment = parseConfig(without_file, {}, "config", true);
  REQUIRE_MESSAGE(from_environment.ok(), from_environment.errorMessage());
  CHECK(from_environment->vault.secret_id_from_environment);
}
