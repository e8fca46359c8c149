// config_test.cc: TOML + environment parsing of the sidecar configuration.
#include "sidecar/base/config.h"

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

TEST_CASE("the sendmail client's variables are ignored, other unknown ones refused") {
  struct Case {
    const char* name;
    Environment env;
    bool accepted;
  };
  const Case cases[] = {
      {"the client's socket", {{"SMTP_SIDECAR_SOCKET", "/run/smtp-sidecar/smtp.sock"}}, true},
      {"the client's socket, empty", {{"SMTP_SIDECAR_SOCKET", ""}}, true},
      {"a typo of it", {{"SMTP_SIDECAR_SOCKETS", "/x"}}, false},
      {"the daemon's own socket key", {{"SMTP_SIDECAR_LISTEN_SOCKET", "/run/x.sock"}}, true},
      {"an unknown key", {{"SMTP_SIDECAR_BIN", "/usr/sbin/smtp-sidecar"}}, false},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto config = parseConfig(kValid, c.env);
      CHECK(static_cast<bool>(config) == c.accepted);
      if (!c.accepted && !config) {
        CHECK(config.error().message.find("unknown environment variable") != std::string::npos);
      }
    }
  }
  CHECK(sidecar::isClientEnvironmentVariable("SMTP_SIDECAR_SOCKET"));
  CHECK_FALSE(sidecar::isClientEnvironmentVariable("SMTP_SIDECAR_LISTEN_SOCKET"));
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
      {"missing address",
       replace("address = \"https://127.0.0.1:8200\"", ""),
       {},
       "vault.address is required"},
      {"bad address scheme", replace("https://127", "ftp://127"), {}, "must start with"},
      {"absolute credential path",
       replace("\"database/creds", "\"/database/creds"),
       {},
       "relative Vault path"},
      {"plaintext smtp without opt-in",
       valid,
       {{"SMTP_SIDECAR_SMTP_TLS", "none"}},
       "allow_insecure"},
      {"unknown tls mode", valid, {{"SMTP_SIDECAR_SMTP_TLS", "ssl"}}, "SMTP_SIDECAR_SMTP_TLS"},
      {"port out of range", valid, {{"SMTP_SIDECAR_SMTP_PORT", "70000"}}, "[1, 65535]"},
      {"port not a number", valid, {{"SMTP_SIDECAR_SMTP_PORT", "25x"}}, "integer"},
      {"unknown environment variable",
       valid,
       {{"SMTP_SIDECAR_SMTP_HOSTNAME", "x"}},
       "unknown environment variable SMTP_SIDECAR_SMTP_HOSTNAME"},
      {"no smtp CA", replace("ca_file = \"/etc/ssl/mail-ca.pem\"", ""), {}, "smtp.ca_file"},
      {"socket path too long",
       valid,
       {{"SMTP_SIDECAR_LISTEN_SOCKET", "/" + std::string(120, 'a')}},
       "longer than"},
      {"wrong type", replace("host = \"127.0.0.1\"", "host = [1]"), {}, "smtp.host"},
      {"bad bool", valid, {{"SMTP_SIDECAR_SMTP_ALLOW_INSECURE", "maybe"}}, "true or false"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto got = parseConfig(c.toml, c.env);
      REQUIRE_FALSE(got.ok());
      CHECK((got.error().kind == foundation::ErrorKind::Permanent));
      INFO("got message: " << got.error().message << ", want it to contain: " << c.want_in_message);
      CHECK(got.error().message.find(c.want_in_message) != std::string::npos);
    }
  }
}

TEST_CASE("plaintext smtp is allowed only with the explicit opt-in") {
  auto got = parseConfig(
      kValid, {{"SMTP_SIDECAR_SMTP_TLS", "none"}, {"SMTP_SIDECAR_SMTP_ALLOW_INSECURE", "true"}});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK((got->smtp.tls == SmtpTls::None));
  CHECK(got->smtp.port == 25);
}

// ---- profiles, socket group, audit ----

