// config.cc: TOML + environment -> Config, driven by one table of parameters.
//
// SECURITY: operator input. Unknown sections and keys are rejected so that a typo
// ("tsl = ...") cannot silently leave a safe default in place or, worse, be read as
// something else. Plain SMTP needs two explicit settings (tls = "none" and
// allow_insecure = true).
// ERRORS: Permanent, naming the source (file or variable), the key and the reason.
#include "sidecar/base/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "mailformat/address.h"
#include "mailformat/sender_rule.h"
#include "sidecar/base/hardening.h"

extern char** environ;

namespace sidecar {
namespace {

using foundation::Error;
using foundation::Result;
using foundation::Status;

// A parameter's value arrives either as a TOML node or as an environment string;
// both are turned into text first so one parser per type serves both.
using Setter = std::function<Status(Config&, std::string_view text)>;
// Whether two configs hold the same value for the parameter (changedKeys()).
using Same = std::function<bool(const Config&, const Config&)>;

// One row per setting: its name, how it is parsed, and what SIGHUP does with a change
// (the reload:: flags of config.h; the only place that says so).
struct Parameter {
  const char* section;
  const char* key;
  Setter set;
  Same same;
  unsigned live;
};

Status parseBool(std::string_view text, bool& out) {
  if (text == "true" || text == "1" || text == "yes") {
    out = true;
    return {};
  }
  if (text == "false" || text == "0" || text == "no") {
    out = false;
    return {};
  }
  return Error::permanent("expected true or false, got \"" + std::string(text) + "\"");
}

template <typename Int>
Status parseInt(std::string_view text, Int& out, Int min, Int max, int base = 10) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return Error::permanent("expected an integer in [" + std::to_string(min) + ", " +
                            std::to_string(max) + "], got \"" + std::string(text) + "\"");
  }
  out = value;
  return {};
}

// Text -> one field's value.
template <typename T>
using Parse = std::function<Status(std::string_view text, T& out)>;

// The row of a field `(config.*section).*field`: its setter and comparison follow from
// the member pointers, so a row names the field once.
template <typename Section, typename T>
Parameter field(const char* section_name, const char* key, Section Config::*section,
                T Section::*member, Parse<T> parse, unsigned live) {
  return Parameter{section_name, key,
                   [=](Config& c, std::string_view v) { return parse(v, (c.*section).*member); },
                   [=](const Config& a, const Config& b) {
                     return (a.*section).*member == (b.*section).*member;
                   },
                   live};
}

Parse<std::string> asText() {
  return [](std::string_view v, std::string& out) -> Status {
    out = std::string(v);
    return {};
  };
}

Parse<bool> asBool() {
  return [](std::string_view v, bool& out) { return parseBool(v, out); };
}

template <typename Int>
Parse<Int> asInt(Int min, Int max, int base = 10) {
  return [=](std::string_view v, Int& out) { return parseInt<Int>(v, out, min, max, base); };
}

Parse<std::chrono::seconds> asSeconds(long max = 86400) {
  return [=](std::string_view v, std::chrono::seconds& out) -> Status {
    long seconds = 0;
    if (auto s = parseInt<long>(v, seconds, 1, max); !s) return s;
    out = std::chrono::seconds(seconds);
    return {};
  };
}

// One of a fixed set of words.
template <typename E>
Parse<E> asWord(std::vector<std::pair<std::string_view, E>> words) {
  return [=](std::string_view v, E& out) -> Status {
    std::string expected;
    for (const auto& [word, value] : words) {
      if (v == word) {
        out = value;
        return {};
      }
      expected += (expected.empty() ? "\"" : ", \"") + std::string(word) + "\"";
    }
    return Error::permanent("expected " + expected + ", got \"" + std::string(v) + "\"");
  };
}

// The shape only: which regions have an SES SMTP endpoint is the keeper's knowledge
// (sidecar/keeper/ses_smtp_password.h), checked when it leases.
Parse<std::string> asRegion() {
  return [](std::string_view v, std::string& out) -> Status {
    const bool shaped =
        !v.empty() && v.size() <= 32 && std::all_of(v.begin(), v.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
        });
    if (!shaped) {
      return Error::permanent("expected an AWS region name like \"eu-west-1\", got \"" +
                              std::string(v) + "\"");
    }
    out = std::string(v);
    return {};
  };
}

