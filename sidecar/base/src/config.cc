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

struct Parameter {
  const char* section;
  const char* key;
  Setter set;
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

template <typename Section>
Setter stringField(Section Config::*section, std::string Section::*field) {
  return [=](Config& c, std::string_view v) -> Status {
    (c.*section).*field = std::string(v);
    return {};
  };
}

template <typename Section>
Setter boolField(Section Config::*section, bool Section::*field) {
  return [=](Config& c, std::string_view v) { return parseBool(v, (c.*section).*field); };
}

template <typename Section>
Setter secondsField(Section Config::*section, std::chrono::seconds Section::*field) {
  return [=](Config& c, std::string_view v) -> Status {
    long seconds = 0;
    if (auto s = parseInt<long>(v, seconds, 1, 86400); !s) return s;
    (c.*section).*field = std::chrono::seconds(seconds);
    return {};
  };
}

const std::vector<Parameter>& parameterTable() {
  static const std::vector<Parameter> table = {
      {"process", "user", stringField(&Config::process, &ProcessSettings::user)},
      {"process", "keeper_user", stringField(&Config::process, &ProcessSettings::keeper_user)},
      {"process", "worker_user", stringField(&Config::process, &ProcessSettings::worker_user)},
      {"process", "seccomp", boolField(&Config::process, &ProcessSettings::seccomp)},
      {"process", "log_level",
       [](Config& c, std::string_view v) -> Status {
         if (v == "debug")
           c.process.log_level = log::Level::Debug;
         else if (v == "info")
           c.process.log_level = log::Level::Info;
         else if (v == "warn")
           c.process.log_level = log::Level::Warn;
         else if (v == "error")
           c.process.log_level = log::Level::Error;
         else
           return Error::permanent("expected \"debug\", \"info\", \"warn\" or \"error\", got \"" +
                                   std::string(v) + "\"");
         return {};
       }},
      {"vault", "address", stringField(&Config::vault, &VaultSettings::address)},
      {"vault", "ca_file", stringField(&Config::vault, &VaultSettings::ca_file)},
      {"vault", "namespace", stringField(&Config::vault, &VaultSettings::vault_namespace)},
      {"vault", "approle_mount", stringField(&Config::vault, &VaultSettings::approle_mount)},
      {"vault", "role_id_file", stringField(&Config::vault, &VaultSettings::role_id_file)},
      {"vault", "secret_id_file", stringField(&Config::vault, &VaultSettings::secret_id_file)},
      {"vault", "secret_id_wrapped", boolField(&Config::vault, &VaultSettings::secret_id_wrapped)},
      {"vault", "approle_role", stringField(&Config::vault, &VaultSettings::approle_role)},
      {"vault", "remove_secret_id_file",
       boolField(&Config::vault, &VaultSettings::remove_secret_id_file)},
      {"vault", "credential_path", stringField(&Config::vault, &VaultSettings::credential_path)},
      {"vault", "rotation_grace_seconds",
       secondsField(&Config::vault, &VaultSettings::rotation_grace)},
      {"vault", "request_timeout_seconds",
       secondsField(&Config::vault, &VaultSettings::request_timeout)},
      {"vault", "ses_region",
       [](Config& c, std::string_view v) -> Status {
         // The shape only: which regions have an SES SMTP endpoint is the keeper's
         // knowledge (sidecar/keeper/ses_smtp_password.h), checked when it leases.
         const bool shaped =
             !v.empty() && v.size() <= 32 && std::all_of(v.begin(), v.end(), [](char ch) {
               return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
             });
         if (!shaped) {
           return Error::permanent("expected an AWS region name like \"eu-west-1\", got \"" +
                                   std::string(v) + "\"");
         }
         c.vault.ses_region = std::string(v);
         return {};
       }},
      {"vault", "ses_propagation_seconds",
       secondsField(&Config::vault, &VaultSettings::ses_propagation)},
      {"smtp", "host", stringField(&Config::smtp, &SmtpSettings::host)},
      {"smtp", "port",
       [](Config& c, std::string_view v) {
         return parseInt<std::uint16_t>(v, c.smtp.port, 1, 65535);
       }},
      {"smtp", "tls",
       [](Config& c, std::string_view v) -> Status {
         if (v == "starttls")
           c.smtp.tls = SmtpTls::StartTls;
         else if (v == "implicit")
           c.smtp.tls = SmtpTls::Implicit;
         else if (v == "none")
           c.smtp.tls = SmtpTls::None;
         else
           return Error::permanent("expected \"starttls\", \"implicit\" or \"none\", got \"" +
                                   std::string(v) + "\"");
         return {};
       }},
      {"smtp", "ca_file", stringField(&Config::smtp, &SmtpSettings::ca_file)},
      {"smtp", "helo_name", stringField(&Config::smtp, &SmtpSettings::helo_name)},
      {"smtp", "allow_insecure", boolField(&Config::smtp, &SmtpSettings::allow_insecure)},
      {"smtp", "timeout_seconds", secondsField(&Config::smtp, &SmtpSettings::timeout)},
      {"smtp", "retry_for_seconds", secondsField(&Config::smtp, &SmtpSettings::retry_for)},
      {"listen", "socket", stringField(&Config::listen, &ListenSettings::socket_path)},
      {"listen", "socket_group", stringField(&Config::listen, &ListenSettings::socket_group)},
      {"audit", "file", stringField(&Config::audit, &AuditSettings::file)},
      {"listen", "socket_mode",
       [](Config& c, std::string_view v) {
         return parseInt<std::uint32_t>(v, c.listen.socket_mode, 0, 0777, 8);
       }},
      {"listen", "max_message_bytes",
       [](Config& c, std::string_view v) {
         return parseInt<std::size_t>(v, c.listen.max_message_bytes, 1024, std::size_t{1} << 30);
       }},
      {"listen", "max_queue",
       [](Config& c, std::string_view v) {
         return parseInt<std::size_t>(v, c.listen.max_queue, 1, 1000000);
       }},
      {"listen", "request_timeout_seconds",
       [](Config& c, std::string_view v) {
         return parseInt<std::uint32_t>(v, c.listen.request_timeout_seconds, 1, 3600);
       }},
      {"listen", "max_connections",
       [](Config& c, std::string_view v) {
         return parseInt<std::size_t>(v, c.listen.max_connections, 1, 1000000);
       }},
      {"listen", "max_pending_bytes",
       [](Config& c, std::string_view v) {
         return parseInt<std::size_t>(v, c.listen.max_pending_bytes, 1024, std::size_t{1} << 36);
       }},
      {"listen", "smtp_socket", stringField(&Config::listen, &ListenSettings::smtp_socket_path)},
      {"listen", "smtp_port",
       [](Config& c, std::string_view v) {
         return parseInt<std::uint16_t>(v, c.listen.smtp_port, 0, 65535);
       }},
      {"listen", "smtp_max_connections",
       [](Config& c, std::string_view v) {
         return parseInt<std::size_t>(v, c.listen.smtp_max_connections, 1, 100000);
       }},
      {"listen", "smtp_timeout_seconds",
       secondsField(&Config::listen, &ListenSettings::smtp_timeout)},
      {"listen", "smtp_host_name", stringField(&Config::listen, &ListenSettings::smtp_host_name)},
      {"spool", "directory", stringField(&Config::spool, &SpoolSettings::directory)},
      {"spool", "transit_mount", stringField(&Config::spool, &SpoolSettings::transit_mount)},
      {"spool", "transit_key", stringField(&Config::spool, &SpoolSettings::transit_key)},
      {"spool", "max_bytes",
       [](Config& c, std::string_view v) {
         return parseInt<std::size_t>(v, c.spool.max_bytes, 1 << 20, std::size_t{1} << 40);
       }},
      {"spool", "max_messages",
       [](Config& c, std::string_view v) {
         return parseInt<std::size_t>(v, c.spool.max_messages, 1, 10000000);
       }},
      {"spool", "retention_seconds",
       [](Config& c, std::string_view v) -> Status {
         long seconds = 0;  // up to a year: statuses are small, but not kept for ever
         if (auto s = parseInt<long>(v, seconds, 1, 366L * 86400); !s) return s;
         c.spool.retention = std::chrono::seconds(seconds);
         return {};
       }},
      {"spool", "fsync", boolField(&Config::spool, &SpoolSettings::fsync)},
      {"spool", "group_commit", boolField(&Config::spool, &SpoolSettings::group_commit)},
      {"smtp", "max_connections",
       [](Config& c, std::string_view v) {
         return parseInt<unsigned>(v, c.smtp.max_connections, 1, 1024);
       }},
      {"smtp", "max_messages_per_connection",
       [](Config& c, std::string_view v) {
         return parseInt<unsigned>(v, c.smtp.max_messages_per_connection, 1, 100000);
       }},
      {"smtp", "idle_timeout_seconds", secondsField(&Config::smtp, &SmtpSettings::idle_timeout)},
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
        s = parseInt<std::size_t>(*value, p.max_recipients, 1, 100);
      } else if (key == "max_message_bytes") {
        s = parseInt<std::size_t>(*value, p.max_message_bytes, 1024, std::size_t{1} << 30);
      } else if (key == "rate_per_minute") {
        s = parseInt<std::uint32_t>(*value, p.rate_per_minute, 0, 1000000);
      } else {
        s = parseInt<std::uint32_t>(*value, p.burst, 1, 1000000);
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

std::vector<std::string> changedKeys(const Config& a, const Config& b) {
  std::vector<std::string> out;
  auto check = [&](const char* key, const auto& x, const auto& y) {
    if (!(x == y)) out.emplace_back(key);
  };
  check("process.user", a.process.user, b.process.user);
  check("process.keeper_user", a.process.keeper_user, b.process.keeper_user);
  check("process.worker_user", a.process.worker_user, b.process.worker_user);
  check("process.seccomp", a.process.seccomp, b.process.seccomp);
  check("process.log_level", a.process.log_level, b.process.log_level);
  check("vault.address", a.vault.address, b.vault.address);
  check("vault.ca_file", a.vault.ca_file, b.vault.ca_file);
  check("vault.namespace", a.vault.vault_namespace, b.vault.vault_namespace);
  check("vault.approle_mount", a.vault.approle_mount, b.vault.approle_mount);
  check("vault.role_id_file", a.vault.role_id_file, b.vault.role_id_file);
  check("vault.secret_id_file", a.vault.secret_id_file, b.vault.secret_id_file);
  check("vault.secret_id_wrapped", a.vault.secret_id_wrapped, b.vault.secret_id_wrapped);
  check("vault.approle_role", a.vault.approle_role, b.vault.approle_role);
  check("vault.remove_secret_id_file", a.vault.remove_secret_id_file,
        b.vault.remove_secret_id_file);
  check("vault.credential_path", a.vault.credential_path, b.vault.credential_path);
  check("vault.request_timeout_seconds", a.vault.request_timeout, b.vault.request_timeout);
  check("vault.rotation_grace_seconds", a.vault.rotation_grace, b.vault.rotation_grace);
  check("vault.ses_region", a.vault.ses_region, b.vault.ses_region);
  check("vault.ses_propagation_seconds", a.vault.ses_propagation, b.vault.ses_propagation);
  check("smtp.host", a.smtp.host, b.smtp.host);
  check("smtp.port", a.smtp.port, b.smtp.port);
  check("smtp.tls", a.smtp.tls, b.smtp.tls);
  check("smtp.ca_file", a.smtp.ca_file, b.smtp.ca_file);
  check("smtp.helo_name", a.smtp.helo_name, b.smtp.helo_name);
  check("smtp.allow_insecure", a.smtp.allow_insecure, b.smtp.allow_insecure);
  check("smtp.timeout_seconds", a.smtp.timeout, b.smtp.timeout);
  check("smtp.retry_for_seconds", a.smtp.retry_for, b.smtp.retry_for);
  check("smtp.max_connections", a.smtp.max_connections, b.smtp.max_connections);
  check("smtp.max_messages_per_connection", a.smtp.max_messages_per_connection,
        b.smtp.max_messages_per_connection);
  check("smtp.idle_timeout_seconds", a.smtp.idle_timeout, b.smtp.idle_timeout);
  check("listen.socket", a.listen.socket_path, b.listen.socket_path);
  check("listen.socket_mode", a.listen.socket_mode, b.listen.socket_mode);
  check("listen.max_message_bytes", a.listen.max_message_bytes, b.listen.max_message_bytes);
  check("listen.max_queue", a.listen.max_queue, b.listen.max_queue);
  check("listen.request_timeout_seconds", a.listen.request_timeout_seconds,
        b.listen.request_timeout_seconds);
  check("listen.max_connections", a.listen.max_connections, b.listen.max_connections);
  check("listen.max_pending_bytes", a.listen.max_pending_bytes, b.listen.max_pending_bytes);
  check("listen.socket_group", a.listen.socket_group, b.listen.socket_group);
  check("listen.smtp_socket", a.listen.smtp_socket_path, b.listen.smtp_socket_path);
  check("listen.smtp_port", a.listen.smtp_port, b.listen.smtp_port);
  check("listen.smtp_max_connections", a.listen.smtp_max_connections,
        b.listen.smtp_max_connections);
  check("listen.smtp_timeout_seconds", a.listen.smtp_timeout, b.listen.smtp_timeout);
  check("listen.smtp_host_name", a.listen.smtp_host_name, b.listen.smtp_host_name);
  check("audit.file", a.audit.file, b.audit.file);
  check("spool.directory", a.spool.directory, b.spool.directory);
  check("spool.transit_mount", a.spool.transit_mount, b.spool.transit_mount);
  check("spool.transit_key", a.spool.transit_key, b.spool.transit_key);
  check("spool.max_bytes", a.spool.max_bytes, b.spool.max_bytes);
  check("spool.max_messages", a.spool.max_messages, b.spool.max_messages);
  check("spool.retention_seconds", a.spool.retention, b.spool.retention);
  check("spool.fsync", a.spool.fsync, b.spool.fsync);
  check("spool.group_commit", a.spool.group_commit, b.spool.group_commit);
  check("profile", a.profiles, b.profiles);
  check("oauth2", a.oauth2, b.oauth2);
  return out;
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