TEST_CASE("without [[profile]], one implicit profile matches everyone") {
  auto got = parseConfig(kValid, {});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  REQUIRE(got->profiles.size() == 1);
  const auto& p = got->profiles[0];
  CHECK(p.name == "default");
  CHECK(p.matches_everyone);
  CHECK(p.credential_path == "database/creds/example-app");
  CHECK(p.max_message_bytes == got->listen.max_message_bytes);
  CHECK(p.rate_per_minute == 0);
  CHECK(got->implicitProfile());
  CHECK(got->credentialPaths() == std::vector<std::string>{"database/creds/example-app"});
}

TEST_CASE("profiles parse with defaults from the other sections") {
  const std::string toml = std::string(kValid) + R"(
socket_group = "mail"
[audit]
file = "/var/log/smtp-sidecar/audit.log"

[[profile]]
name = "web"
uids = [1000, 1002]
gids = [1001]
credential_path = "smtp/creds/web"
senders = ["noreply@example.org", "*@example.org"]
max_recipients = 50
max_message_bytes = 10485760
rate_per_minute = 600
burst = 50

[[profile]]
name = "cron"
gids = [0]

[[profile]]
name = "reports"
uids = [1003]
credential_path = "smtp/creds/web"
rate_per_minute = 30
)";
  auto got = parseConfig(toml, {});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->listen.socket_group == "mail");
  CHECK(got->audit.file == "/var/log/smtp-sidecar/audit.log");
  REQUIRE(got->profiles.size() == 3);
  const auto& web = got->profiles[0];
  CHECK(web.name == "web");
  CHECK(web.uids == std::vector<std::uint32_t>{1000, 1002});
  CHECK(web.gids == std::vector<std::uint32_t>{1001});
  CHECK(web.senders == std::vector<std::string>{"noreply@example.org", "*@example.org"});
  CHECK(web.max_recipients == 50);
  CHECK(web.max_message_bytes == 10485760);
  CHECK(web.rate_per_minute == 600);
  CHECK(web.burst == 50);
  CHECK_FALSE(web.matches_everyone);
  const auto& cron = got->profiles[1];
  CHECK(cron.credential_path == "database/creds/example-app");  // vault.credential_path
  CHECK(cron.max_message_bytes == 25u << 20);                   // listen.max_message_bytes
  CHECK(cron.max_recipients == 0);
  CHECK(cron.senders.empty());
  CHECK(got->profiles[2].burst == 30);  // default: one minute's worth
  CHECK_FALSE(got->implicitProfile());
  // One lease per distinct path, in order of first use.
  CHECK(got->credentialPaths() ==
        std::vector<std::string>{"smtp/creds/web", "database/creds/example-app"});
}

TEST_CASE("vault.credential_path is optional when every profile names its own") {
  std::string toml = kValid;
  toml.replace(toml.find("credential_path = \"database/creds/example-app\""),
               std::string("credential_path = \"database/creds/example-app\"").size(), "");
  CHECK_FALSE(parseConfig(toml, {}).ok());
  toml += "\n[[profile]]\nname = \"a\"\nuids = [1]\ncredential_path = \"smtp/creds/a\"\n";
  auto got = parseConfig(toml, {});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->credentialPaths() == std::vector<std::string>{"smtp/creds/a"});
}