const std::vector<Parameter>& parameterTable() {
  using namespace reload;
  using C = Config;
  using P = ProcessSettings;
  using V = VaultSettings;
  using S = SmtpSettings;
  using L = ListenSettings;
  using Sp = SpoolSettings;
  constexpr auto kGiB = std::size_t{1} << 30;
  static const std::vector<Parameter> table = {
      field("process", "user", &C::process, &P::user, asText(), kRestart),
      field("process", "keeper_user", &C::process, &P::keeper_user, asText(), kRestart),
      field("process", "worker_user", &C::process, &P::worker_user, asText(), kRestart),
      field("process", "seccomp", &C::process, &P::seccomp, asBool(), kRestart),
      field("process", "log_level", &C::process, &P::log_level,
            asWord<log::Level>({{"debug", log::Level::Debug},
                                {"info", log::Level::Info},
                                {"warn", log::Level::Warn},
                                {"error", log::Level::Error}}),
            kEveryRole),
      field("vault", "address", &C::vault, &V::address, asText(), kRestart),
      field("vault", "ca_file", &C::vault, &V::ca_file, asText(), kRestart),
      field("vault", "namespace", &C::vault, &V::vault_namespace, asText(), kRestart),
      field("vault", "approle_mount", &C::vault, &V::approle_mount, asText(), kRestart),
      field("vault", "role_id_file", &C::vault, &V::role_id_file, asText(), kRestart),
      field("vault", "secret_id_file", &C::vault, &V::secret_id_file, asText(), kRestart),
      field("vault", "secret_id_wrapped", &C::vault, &V::secret_id_wrapped, asBool(), kRestart),
      field("vault", "approle_role", &C::vault, &V::approle_role, asText(), kRestart),
      field("vault", "remove_secret_id_file", &C::vault, &V::remove_secret_id_file, asBool(),
            kRestart),
      // The default profile's path: the keeper leases it, the worker's profiles use it.
      field("vault", "credential_path", &C::vault, &V::credential_path, asText(),
            kKeeper | kWorkerProfiles),
      field("vault", "rotation_grace_seconds", &C::vault, &V::rotation_grace, asSeconds(), kKeeper),
      field("vault", "request_timeout_seconds", &C::vault, &V::request_timeout, asSeconds(),
            kRestart),
      field("vault", "ses_region", &C::vault, &V::ses_region, asRegion(), kRestart),
      field("vault", "ses_propagation_seconds", &C::vault, &V::ses_propagation, asSeconds(),
            kRestart),
      field("smtp", "host", &C::smtp, &S::host, asText(), kWorkerSender),
      field("smtp", "port", &C::smtp, &S::port, asInt<std::uint16_t>(1, 65535), kWorkerSender),
      field("smtp", "tls", &C::smtp, &S::tls,
            asWord<SmtpTls>({{"starttls", SmtpTls::StartTls},
                             {"implicit", SmtpTls::Implicit},
                             {"none", SmtpTls::None}}),
            kWorkerSender),
      field("smtp", "ca_file", &C::smtp, &S::ca_file, asText(), kWorkerSender),
      field("smtp", "helo_name", &C::smtp, &S::helo_name, asText(), kWorkerSender),
      field("smtp", "allow_insecure", &C::smtp, &S::allow_insecure, asBool(), kWorkerSender),
      field("smtp", "timeout_seconds", &C::smtp, &S::timeout, asSeconds(), kWorkerSender),
      field("smtp", "retry_for_seconds", &C::smtp, &S::retry_for, asSeconds(), kWorkerSender),
      field("smtp", "max_connections", &C::smtp, &S::max_connections, asInt<unsigned>(1, 1024),
            kWorkerSender),
      field("smtp", "max_messages_per_connection", &C::smtp, &S::max_messages_per_connection,
            asInt<unsigned>(1, 100000), kWorkerSender),
      field("smtp", "idle_timeout_seconds", &C::smtp, &S::idle_timeout, asSeconds(), kWorkerSender),
      // The sockets belong to the supervisor, made once: a change needs a restart.
      field("listen", "socket", &C::listen, &L::socket_path, asText(), kRestart),
      field("listen", "socket_group", &C::listen, &L::socket_group, asText(), kRestart),
      field("listen", "socket_mode", &C::listen, &L::socket_mode, asInt<std::uint32_t>(0, 0777, 8),
            kRestart),
      // The profiles' size limit derives from it.
      field("listen", "max_message_bytes", &C::listen, &L::max_message_bytes,
            asInt<std::size_t>(1024, kGiB), kWorkerProfiles),
      field("listen", "max_queue", &C::listen, &L::max_queue, asInt<std::size_t>(1, 1000000),
            kWorkerSender),
      field("listen", "max_queue_bytes", &C::listen, &L::max_queue_bytes,
            asInt<std::size_t>(1024, std::size_t{1} << 40), kWorkerSender),
      field("listen", "request_timeout_seconds", &C::listen, &L::request_timeout_seconds,
            asInt<std::uint32_t>(1, 3600), kRestart),
      field("listen", "max_connections", &C::listen, &L::max_connections,
            asInt<std::size_t>(1, 1000000), kRestart),
      field("listen", "max_pending_bytes", &C::listen, &L::max_pending_bytes,
            asInt<std::size_t>(1024, std::size_t{1} << 36), kRestart),
      field("listen", "smtp_socket", &C::listen, &L::smtp_socket_path, asText(), kRestart),
      field("listen", "smtp_port", &C::listen, &L::smtp_port, asInt<std::uint16_t>(0, 65535),
            kRestart),
      field("listen", "smtp_max_connections", &C::listen, &L::smtp_max_connections,
            asInt<std::size_t>(1, 100000), kRestart),
      field("listen", "smtp_timeout_seconds", &C::listen, &L::smtp_timeout, asSeconds(), kRestart),
      field("listen", "smtp_host_name", &C::listen, &L::smtp_host_name, asText(), kRestart),
      // Reopened on every SIGHUP (log rotation), so a new path applies too.
      field("audit", "file", &C::audit, &AuditSettings::file, asText(), kWorkerAudit),
      field("spool", "directory", &C::spool, &Sp::directory, asText(), kRestart),
      field("spool", "transit_mount", &C::spool, &Sp::transit_mount, asText(), kRestart),
      field("spool", "transit_key", &C::spool, &Sp::transit_key, asText(), kRestart),
      field("spool", "max_bytes", &C::spool, &Sp::max_bytes,
            asInt<std::size_t>(1 << 20, std::size_t{1} << 40), kRestart),
      field("spool", "max_messages", &C::spool, &Sp::max_messages, asInt<std::size_t>(1, 10000000),
            kRestart),
      // Up to a year: statuses are small, but not kept for ever.
      field("spool", "retention_seconds", &C::spool, &Sp::retention, asSeconds(366L * 86400),
            kRestart),
      field("spool", "fsync", &C::spool, &Sp::fsync, asBool(), kRestart),
      field("spool", "group_commit", &C::spool, &Sp::group_commit, asBool(), kRestart),
  };
  return table;
}