TEST_CASE("bad profiles are refused with a message naming the key") {
  struct Case {
    const char* name;
    std::string profile;  // the [[profile]] body
    const char* want_in_message;
  };
  const Case cases[] = {
      {"unknown key", "name = \"a\"\nuids = [1]\nsender = [\"x@y\"]\n",
       "profile[1]: unknown setting sender"},
      {"no name", "uids = [1]\n", "profile[1].name: required"},
      {"bad name", "name = \"Web App\"\nuids = [1]\n", "profile[1] (\"Web App\").name"},
      {"nobody to match", "name = \"a\"\n", "profile[1] (\"a\").uids: uids or gids is required"},
      {"uids not a list", "name = \"a\"\nuids = 1000\n", "profile[1]: uids: expected an array"},
      {"negative uid", "name = \"a\"\nuids = [-1]\n", "uids: expected integers"},
      {"uid as string", "name = \"a\"\nuids = [\"root\"]\n", "uids: expected integers"},
      {"gid out of range", "name = \"a\"\ngids = [4294967295]\n", "gids: expected integers"},
      {"absolute path", "name = \"a\"\nuids = [1]\ncredential_path = \"/smtp/creds/a\"\n",
       "credential_path must be a relative Vault path"},
      {"sender without @", "name = \"a\"\nuids = [1]\nsenders = [\"example.org\"]\n",
       "(\"a\").senders: \"example.org\""},
      {"sender wildcard domain", "name = \"a\"\nuids = [1]\nsenders = [\"x@*.example.org\"]\n",
       "senders"},
      {"sender partial wildcard", "name = \"a\"\nuids = [1]\nsenders = [\"no*@example.org\"]\n",
       "senders"},
      {"senders not strings", "name = \"a\"\nuids = [1]\nsenders = [1]\n",
       "senders: expected an array of strings"},
      {"too many recipients", "name = \"a\"\nuids = [1]\nmax_recipients = 101\n",
       "max_recipients: expected an integer in [1, 100]"},
      {"no recipients", "name = \"a\"\nuids = [1]\nmax_recipients = 0\n", "max_recipients"},
      {"bigger than listen", "name = \"a\"\nuids = [1]\nmax_message_bytes = 30000000\n",
       "max_message_bytes: at most listen.max_message_bytes"},
      {"negative rate", "name = \"a\"\nuids = [1]\nrate_per_minute = -1\n", "rate_per_minute"},
      {"zero burst", "name = \"a\"\nuids = [1]\nburst = 0\n", "burst"},
      {"duplicate name", "name = \"a\"\nuids = [1]\n[[profile]]\nname = \"a\"\nuids = [2]\n",
       "profile[2] (\"a\").name: used twice"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto got = parseConfig(std::string(kValid) + "\n[[profile]]\n" + c.profile, {});
      REQUIRE_FALSE(got.ok());
      INFO("got message: " << got.error().message << ", want it to contain: " << c.want_in_message);
      CHECK(got.error().message.find(c.want_in_message) != std::string::npos);
    }
  }
}

TEST_CASE("profile, socket group and audit file problems outside [[profile]]") {
  struct Case {
    const char* name;
    std::string toml;
    const char* want_in_message;
  };
  const Case cases[] = {
      {"profile as a table", std::string(kValid) + "\n[profile]\nname = \"a\"\n",
       "profiles are [[profile]] tables"},
      {"relative audit file", std::string(kValid) + "\n[audit]\nfile = \"audit.log\"\n",
       "audit.file must be an absolute path"},
      {"unknown audit key", std::string(kValid) + "\n[audit]\npath = \"/x\"\n",
       "unknown setting audit.path"},
      {"bad socket group", std::string(kValid) + "socket_group = \"mail staff\"\n",
       "listen.socket_group"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto got = parseConfig(c.toml, {});
      REQUIRE_FALSE(got.ok());
      INFO("got message: " << got.error().message);
      CHECK(got.error().message.find(c.want_in_message) != std::string::npos);
    }
  }
}

TEST_CASE("changedKeys reports profile, socket group and audit changes") {
  const std::string base = std::string(kValid) + "\n[[profile]]\nname = \"a\"\nuids = [1]\n";
  auto before = parseConfig(base, {});
  auto after = parseConfig(base + "rate_per_minute = 5\n", {});
  REQUIRE(before.ok());
  REQUIRE(after.ok());
  CHECK(sidecar::changedKeys(*before, *after) == std::vector<std::string>{"profile"});
  auto audit = parseConfig(base + "[audit]\nfile = \"/tmp/a\"\n", {});
  REQUIRE(audit.ok());
  CHECK(sidecar::changedKeys(*before, *audit) == std::vector<std::string>{"audit.file"});
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

TEST_CASE("process.log_level") {
  auto got = parseConfig(std::string(kValid) + "\n[process]\nlog_level = \"warn\"\n", {});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK((got->process.log_level == sidecar::log::Level::Warn));
  auto bad = parseConfig(std::string(kValid) + "\n[process]\nlog_level = \"loud\"\n", {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("process.log_level") != std::string::npos);
}

TEST_CASE("the spool: off by default; a directory needs an absolute path and a Transit key") {
  auto plain = parseConfig(kValid, {});
  REQUIRE(plain.ok());
  CHECK(plain->spool.directory.empty());
  auto spooled = parseConfig(std::string(kValid) +
                                 "\n[spool]\ndirectory = \"/var/lib/smtp-sidecar/spool\"\n"
                                 "transit_key = \"example-app-spool\"\nmax_messages = 50\n"
                                 "retention_seconds = 604800\n",
                             {});
  REQUIRE_MESSAGE(spooled.ok(), spooled.errorMessage());
  CHECK(spooled->spool.transit_mount == "transit");
  CHECK(spooled->spool.max_messages == 50);
  CHECK(spooled->spool.retention == std::chrono::seconds(604800));
  CHECK(spooled->spool.fsync);
  CHECK(spooled->spool.group_commit);
  struct Row {
    const char* spool;
    const char* want;
  };
  const Row rows[] = {
      {"directory = \"relative\"\ntransit_key = \"k\"", "spool.directory must be an absolute"},
      {"directory = \"/s\"", "spool.transit_key is required"},
      {"directory = \"/s\"\ntransit_key = \"a/b\"", "spool.transit_key is required"},
      {"directory = \"/s\"\ntransit_key = \"k\"\ntransit_mount = \"/x\"", "spool.transit_mount"},
      {"max_messages = 0", "spool.max_messages"},
      {"retention_seconds = 0", "spool.retention_seconds"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.spool);
    auto c = parseConfig(std::string(kValid) + "\n[spool]\n" + row.spool + "\n", {});
    REQUIRE(!c.ok());
    CHECK_MESSAGE(c.error().message.find(row.want) != std::string::npos, c.error().message);
  }
  auto env = parseConfig(kValid, {{"SMTP_SIDECAR_SPOOL_DIRECTORY", "/spool"},
                                  {"SMTP_SIDECAR_SPOOL_TRANSIT_KEY", "app-spool"}});
  REQUIRE_MESSAGE(env.ok(), env.errorMessage());
  CHECK(env->spool.directory == "/spool");
}

TEST_CASE("the relay client's connection limits: defaults, and set from the environment") {
  auto defaults = parseConfig(kValid, {});
  REQUIRE_MESSAGE(defaults.ok(), defaults.errorMessage());
  CHECK(defaults->smtp.max_messages_per_connection == 100);
  CHECK(defaults->smtp.idle_timeout == std::chrono::seconds(30));
  Environment env{{"SMTP_SIDECAR_SMTP_MAX_MESSAGES_PER_CONNECTION", "5"},
                  {"SMTP_SIDECAR_SMTP_IDLE_TIMEOUT_SECONDS", "7"}};
  auto got = parseConfig(kValid, env);
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->smtp.max_messages_per_connection == 5);
  CHECK(got->smtp.idle_timeout == std::chrono::seconds(7));
  env = {{"SMTP_SIDECAR_SMTP_MAX_MESSAGES_PER_CONNECTION", "0"}};
  CHECK_FALSE(parseConfig(kValid, env).ok());
}

TEST_CASE("[[oauth2]] clients: defaults, and credential paths that name them") {
  const std::string text = std::string(kValid) + R"(
[[oauth2]]
name = "m365"
token_endpoint = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
client_id = "00000000-1111-2222-3333-444444444444"
scope = "https://outlook.office365.com/.default"
authentication = "private_key_jwt"
kv_path = "smtp-oauth/m365"
sasl_user = "app-mailbox@contoso.test"
refresh_margin_seconds = 120

[[oauth2]]
name = "google"
token_endpoint = "https://oauth2.googleapis.com/token"
client_id = "sender@project.iam.gserviceaccount.com"
scope = "https://mail.google.com/"
authentication = "jwt_bearer"
subject = "app@example.test"
kv_mount = "kv"
kv_path = "smtp-oauth/google"

[[profile]]
name = "app"
uids = [1000]
credential_path = "oauth2:google"
)";
  Environment env{{"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH", "oauth2:m365"}};
  auto got = parseConfig(text, env);
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  REQUIRE(got->oauth2.size() == 2);
  const auto& m365 = got->oauth2[0];
  CHECK(m365.kv_mount == "secret");
  CHECK(m365.kv_field == "private_key");  // the key methods' default
  CHECK(m365.refresh_margin == std::chrono::seconds(120));
  CHECK(m365.timeout == std::chrono::seconds(10));
  const auto& google = got->oauth2[1];
  CHECK(google.sasl_user == "app@example.test");  // the subject
  CHECK(google.kv_mount == "kv");
  CHECK(google.refresh_margin == std::chrono::seconds(60));
  CHECK(sidecar::findOAuth2Client(*got, "oauth2:google") == &got->oauth2[1]);
  CHECK(sidecar::findOAuth2Client(*got, "oauth2:m365") == &got->oauth2[0]);
  CHECK(sidecar::findOAuth2Client(*got, "database/creds/app") == nullptr);
  CHECK(got->credentialPaths() == std::vector<std::string>{"oauth2:google"});
  auto changed = *got;
  changed.oauth2[0].scope = "other";
  CHECK(sidecar::changedKeys(*got, changed) == std::vector<std::string>{"oauth2"});
}