const Parameter* findParameter(std::string_view section, std::string_view key) {
  for (const auto& p : parameterTable()) {
    if (section == p.section && key == p.key) return &p;
  }
  return nullptr;
}

// TOML scalar -> the text form the setters parse.
Result<std::string> nodeText(const toml::node& node) {
  if (auto s = node.as_string()) return std::string(s->get());
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  return Error::permanent("expected a string, integer or boolean");
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

bool validVaultPath(const std::string& path) {
  return !path.empty() && path.front() != '/' && path.find("..") == std::string::npos;
}

Status parseIdList(const toml::node& node, std::vector<std::uint32_t>& out) {
  const auto* array = node.as_array();
  if (array == nullptr) return Error::permanent("expected an array of integers");
  for (const auto& item : *array) {
    const auto* i = item.as_integer();
    if (i == nullptr || i->get() < 0 || i->get() > 4294967294LL) {  // (uid_t)-1 is "none"
      return Error::permanent("expected integers in [0, 4294967294]");
    }
    out.push_back(static_cast<std::uint32_t>(i->get()));
  }
  return {};
}

Status parseStringList(const toml::node& node, std::vector<std::string>& out) {
  const auto* array = node.as_array();
  if (array == nullptr) return Error::permanent("expected an array of strings");
  for (const auto& item : *array) {
    const auto* text = item.as_string();
    if (text == nullptr) return Error::permanent("expected an array of strings");
    out.emplace_back(text->get());
  }
  return {};
}

// aliases = { root = "ops@example.org", ops = "ops@example.org" }: local name -> address.
Status parseAliases(const toml::node& node, std::map<std::string, std::string>& out) {
  const auto* table = node.as_table();
  if (table == nullptr) return Error::permanent("expected a table of name = \"address\"");
  for (const auto& [name, value] : *table) {
    const std::string key(name.str());
    const auto* text = value.as_string();
    if (text == nullptr) return Error::permanent(key + ": expected an address string");
    if (key.empty() || key.size() > 64 ||
        key.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") !=
            std::string::npos) {
      return Error::permanent("\"" + key + "\": a local name is 1-64 of [A-Za-z0-9._+-]");
    }
    const std::string address(text->get());
    if (auto error = mailformat::checkAddress(address, false)) {
      return Error::permanent(key + ": " + *error);
    }
    out.emplace(key, address);
  }
  return {};
}

// One [[profile]] table. Defaults that depend on other sections (credential path,
// size limit) are filled in by finishProfiles() after the environment is applied.
Status parseProfile(const toml::table& table, Profile& p) {
  for (const auto& entry : table) {
    const std::string_view key = entry.first.str();
    const toml::node& node = entry.second;  // a plain reference: lambdas may capture it
    Status s;
    auto text = [&]() -> Result<std::string> { return nodeText(node); };
    if (key == "name") {
      if (!node.is_string())
        s = Error::permanent("expected a string");
      else
        p.name = std::string(node.as_string()->get());
    } else if (key == "uids") {
      s = parseIdList(node, p.uids);
    } else if (key == "gids") {
      s = parseIdList(node, p.gids);
    } else if (key == "credential_path") {
      if (!node.is_string())
        s = Error::permanent("expected a string");
      else
        p.credential_path = std::string(node.as_string()->get());
    } else if (key == "senders") {
      s = parseStringList(node, p.senders);
    } else if (key == "default_sender") {
      if (!node.is_string())
        s = Error::permanent("expected a string");
      else
        p.default_sender = std::string(node.as_string()->get());
    } else if (key == "aliases") {
      s = parseAliases(node, p.aliases);
    } else if (key == "max_recipients" || key == "max_message_bytes" || key == "rate_per_minute" ||
               key == "burst") {
      auto value = text();
      if (!value) {
        s = value.error();
      } else if (key == "max_recipients") {
        s = asInt<std::size_t>(1, 100)(*value, p.max_recipients);
      } else if (key == "max_message_bytes") {
        s = asInt<std::size_t>(1024, std::size_t{1} << 30)(*value, p.max_message_bytes);
      } else if (key == "rate_per_minute") {
        s = asInt<std::uint32_t>(0, 1000000)(*value, p.rate_per_minute);
      } else {
        s = asInt<std::uint32_t>(1, 1000000)(*value, p.burst);
      }
    } else {
      return Error::permanent("unknown setting " + std::string(key));
    }
    if (!s) return s.error().context(std::string(key));
  }
  return {};
}

bool validProfileName(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
}

// One [[oauth2]] table (a client the keeper gets SMTP access tokens with).
Status parseOAuth2Client(const toml::table& table, OAuth2Client& o) {
  for (const auto& entry : table) {
    const std::string_view key = entry.first.str();
    const toml::node& node = entry.second;
    Status s;
    std::string* text_field = key == "name"             ? &o.name
                              : key == "token_endpoint" ? &o.token_endpoint
                              : key == "client_id"      ? &o.client_id
                              : key == "scope"          ? &o.scope
                              : key == "authentication" ? &o.authentication
                              : key == "subject"        ? &o.subject
                              : key == "key_id"         ? &o.key_id
                              : key == "audience"       ? &o.audience
                              : key == "ca_file"        ? &o.ca_file
                              : key == "kv_mount"       ? &o.kv_mount
                              : key == "kv_path"        ? &o.kv_path
                              : key == "kv_field"       ? &o.kv_field
                              : key == "sasl_user"      ? &o.sasl_user
                                                        : nullptr;
    if (text_field != nullptr) {
      if (!node.is_string())
        s = Error::permanent("expected a string");
      else
        *text_field = std::string(node.as_string()->get());
    } else if (key == "refresh_margin_seconds" || key == "timeout_seconds") {
      auto value = nodeText(node);
      std::uint32_t seconds = 0;
      if (!value) {
        s = value.error();
      } else if (key == "refresh_margin_seconds") {
        s = parseInt<std::uint32_t>(*value, seconds, 0, 3600);
        o.refresh_margin = std::chrono::seconds(seconds);
      } else {
        s = parseInt<std::uint32_t>(*value, seconds, 1, 300);
        o.timeout = std::chrono::seconds(seconds);
      }
    } else {
      return Error::permanent("unknown setting " + std::string(key));
    }
    if (!s) return s.error().context(std::string(key));
  }
  return {};
}

bool printableText(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// Fills in the defaults of the [[oauth2]] clients and checks them and the oauth2:
// credential paths. The token endpoint's scheme and loopback rule are checked again
// by the keeper (oauth_token_source.h), which owns them.
Status finishOAuth2Clients(Config& c) {
  for (std::size_t i = 0; i < c.oauth2.size(); ++i) {
    OAuth2Client& o = c.oauth2[i];
    const std::string where =
        "oauth2[" + std::to_string(i + 1) + "]" + (o.name.empty() ? "" : " (\"" + o.name + "\")");
    if (!validProfileName(o.name)) {
      return Error::permanent(where + ".name: required, 1-64 of [a-z0-9_-]");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (c.oauth2[j].name == o.name) return Error::permanent(where + ".name: used twice");
    }
    if (o.token_endpoint.rfind("https://", 0) != 0 && o.token_endpoint.rfind("http://", 0) != 0) {
      return Error::permanent(where + ".token_endpoint: required, an https:// URL");
    }
    if (o.client_id.empty() || !printableText(o.client_id)) {
      return Error::permanent(where + ".client_id: required");
    }
    if (o.scope.empty()) return Error::permanent(where + ".scope: required");
    static constexpr std::string_view kMethods[] = {"client_secret_post", "client_secret_basic",
                                                    "private_key_jwt", "jwt_bearer"};
    if (std::find(std::begin(kMethods), std::end(kMethods), o.authentication) ==
        std::end(kMethods)) {
      return Error::permanent(where +
                              ".authentication: one of client_secret_post, "
                              "client_secret_basic, private_key_jwt, jwt_bearer");
    }
    if (!validVaultPath(o.kv_mount) || !validVaultPath(o.kv_path)) {
      return Error::permanent(where +
                              ".kv_path (and kv_mount) required: the KV v2 secret in Vault "
                              "that holds the client secret or private key");
    }
    const bool key_method =
        o.authentication == "private_key_jwt" || o.authentication == "jwt_bearer";
    if (o.kv_field.empty()) o.kv_field = key_method ? "private_key" : "client_secret";
    if (o.sasl_user.empty()) o.sasl_user = o.subject.empty() ? o.client_id : o.subject;
    if (!printableText(o.sasl_user) || o.sasl_user.size() > 320) {
      return Error::permanent(where + ".sasl_user: the mailbox to log in as, no spaces");
    }
  }
  for (const auto& path : c.credentialPaths()) {
    if (path.rfind(kOAuth2PathPrefix, 0) == 0 && findOAuth2Client(c, path) == nullptr) {
      return Error::permanent("credential path \"" + path + "\" names no [[oauth2]] client \"" +
                              path.substr(kOAuth2PathPrefix.size()) + "\"");
    }
  }
  return {};
}

// Fills in defaults and checks each profile against the rest of the config. Without
// [[profile]], the implicit "default" profile keeps existing configs working.
Status finishProfiles(Config& c) {
  if (c.profiles.empty()) {
    Profile p;
    p.name = "default";
    p.matches_everyone = true;
    p.credential_path = c.vault.credential_path;
    p.max_message_bytes = c.listen.max_message_bytes;
    c.profiles.push_back(std::move(p));
    return {};
  }
  for (std::size_t i = 0; i < c.profiles.size(); ++i) {
    Profile& p = c.profiles[i];
    const std::string where =
        "profile[" + std::to_string(i + 1) + "]" + (p.name.empty() ? "" : " (\"" + p.name + "\")");
    if (!validProfileName(p.name)) {
      return Error::permanent(where + ".name: required, 1-64 of [a-z0-9_-]");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (c.profiles[j].name == p.name) return Error::permanent(where + ".name: used twice");
    }
    if (p.uids.empty() && p.gids.empty()) {
      return Error::permanent(where +
                              ".uids: uids or gids is required (a profile "
                              "must name who it is for)");
    }
    if (p.credential_path.empty()) {
      if (c.vault.credential_path.empty()) {
        return Error::permanent(where +
                                ".credential_path: required when "
                                "vault.credential_path is not set");
      }
      p.credential_path = c.vault.credential_path;
    }
    if (!validVaultPath(p.credential_path)) {
      return Error::permanent(where +
                              ".credential_path must be a relative Vault path like "
                              "\"smtp/creds/app\"");
    }
    for (const auto& pattern : p.senders) {
      if (auto s = mailformat::checkSenderPattern(pattern); !s) {
        return s.error().context(where + ".senders");
      }
    }
    if (!p.default_sender.empty()) {
      if (auto error = mailformat::checkAddress(p.default_sender, false)) {
        return Error::permanent(where + ".default_sender: " + *error);
      }
      if (!mailformat::senderAllowed(p.senders, p.default_sender)) {
        return Error::permanent(where + ".default_sender: not allowed by the profile's senders");
      }
    }
    if (p.max_message_bytes == 0) p.max_message_bytes = c.listen.max_message_bytes;
    if (p.max_message_bytes > c.listen.max_message_bytes) {
      return Error::permanent(where + ".max_message_bytes: at most listen.max_message_bytes (" +
                              std::to_string(c.listen.max_message_bytes) + ")");
    }
    if (p.burst == 0) p.burst = std::max<std::uint32_t>(p.rate_per_minute, 1);
  }
  return {};
}

Status validate(const Config& c) {
  auto missing = [](const char* name) {
    return Error::permanent(std::string(name) + " is required");
  };
  if (c.vault.address.empty()) return missing("vault.address");
  if (c.process.user.empty() &&
      (!c.process.keeper_user.empty() || !c.process.worker_user.empty())) {
    return Error::permanent(
        "process.keeper_user and process.worker_user need process.user (the supervisor's user)");
  }
  for (const auto& address : c.vault.addresses()) {
    if (address.rfind("https://", 0) != 0 && address.rfind("http://", 0) != 0 &&
        address.rfind("unix://", 0) != 0) {
      return Error::permanent("vault.address: \"" + address +
                              "\" must start with https://, http:// or unix://");
    }
  }
  if (c.vault.secret_id_wrapped && c.vault.approle_role.empty()) {
    return Error::permanent(
        "vault.approle_role is required with vault.secret_id_wrapped: the "
        "wrapping token is checked against the role's secret-id path");
  }
  if (c.vault.role_id_file.empty()) return missing("vault.role_id_file");
  if (c.vault.secret_id_file.empty() && !c.vault.secret_id_from_environment) {
    return Error::permanent(
        "vault.secret_id_file is required (or the secret_id in the "
        "environment variable SMTP_SIDECAR_SECRET_ID)");
  }
  if (c.vault.credential_path.empty() && c.profiles.empty()) {
    return missing("vault.credential_path");
  }
  if (!c.vault.credential_path.empty() && !validVaultPath(c.vault.credential_path)) {
    return Error::permanent(
        "vault.credential_path must be a relative Vault path like "
        "\"database/creds/app\"");
  }
  if (c.smtp.host.empty()) return missing("smtp.host");
  if (c.smtp.tls == SmtpTls::None && !c.smtp.allow_insecure) {
    return Error::permanent(
        "smtp.tls = \"none\" sends the password in clear text; set "
        "smtp.allow_insecure = true to allow it");
  }
  if (c.smtp.tls != SmtpTls::None && c.smtp.ca_file.empty()) {
    return Error::permanent(
        "smtp.ca_file is required: the SMTP server's certificate is "
        "always verified");
  }
  if (c.smtp.helo_name.empty() ||
      c.smtp.helo_name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789.-[]:") != std::string::npos) {
    return Error::permanent("smtp.helo_name must be a host name or address literal");
  }
  if (c.listen.socket_path.empty()) return missing("listen.socket");
  if (c.listen.max_pending_bytes < c.listen.max_message_bytes) {
    return Error::permanent("listen.max_pending_bytes must be at least listen.max_message_bytes");
  }
  if (c.listen.max_queue_bytes < c.listen.max_message_bytes) {
    // Otherwise a message the size limit allows could never be accepted.
    return Error::permanent("listen.max_queue_bytes must be at least listen.max_message_bytes");
  }
  if (c.listen.socket_path.size() >= 108) {  // sizeof(sockaddr_un::sun_path)
    return Error::permanent("listen.socket is longer than a Unix socket path may be (107)");
  }
  if (!c.listen.socket_group.empty() &&
      c.listen.socket_group.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789._-") != std::string::npos) {
    return Error::permanent("listen.socket_group must be a group name or a numeric gid");
  }
  if (c.listen.smtp_socket_path.size() >= 108) {
    return Error::permanent("listen.smtp_socket is longer than a Unix socket path may be (107)");
  }
  if (!c.listen.smtp_socket_path.empty() && c.listen.smtp_socket_path == c.listen.socket_path) {
    return Error::permanent("listen.smtp_socket must differ from listen.socket");
  }
  if (c.listen.smtp_host_name.empty() || c.listen.smtp_host_name.size() > 253 ||
      c.listen.smtp_host_name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
          "0123456789.-") != std::string::npos) {
    return Error::permanent("listen.smtp_host_name must be a host name");
  }
  if (!c.audit.file.empty() && c.audit.file.front() != '/') {
    return Error::permanent("audit.file must be an absolute path");
  }
  if (!c.spool.directory.empty()) {
    if (c.spool.directory.front() != '/') {
      return Error::permanent("spool.directory must be an absolute path");
    }
    auto transitName = [](const std::string& name) {
      return !name.empty() && name.find_first_not_of(
                                  "abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos;
    };
    if (!transitName(c.spool.transit_key)) {
      return Error::permanent(
          "spool.transit_key is required with spool.directory: the app's own Transit key "
          "(letters, digits, '-', '_')");
    }
    if (!validVaultPath(c.spool.transit_mount)) {
      return Error::permanent("spool.transit_mount must be a relative Vault path like \"transit\"");
    }
  }
  return {};
}

}  // namespace

std::vector<ConfigChange> configChanges(const Config& before, const Config& after) {
  std::vector<ConfigChange> out;
  for (const auto& p : parameterTable()) {
    if (!p.same(before, after)) out.push_back({std::string(p.section) + "." + p.key, p.live});
  }
  if (!(before.profiles == after.profiles)) out.push_back({"profile", reload::kWorkerProfiles});
  // [[oauth2]] clients: the keeper uses a changed one from its next token on.
  if (!(before.oauth2 == after.oauth2)) out.push_back({"oauth2", reload::kKeeper});
  return out;
}

std::vector<std::string> changedKeys(const Config& before, const Config& after) {
  std::vector<std::string> out;
  for (auto& change : configChanges(before, after)) out.push_back(std::move(change.key));
  return out;
}

std::optional<unsigned> reloadOf(std::string_view key) {
  if (key == "profile") return reload::kWorkerProfiles;
  if (key == "oauth2") return reload::kKeeper;
  for (const auto& p : parameterTable()) {
    if (key == std::string(p.section) + "." + p.key) return p.live;
  }
  return std::nullopt;
}

std::vector<std::string> Config::credentialPaths() const {
  std::vector<std::string> out;
  for (const auto& p : profiles) {
    if (std::find(out.begin(), out.end(), p.credential_path) == out.end()) {
      out.push_back(p.credential_path);
    }
  }
  if (out.empty() && !vault.credential_path.empty()) out.push_back(vault.credential_path);
  return out;
}

const OAuth2Client* findOAuth2Client(const Config& config, std::string_view credential_path) {
  if (credential_path.substr(0, kOAuth2PathPrefix.size()) != kOAuth2PathPrefix) return nullptr;
  const std::string_view name = credential_path.substr(kOAuth2PathPrefix.size());
  for (const auto& client : config.oauth2) {
    if (client.name == name) return &client;
  }
  return nullptr;
}

std::vector<std::string> VaultSettings::addresses() const {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= address.size()) {
    std::size_t comma = address.find(',', start);
    if (comma == std::string::npos) comma = address.size();
    std::string item = address.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

const char* toString(SmtpTls tls) noexcept {
  switch (tls) {
    case SmtpTls::StartTls:
      return "starttls";
    case SmtpTls::Implicit:
      return "implicit";
    case SmtpTls::None:
      return "none";
  }
  return "?";
}

Result<Config> parseConfig(std::string_view toml_text, const Environment& env,
                           std::string_view source_name, bool secret_id_from_environment) {
  Config config;
  config.vault.secret_id_from_environment = secret_id_from_environment;
  const std::string source(source_name);

  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return Error::permanent(msg.str());
  }

  for (const auto& [section_key, section_node] : root) {
    if (section_key.str() == "profile") {
      const auto* array = section_node.as_array();
      if (array == nullptr || !array->is_array_of_tables()) {
        return Error::permanent(source + ": profiles are [[profile]] tables");
      }
      for (const auto& item : *array) {
        Profile p;
        const std::string where = "profile[" + std::to_string(config.profiles.size() + 1) + "]";
        if (auto s = parseProfile(*item.as_table(), p); !s) {
          return s.error().context(source + ": " + where);
        }
        config.profiles.push_back(std::move(p));
      }
      continue;
    }
    if (section_key.str() == "oauth2") {
      const auto* array = section_node.as_array();
      if (array == nullptr || !array->is_array_of_tables()) {
        return Error::permanent(source + ": OAuth2 clients are [[oauth2]] tables");
      }
      for (const auto& item : *array) {
        OAuth2Client o;
        const std::string where = "oauth2[" + std::to_string(config.oauth2.size() + 1) + "]";
        if (auto s = parseOAuth2Client(*item.as_table(), o); !s) {
          return s.error().context(source + ": " + where);
        }
        config.oauth2.push_back(std::move(o));
      }
      continue;
    }
    const auto* section = section_node.as_table();
    if (section == nullptr) {
      return Error::permanent(source + ": \"" + std::string(section_key.str()) +
                              "\" must be a [section]");
    }
    for (const auto& [key, node] : *section) {
      const std::string name = std::string(section_key.str()) + "." + std::string(key.str());
      const Parameter* p = findParameter(section_key.str(), key.str());
      if (p == nullptr) return Error::permanent(source + ": unknown setting " + name);
      auto value = nodeText(node);
      if (!value) return value.error().context(source + ": " + name);
      if (auto s = p->set(config, *value); !s) return s.error().context(source + ": " + name);
    }
  }

  for (const auto& p : parameterTable()) {
    const std::string var = "SMTP_SIDECAR_" + upper(p.section) + "_" + upper(p.key);
    if (auto it = env.find(var); it != env.end()) {
      if (auto s = p.set(config, it->second); !s) return s.error().context(var);
    }
  }
  // Unknown SMTP_SIDECAR_* variables are most likely typos: refuse them too, except the
  // ones the programs beside the daemon read (a shared environment sets them for those).
  for (const auto& [name, value] : env) {
    if (name.rfind("SMTP_SIDECAR_", 0) != 0) continue;
    if (isClientEnvironmentVariable(name)) continue;
    bool known = false;
    for (const auto& p : parameterTable()) {
      if (name == "SMTP_SIDECAR_" + upper(p.section) + "_" + upper(p.key)) known = true;
    }
    if (!known) return Error::permanent("unknown environment variable " + name);
  }

  if (config.smtp.port == 0) {
    config.smtp.port = config.smtp.tls == SmtpTls::Implicit   ? 465
                       : config.smtp.tls == SmtpTls::StartTls ? 587
                                                              : 25;
  }
  if (auto s = validate(config); !s) return s.error().context(source);
  if (auto s = finishProfiles(config); !s) return s.error().context(source);
  if (auto s = finishOAuth2Clients(config); !s) return s.error().context(source);
  return config;
}

bool isClientEnvironmentVariable(std::string_view name) {
  // smtp-sidecar-sendmail's socket path (sendmail/src/args.cc).
  static constexpr std::string_view kClientVariables[] = {"SMTP_SIDECAR_SOCKET"};
  return std::find(std::begin(kClientVariables), std::end(kClientVariables), name) !=
         std::end(kClientVariables);
}

Environment sidecarEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.rfind("SMTP_SIDECAR_", 0) != 0) continue;
    if (entry.rfind(std::string(kSecretIdEnvironmentVariable) + "=", 0) == 0) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

Result<Config> loadConfig(const std::string& path, bool secret_id_from_environment) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::permanent("cannot read config file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) {
    return Error::permanent("config file " + path + " is larger than 1 MiB");
  }
  return parseConfig(text.str(), sidecarEnvironment(), path, secret_id_from_environment);
}

}  // namespace sidecar