TEST_CASE("bad [[oauth2]] clients are refused naming the key") {
  const std::string base = std::string(kValid);
  const std::string good = R"(
name = "hydra"
token_endpoint = "http://127.0.0.1:14444/oauth2/token"
client_id = "example-app-oauth"
scope = "smtp"
kv_path = "smtp-oauth/example-app"
)";
  struct Case {
    std::string table;
    const char* message;
  };
  const Case cases[] = {
      {good + "authentication = \"password\"\n", "oauth2[1] (\"hydra\").authentication"},
      {good + "colour = \"blue\"\n", "unknown setting colour"},
      {good + "refresh_margin_seconds = 7200\n", "refresh_margin_seconds"},
      {"name = \"x\"\nclient_id = \"c\"\nscope = \"s\"\nkv_path = \"p\"\n", ".token_endpoint"},
      {"name = \"x\"\ntoken_endpoint = \"https://t\"\nscope = \"s\"\nkv_path = \"p\"\n",
       ".client_id"},
      {"name = \"x\"\ntoken_endpoint = \"https://t\"\nclient_id = \"c\"\nkv_path = \"p\"\n",
       ".scope"},
      {"name = \"x\"\ntoken_endpoint = \"https://t\"\nclient_id = \"c\"\nscope = \"s\"\n",
       ".kv_path"},
      {"name = \"Bad Name\"\n", ".name"},
      {good + "sasl_user = \"has space\"\n", ".sasl_user"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.table);
    auto got = parseConfig(base + "\n[[oauth2]]\n" + c.table, {});
    REQUIRE_FALSE(got.ok());
    CHECK(got.errorMessage().find(c.message) != std::string::npos);
  }
  // A path that names no client.
  auto got = parseConfig(base + "\n[[oauth2]]\n" + good,
                         {{"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH", "oauth2:nobody"}});
  REQUIRE_FALSE(got.ok());
  CHECK(got.errorMessage().find("names no [[oauth2]] client \"nobody\"") != std::string::npos);
  // Two with one name.
  got = parseConfig(base + "\n[[oauth2]]\n" + good + "\n[[oauth2]]\n" + good, {});
  REQUIRE_FALSE(got.ok());
  CHECK(got.errorMessage().find("used twice") != std::string::npos);
}

// Issue 16: what SIGHUP applies live is one column of the parameter table, read by the
// supervisor (restart warnings), the keeper and the worker.
TEST_CASE("each setting says who applies a change on SIGHUP") {
  using namespace sidecar::reload;
  struct Row {
    const char* key;
    unsigned live;
  };
  const Row rows[] = {
      {"process.log_level", kEveryRole},
      {"process.user", kRestart},
      {"process.seccomp", kRestart},
      {"vault.address", kRestart},
      {"vault.rotation_grace_seconds", kKeeper},
      {"vault.credential_path", kKeeper | kWorkerProfiles},
      {"smtp.host", kWorkerSender},
      {"smtp.retry_for_seconds", kWorkerSender},
      {"listen.max_queue", kWorkerSender},
      {"listen.max_queue_bytes", kWorkerSender},
      {"listen.max_message_bytes", kWorkerProfiles},
      {"listen.socket", kRestart},
      {"listen.max_pending_bytes", kRestart},
      {"audit.file", kWorkerAudit},
      {"spool.directory", kRestart},
      {"profile", kWorkerProfiles},
  };
  for (const auto& row : rows) {
    CAPTURE(row.key);
    REQUIRE(sidecar::reloadOf(row.key).has_value());
    CHECK(*sidecar::reloadOf(row.key) == row.live);
  }
  CHECK_FALSE(sidecar::reloadOf("listen.nonsense").has_value());
}

TEST_CASE("configChanges names every changed setting with its reload flags") {
  const std::string base = std::string(kValid);
  auto before = parseConfig(base, {});
  REQUIRE_MESSAGE(before.ok(), before.errorMessage());
  struct Row {
    const char* env;
    const char* value;
    const char* key;
    unsigned live;
  };
  const Row rows[] = {
      {"SMTP_SIDECAR_SMTP_PORT", "2525", "smtp.port", sidecar::reload::kWorkerSender},
      {"SMTP_SIDECAR_LISTEN_MAX_QUEUE_BYTES", "67108864", "listen.max_queue_bytes",
       sidecar::reload::kWorkerSender},
      {"SMTP_SIDECAR_PROCESS_LOG_LEVEL", "debug", "process.log_level", sidecar::reload::kEveryRole},
      {"SMTP_SIDECAR_LISTEN_MAX_CONNECTIONS", "10", "listen.max_connections",
       sidecar::reload::kRestart},
      {"SMTP_SIDECAR_VAULT_ROTATION_GRACE_SECONDS", "7", "vault.rotation_grace_seconds",
       sidecar::reload::kKeeper},
  };
  for (const auto& row : rows) {
    CAPTURE(row.env);
    auto after = parseConfig(base, {{row.env, row.value}});
    REQUIRE_MESSAGE(after.ok(), after.errorMessage());
    const auto changes = sidecar::configChanges(*before, *after);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].key == row.key);
    CHECK(changes[0].live == row.live);
  }
  CHECK(sidecar::configChanges(*before, *before).empty());
}

TEST_CASE("listen.max_queue_bytes: a default, a range, and at least max_message_bytes") {
  auto got = parseConfig(kValid, {});
  REQUIRE(got.ok());
  CHECK(got->listen.max_queue_bytes == std::size_t{256} << 20);
  auto small = parseConfig(kValid, {{"SMTP_SIDECAR_LISTEN_MAX_QUEUE_BYTES", "2048"}});
  REQUIRE_FALSE(small.ok());
  CHECK(small.errorMessage().find("max_queue_bytes must be at least") != std::string::npos);
  auto bad = parseConfig(kValid, {{"SMTP_SIDECAR_LISTEN_MAX_QUEUE_BYTES", "12"}});
  CHECK_FALSE(bad.ok());
  auto fits = parseConfig(kValid, {{"SMTP_SIDECAR_LISTEN_MAX_QUEUE_BYTES", "33554432"},
                                   {"SMTP_SIDECAR_LISTEN_MAX_MESSAGE_BYTES", "33554432"},
                                   {"SMTP_SIDECAR_LISTEN_MAX_PENDING_BYTES", "33554432"}});
  CHECK_MESSAGE(fits.ok(), fits.errorMessage());
}
