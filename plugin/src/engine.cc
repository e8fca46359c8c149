// engine.cc: the SMTP secrets engine's paths, leases and help (see engine.h).
//
// SECURITY: every field of every request is validated (request_fields.h,
// credentials.h). The database password lives in SecretBytes except while it is
// serialised for Vault storage (that string is wiped after the put) and never appears in
// a read, a log or an error. A new SMTP password is returned once, in the creds
// response; the database only ever sees its salted hash. Revocation uses only the
// lease's internal_data, never the (renew-overwritten) lease data.
// ERRORS: Result values; Permanent for bad input and unknown roles, Temporary when the
// database or Vault storage cannot be reached (so Vault retries a revocation rather
// than marking it irrevocable), Internal for broken invariants.
#include "plugin/engine.h"

#include <openssl/crypto.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "plugin/automtls.h"
#include "plugin/credentials.h"
#include "plugin/request_fields.h"

namespace smtpplugin {

namespace {
constexpr std::string_view kCredentialPassword = "password";
constexpr std::string_view kCredentialJwt = "jwt";
}  // namespace

struct Engine::Config {
  std::string connection_url;
  std::string username;
  foundation::SecretBytes password;
  std::string password_scheme = "SSHA512";
  std::string smtp_host;
  std::int64_t smtp_port = 587;
  std::int64_t smtp_tls_port = 0;  // 0: no implicit-TLS port to advertise
  std::string tls_mode = "starttls";
  std::string ca_pem;
  // Passwordless logins (roles of credential_type "jwt"): the tokens' `iss` and `aud`,
  // fixed per mount; the mail host's validator trusts exactly this issuer.
  std::string token_issuer;
  std::string token_audience;
};

struct Engine::Role {
  std::int64_t ttl_s = 0;      // 0: the mount's default lease TTL
  std::int64_t max_ttl_s = 0;  // 0: the mount's max lease TTL
  std::vector<std::string> allowed_senders;
  std::string username_template{kDefaultUsernameTemplate};
  std::int64_t send_rate_per_minute = 0;  // advisory; 0 = no limit announced
  std::string credential_type{kCredentialPassword};
};

namespace {

constexpr std::string_view kConfigKey = "config";
constexpr std::string_view kKeyRingKey = "jwt/keys";
constexpr std::string_view kRolePrefix = "roles/";
constexpr int kUsernameAttempts = 5;
constexpr std::int64_t kFallbackMaxTtlS = 32LL * 86400;  // Vault's own default

// Small RapidJSON writer wrapper for responses and storage entries.
class JsonOut {
 public:
  JsonOut() : writer_(buffer_) { writer_.StartObject(); }
  JsonOut& str(std::string_view key, std::string_view value) {
    keyOf(key);
    writer_.String(value.data(), size(value));
    return *this;
  }
  JsonOut& num(std::string_view key, std::int64_t value) {
    keyOf(key);
    writer_.Int64(value);
    return *this;
  }
  JsonOut& list(std::string_view key, const std::vector<std::string>& values) {
    keyOf(key);
    writer_.StartArray();
    for (const auto& v : values) writer_.String(v.data(), size(v));
    writer_.EndArray();
    return *this;
  }
  JsonOut& secret(std::string_view key, const foundation::SecretBytes& value) {
    keyOf(key);
    value.reveal([&](std::string_view v) { writer_.String(v.data(), size(v)); });
    return *this;
  }
  std::string finish() {
    writer_.EndObject();
    std::string out(buffer_.GetString(), buffer_.GetSize());
    // The buffer may have held a secret: wipe it before it is freed.
    char* raw = const_cast<char*>(buffer_.GetString());
    if (buffer_.GetSize() > 0) OPENSSL_cleanse(raw, buffer_.GetSize());
    return out;
  }

 private:
  static rapidjson::SizeType size(std::string_view s) {
    return static_cast<rapidjson::SizeType>(s.size());
  }
  void keyOf(std::string_view key) { writer_.Key(key.data(), size(key)); }
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

Response dataResponse(std::string json) {
  Response r;
  r.data_json = std::move(json);
  return r;
}

Response noResponse() {
  Response r;
  r.none = true;
  return r;
}

Response refused(Response::Refusal why) {
  Response r;
  r.refusal = why;
  return r;
}

bool validRoleName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                     }) &&
         name != "." && name != "..";
}

bool isWrite(std::string_view op) {
  return op == "create" || op == "update";
}

// Moves a std::string that held a secret into SecretBytes and wipes the original.
foundation::SecretBytes toSecret(std::string& s) {
  auto out = foundation::SecretBytes::copyOf(std::string_view(s));
  wipeString(s);
  return out;
}

std::int64_t saturatingSecondsToNanos(std::int64_t s) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / kNanosPerSecond;
  return std::min(s, kMax) * kNanosPerSecond;
}

// Where and how to submit, and the role's limits: the same fields in a password's and a
// token's answer. (A template only because Engine::Config and Engine::Role are private.)
template <typename Config, typename Role>
void putServerFields(JsonOut& data, const Config& c, const Role& r) {
  data.str("smtp_host", c.smtp_host).num("smtp_port", c.smtp_port);
  if (c.smtp_tls_port > 0) data.num("smtp_tls_port", c.smtp_tls_port);
  data.str("tls_mode", c.tls_mode);
  if (!c.ca_pem.empty()) data.str("ca_pem", c.ca_pem);
  data.list("allowed_senders", r.allowed_senders)
      .num("send_rate_per_minute", r.send_rate_per_minute);
}

}  // namespace

Engine::Engine(Storage& storage, SystemView& system_view, MailStoreFactory& mail_stores,
               Clock& clock, RandomSource& random)
    : storage_(storage),
      system_view_(system_view),
      mail_stores_(mail_stores),
      clock_(clock),
      random_(random) {}

Engine::~Engine() = default;

void Engine::invalidate() {
  std::lock_guard<std::mutex> lock(store_mutex_);
  store_.reset();
  store_settings_.reset();
}

foundation::Result<Response> Engine::handle(const Request& request) {
  const std::string& op = request.operation;
  const std::string& path = request.path;
  if (op == "help") {
    return dataResponse(JsonOut().str("help", helpText(path)).finish());
  }
  if (op == "rollback") return noResponse();
  if (op == "renew" || op == "revoke") {
    if (!path.starts_with("creds/")) return refused(Response::Refusal::UnsupportedPath);
    return op == "renew" ? handleRenew(request) : handleRevoke(request);
  }
  if (path == "config") return handleConfig(request);
  if (path == "config/rotate-root") return handleRotateRoot(request);
  if (path == "roles" || path == "roles/") return handleRoleList(request);
  if (path.starts_with("roles/")) return handleRole(request, path.substr(6));
  if (path.starts_with("creds/")) return handleCreds(request, path.substr(6));
  if (path == "jwks") return handleJwks(request);
  if (path == "jwt/rotate") return handleRotateKeys(request);
  return refused(Response::Refusal::UnsupportedPath);
}

// ---------------------------------------------------------------------------- config

foundation::Result<std::unique_ptr<Engine::Config>> Engine::loadConfig() {
  auto raw = storage_.get(kConfigKey);
  if (!raw) return std::move(raw).error().context("reading config");
  if (!raw.value()) return std::unique_ptr<Config>();
  // The stored config holds the database password: parse it in locked memory.
  foundation::SecretBytes text = toSecret(*raw.value());
  auto fields = RequestFields::parseInPlace(text);
  if (!fields) return foundation::Error::internal("stored config is not valid JSON");
  auto c = std::make_unique<Config>();
  auto get = [&](std::string_view key, std::string& out) -> bool {
    auto v = fields->getString(key);
    if (!v) return false;
    if (v.value()) out = std::move(*v.value());
    return true;
  };
  auto password = fields->getSecret("password");
  auto smtp_port = fields->getInt("smtp_port");
  auto smtp_tls_port = fields->getInt("smtp_tls_port");
  if (!get("connection_url", c->connection_url) || !get("username", c->username) || !password ||
      !get("password_scheme", c->password_scheme) || !get("smtp_host", c->smtp_host) ||
      !get("tls_mode", c->tls_mode) || !get("ca_pem", c->ca_pem) ||
      !get("token_issuer", c->token_issuer) || !get("token_audience", c->token_audience) ||
      !smtp_port || !smtp_tls_port) {
    return foundation::Error::internal("stored config has a field of the wrong type");
  }
  if (password.value()) c->password = std::move(*password.value());
  if (smtp_port.value()) c->smtp_port = *smtp_port.value();
  if (smtp_tls_port.value()) c->smtp_tls_port = *smtp_tls_port.value();
  return c;
}

foundation::Result<Response> Engine::handleConfig(const Request& request) {
  const std::string& op = request.operation;
  if (op == "read") {
    auto config = loadConfig();
    if (!config) return std::move(config).error();
    if (!config.value()) return noResponse();
    const Config& c = *config.value();
    JsonOut out;
    out.str("connection_url", c.connection_url)
        .str("username", c.username)
        .str("password_scheme", c.password_scheme)
        .str("smtp_host", c.smtp_host)
        .num("smtp_port", c.smtp_port)
        .num("smtp_tls_port", c.smtp_tls_port)
        .str("tls_mode", c.tls_mode)
        .str("ca_pem", c.ca_pem)
        .str("token_issuer", c.token_issuer)
        .str("token_audience", c.token_audience);
    return dataResponse(out.finish());
  }
  if (op == "delete") {
    if (auto st = storage_.remove(kConfigKey); !st) return std::move(st).error();
    invalidate();
    return noResponse();
  }
  if (!isWrite(op)) return refused(Response::Refusal::UnsupportedOperation);

  auto fields = RequestFields::parse(request.data_json);
  if (!fields) return std::move(fields).error();
  if (auto st = fields->onlyKeys({"connection_url", "username", "password", "password_scheme",
                                  "smtp_host", "smtp_port", "smtp_tls_port", "tls_mode", "ca_pem",
                                  "verify_connection", "token_issuer", "token_audience"});
      !st) {
    return std::move(st).error();
  }
  auto existing = loadConfig();
  if (!existing) return std::move(existing).error();
  Config c = existing.value() ? std::move(*existing.value()) : Config{};

  auto take = [&](std::string_view key, std::string& out) -> foundation::Status {
    auto v = fields->getString(key);
    if (!v) return std::move(v).error();
    if (v.value()) out = std::move(*v.value());
    return {};
  };
  for (auto [key, field] :
       {std::pair<std::string_view, std::string*>{"connection_url", &c.connection_url},
        {"username", &c.username},
        {"password_scheme", &c.password_scheme},
        {"smtp_host", &c.smtp_host},
        {"tls_mode", &c.tls_mode},
        {"ca_pem", &c.ca_pem},
        {"token_issuer", &c.token_issuer},
        {"token_audience", &c.token_audience}}) {
    if (auto st = take(key, *field); !st) return std::move(st).error();
  }
  {
    auto pw = fields->getSecret("password");
    if (!pw) return std::move(pw).error();
    if (pw.value()) c.password = std::move(*pw.value());
  }
  for (auto [key, field] : {std::pair<std::string_view, std::int64_t*>{"smtp_port", &c.smtp_port},
                            {"smtp_tls_port", &c.smtp_tls_port}}) {
    auto v = fields->getInt(key);
    if (!v) return std::move(v).error();
    if (v.value()) *field = *v.value();
  }
  auto verify = fields->getBool("verify_connection");
  if (!verify) return std::move(verify).error();

  if (c.connection_url.empty() || c.username.empty() || c.password.empty() || c.smtp_host.empty()) {
    return foundation::Error::permanent(
        "config needs connection_url, username, password and smtp_host");
  }
  if (auto st = checkConnectionUrl(c.connection_url); !st) return std::move(st).error();
  if (auto st = checkPasswordScheme(c.password_scheme); !st) return std::move(st).error();
  if (c.tls_mode != "starttls" && c.tls_mode != "tls") {
    return foundation::Error::permanent("tls_mode must be starttls or tls");
  }
  if (c.smtp_port < 1 || c.smtp_port > 65535 || c.smtp_tls_port < 0 || c.smtp_tls_port > 65535) {
    return foundation::Error::permanent("smtp_port must be 1-65535 and smtp_tls_port 0-65535");
  }
  if (!c.ca_pem.empty() && c.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return foundation::Error::permanent("ca_pem must be PEM certificates");
  }
  if (c.smtp_host.size() > 253 || c.smtp_host.find_first_of(" \r\n\t/") != std::string::npos) {
    return foundation::Error::permanent("smtp_host must be a host name or address");
  }
  for (const std::string* claim : {&c.token_issuer, &c.token_audience}) {
    // Dovecot compares `iss` with its `issuers` list, split at spaces: none inside.
    if (claim->size() > 512 || std::any_of(claim->begin(), claim->end(), [](char ch) {
          return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f;
        })) {
      return foundation::Error::permanent(
          "token_issuer and token_audience must be printable text without spaces (at most 512)");
    }
  }

  if (verify.value().value_or(true)) {
    auto store = mail_stores_.open(DbSettings{c.connection_url, c.username, c.password.clone()});
    if (auto st = store->verify(); !st) return std::move(st).error().context("database connection");
  }

  auto st = storeConfig(c);
  if (!st) return std::move(st).error().context("storing config");
  invalidate();
  return noResponse();
}

// The config as JSON into the host's storage (it is seal-wrapped there). The JSON holds
// the database password: the std::string protobuf needs is wiped right after the call.
foundation::Status Engine::storeConfig(const Config& c) {
  JsonOut out;
  out.str("connection_url", c.connection_url)
      .str("username", c.username)
      .secret("password", c.password)
      .str("password_scheme", c.password_scheme)
      .str("smtp_host", c.smtp_host)
      .num("smtp_port", c.smtp_port)
      .num("smtp_tls_port", c.smtp_tls_port)
      .str("tls_mode", c.tls_mode)
      .str("ca_pem", c.ca_pem)
      .str("token_issuer", c.token_issuer)
      .str("token_audience", c.token_audience);
  std::string stored = out.finish();
  auto st = storage_.put(kConfigKey, stored);
  wipeString(stored);
  return st;
}

foundation::Result<Response> Engine::handleRotateRoot(const Request& request) {
  if (!isWrite(request.operation)) return refused(Response::Refusal::UnsupportedOperation);
  auto config = loadConfig();
  if (!config) return std::move(config).error();
  if (!config.value())
    return foundation::Error::permanent("the engine is not configured (write config)");
  Config& c = *config.value();

  foundation::SecretBytes new_password = generatePassword(random_);
  {
    std::unique_lock<std::mutex> lock;
    auto store = storeFor(c, lock);
    if (!store) return std::move(store).error();
    if (auto st = store.value()->changeOwnPassword(new_password); !st) {
      return std::move(st).error().context("rotate-root");
    }
  }
  c.password = std::move(new_password);
  auto st = storeConfig(c);
  // The store keeps working with the new password (it updated its own copy); drop it
  // anyway so the next request reconnects exactly as the stored config says.
  invalidate();
  if (!st) {
    return foundation::Error::internal(
        "rotate-root: the database password was changed but storing it failed; reset the "
        "password by hand and write config again");
  }
  return noResponse();
}

// ---------------------------------------------------------------------------- roles

foundation::Result<std::unique_ptr<Engine::Role>> Engine::loadRole(const std::string& name) {
  auto raw = storage_.get(std::string(kRolePrefix) + name);
  if (!raw) return std::move(raw).error().context("reading role");
  if (!raw.value()) return std::unique_ptr<Role>();
  auto fields = RequestFields::parse(*raw.value());
  if (!fields) return foundation::Error::internal("stored role is not valid JSON");
  auto r = std::make_unique<Role>();
  auto ttl = fields->getInt("ttl");
  auto max_ttl = fields->getInt("max_ttl");
  auto senders = fields->getStringList("allowed_senders");
  auto tmpl = fields->getString("username_template");
  auto rate = fields->getInt("send_rate_per_minute");
  auto type = fields->getString("credential_type");
  if (!ttl || !max_ttl || !senders || !tmpl || !rate || !type) {
    return foundation::Error::internal("stored role has a field of the wrong type");
  }
  if (type.value()) r->credential_type = std::move(*type.value());
  r->ttl_s = ttl.value().value_or(0);
  r->max_ttl_s = max_ttl.value().value_or(0);
  if (senders.value()) r->allowed_senders = std::move(*senders.value());
  if (tmpl.value()) r->username_template = std::move(*tmpl.value());
  r->send_rate_per_minute = rate.value().value_or(0);
  return r;
}

foundation::Result<Response> Engine::handleRoleList(const Request& request) {
  if (request.operation != "list") return refused(Response::Refusal::UnsupportedOperation);
  auto keys = storage_.list(kRolePrefix);
  if (!keys) return std::move(keys).error().context("listing roles");
  std::vector<std::string> names = std::move(keys.value());
  std::sort(names.begin(), names.end());
  return dataResponse(JsonOut().list("keys", names).finish());
}

foundation::Result<Response> Engine::handleRole(const Request& request, const std::string& name) {
  if (!validRoleName(name)) {
    return foundation::Error::permanent("role names may only contain A-Z a-z 0-9 . _ - (1-64)");
  }
  const std::string& op = request.operation;
  const std::string key = std::string(kRolePrefix) + name;
  if (op == "read") {
    auto role = loadRole(name);
    if (!role) return std::move(role).error();
    if (!role.value()) return noResponse();
    const Role& r = *role.value();
    return dataResponse(JsonOut()
                            .num("ttl", r.ttl_s)
                            .num("max_ttl", r.max_ttl_s)
                            .list("allowed_senders", r.allowed_senders)
                            .str("username_template", r.username_template)
                            .num("send_rate_per_minute", r.send_rate_per_minute)
                            .str("credential_type", r.credential_type)
                            .finish());
  }
  if (op == "delete") {
    if (auto st = storage_.remove(key); !st) return std::move(st).error().context("deleting role");
    return noResponse();
  }
  if (!isWrite(op)) return refused(Response::Refusal::UnsupportedOperation);

  auto fields = RequestFields::parse(request.data_json);
  if (!fields) return std::move(fields).error();
  if (auto st = fields->onlyKeys({"ttl", "max_ttl", "allowed_senders", "username_template",
                                  "send_rate_per_minute", "credential_type"});
      !st) {
    return std::move(st).error();
  }
  auto existing = loadRole(name);
  if (!existing) return std::move(existing).error();
  Role r = existing.value() ? std::move(*existing.value()) : Role{};

  auto ttl = fields->getDurationSeconds("ttl");
  auto max_ttl = fields->getDurationSeconds("max_ttl");
  auto senders = fields->getStringList("allowed_senders");
  auto tmpl = fields->getString("username_template");
  auto rate = fields->getInt("send_rate_per_minute");
  auto type = fields->getString("credential_type");
  if (!type) return std::move(type).error();
  if (type.value()) r.credential_type = std::move(*type.value());
  if (!ttl) return std::move(ttl).error();
  if (!max_ttl) return std::move(max_ttl).error();
  if (!senders) return std::move(senders).error();
  if (!tmpl) return std::move(tmpl).error();
  if (!rate) return std::move(rate).error();
  if (ttl.value()) r.ttl_s = *ttl.value();
  if (max_ttl.value()) r.max_ttl_s = *max_ttl.value();
  if (senders.value()) r.allowed_senders = std::move(*senders.value());
  if (tmpl.value()) r.username_template = std::move(*tmpl.value());
  if (rate.value()) r.send_rate_per_minute = *rate.value();

  if (r.allowed_senders.empty()) {
    return foundation::Error::permanent(
        "allowed_senders is required (addresses or *@domain the login may send as)");
  }
  for (const auto& s : r.allowed_senders) {
    if (auto k = senderLookupKey(s); !k) return std::move(k).error();
  }
  if (auto st = checkUsernameTemplate(r.username_template); !st) return std::move(st).error();
  if (r.max_ttl_s > 0 && r.ttl_s > r.max_ttl_s) {
    return foundation::Error::permanent("ttl must not exceed max_ttl");
  }
  if (r.send_rate_per_minute < 0 || r.send_rate_per_minute > 1'000'000) {
    return foundation::Error::permanent("send_rate_per_minute must be 0-1000000");
  }
  if (r.credential_type != kCredentialPassword && r.credential_type != kCredentialJwt) {
    return foundation::Error::permanent("credential_type must be password or jwt");
  }
  std::string stored = JsonOut()
                           .num("ttl", r.ttl_s)
                           .num("max_ttl", r.max_ttl_s)
                           .list("allowed_senders", r.allowed_senders)
                           .str("username_template", r.username_template)
                           .num("send_rate_per_minute", r.send_rate_per_minute)
                           .str("credential_type", r.credential_type)
                           .finish();
  if (auto st = storage_.put(key, stored); !st)
    return std::move(st).error().context("storing role");
  return noResponse();
}

// ---------------------------------------------------------------------------- creds

foundation::Result<MailStore*> Engine::storeFor(const Config& config,
                                                std::unique_lock<std::mutex>& lock) {
  lock = std::unique_lock<std::mutex>(store_mutex_);
  const bool same = store_ && store_settings_ &&
                    store_settings_->connection_url == config.connection_url &&
                    store_settings_->username == config.username &&
                    store_settings_->password.equals(config.password);
  if (!same) {
    store_ = mail_stores_.open(
        DbSettings{config.connection_url, config.username, config.password.clone()});
    store_settings_ = std::make_unique<DbSettings>(
        DbSettings{config.connection_url, config.username, config.password.clone()});
  }
  if (!store_) return foundation::Error::internal("no mail store");
  return store_.get();
}

foundation::Status Engine::createLogin(const Request& request, const std::string& name,
                                       const Role& r, const Config& c, std::int64_t now,
                                       NewLogin& login) {
  std::unique_lock<std::mutex> lock;
  auto store = storeFor(c, lock);
  if (!store) return std::move(store).error();
  // A template with a random part can collide with a live login: the store refuses the
  // duplicate (false) and a fresh name is tried, a bounded number of times.
  for (int attempt = 0; attempt < kUsernameAttempts; ++attempt) {
    auto username =
        expandUsernameTemplate(r.username_template, name, request.display_name, now, random_);
    if (!username) return std::move(username).error();
    login.username = std::move(username.value());
    auto created = store.value()->createLogin(login);
    if (!created) return std::move(created).error().context("creating login");
    if (created.value()) return {};
  }
  return foundation::Error::temporary("could not find a free username; try again");
}

foundation::Result<Response> Engine::handleCreds(const Request& request, const std::string& name) {
  if (request.operation != "read") return refused(Response::Refusal::UnsupportedOperation);
  if (!validRoleName(name)) return foundation::Error::permanent("invalid role name");
  auto role = loadRole(name);
  if (!role) return std::move(role).error();
  if (!role.value()) return foundation::Error::permanent("unknown role '" + name + "'");
  const Role& r = *role.value();
  auto config = loadConfig();
  if (!config) return std::move(config).error();
  if (!config.value())
    return foundation::Error::permanent("the engine is not configured (write config)");
  const Config& c = *config.value();

  auto sys_default = system_view_.defaultLeaseTtlNs();
  auto sys_max = system_view_.maxLeaseTtlNs();
  if (!sys_default) return std::move(sys_default).error().context("system view");
  if (!sys_max) return std::move(sys_max).error().context("system view");
  std::int64_t max_s = sys_max.value() > 0 ? sys_max.value() / kNanosPerSecond : kFallbackMaxTtlS;
  if (r.max_ttl_s > 0) max_s = std::min(max_s, r.max_ttl_s);
  std::int64_t ttl_s = r.ttl_s > 0 ? r.ttl_s : sys_default.value() / kNanosPerSecond;
  if (ttl_s <= 0) ttl_s = max_s;
  ttl_s = std::min(ttl_s, max_s);

  std::vector<std::string> sender_keys;
  for (const auto& s : r.allowed_senders) {
    auto k = senderLookupKey(s);
    if (!k) return std::move(k).error();
    sender_keys.push_back(std::move(k.value()));
  }

  if (r.credential_type == kCredentialJwt) {
    return tokenCreds(request, name, r, c, ttl_s, std::move(sender_keys));
  }

  const std::int64_t now = clock_.nowUnixSeconds();
  foundation::SecretBytes password = generatePassword(random_);
  auto hash = hashPassword(c.password_scheme, password, random_);
  if (!hash) return std::move(hash).error();

  NewLogin login;
  login.password_hash = std::move(hash.value());
  login.expires_at = now + ttl_s;
  login.sender_keys = std::move(sender_keys);
  if (auto st = createLogin(request, name, r, c, now, login); !st) return std::move(st).error();

  JsonOut data;
  data.str("username", login.username).secret("password", password);
  putServerFields(data, c, r);

  Response resp = dataResponse(data.finish());
  LeaseOut lease;
  lease.ttl_ns = saturatingSecondsToNanos(ttl_s);
  lease.max_ttl_ns = saturatingSecondsToNanos(max_s);
  lease.renewable = true;
  lease.issue_time_s = now;
  lease.internal_data = JsonOut()
                            .str("secret_type", kSecretType)
                            .str("username", login.username)
                            .str("role", name)
                            .str("ttl_seconds", std::to_string(ttl_s))
                            .str("max_ttl_seconds", std::to_string(max_s))
                            .finish();
  resp.secret = std::move(lease);
  return resp;
}

namespace {

struct LeaseData {
  std::string username;
  std::string role;
  std::string credential_type{kCredentialPassword};
  std::int64_t ttl_s = 0;
  std::int64_t max_ttl_s = 0;
};

foundation::Result<LeaseData> parseLease(const Request& request) {
  if (!request.secret) return foundation::Error::permanent("request carries no lease");
  auto fields = RequestFields::parse(request.secret->internal_data);
  if (!fields) return foundation::Error::permanent("lease internal data is not valid JSON");
  auto type = fields->getString("secret_type");
  auto username = fields->getString("username");
  auto role = fields->getString("role");
  auto ttl = fields->getInt("ttl_seconds");
  auto max_ttl = fields->getInt("max_ttl_seconds");
  auto credential_type = fields->getString("credential_type");
  if (!credential_type) return foundation::Error::permanent("lease internal data is incomplete");
  if (!type || !type.value() || *type.value() != kSecretType) {
    return foundation::Error::permanent("lease is not an SMTP login of this engine");
  }
  if (!username || !username.value() || username.value()->empty() ||
      username.value()->size() > kMaxUsernameLength || !role || !ttl || !max_ttl) {
    return foundation::Error::permanent("lease internal data is incomplete");
  }
  LeaseData d;
  d.username = std::move(*username.value());
  if (role.value()) d.role = std::move(*role.value());
  if (credential_type.value()) d.credential_type = std::move(*credential_type.value());
  d.ttl_s = ttl.value().value_or(0);
  d.max_ttl_s = max_ttl.value().value_or(0);
  return d;
}

}  // namespace

foundation::Result<Response> Engine::handleRenew(const Request& request) {
  auto lease = parseLease(request);
  if (!lease) return std::move(lease).error();
  if (lease->credential_type == kCredentialJwt) {
    // The token's exp is signed into it: a longer lease would outlive its login.
    return foundation::Error::permanent(
        "a token login cannot be renewed (its expiry is signed into the token); read the "
        "creds path again");
  }
  const std::int64_t now = clock_.nowUnixSeconds();
  const std::int64_t issued = request.secret->has_issue_time ? request.secret->issue_time_s : now;
  std::int64_t ttl_s = request.secret->increment_ns > 0
                           ? request.secret->increment_ns / kNanosPerSecond
                           : lease->ttl_s;
  if (ttl_s <= 0) ttl_s = lease->ttl_s;
  if (lease->max_ttl_s > 0) {
    const std::int64_t left = issued + lease->max_ttl_s - now;
    if (left <= 0) return foundation::Error::permanent("lease is past its max_ttl; cannot renew");
    ttl_s = std::min(ttl_s, left);
  }

  auto config = loadConfig();
  if (!config) return std::move(config).error();
  if (!config.value())
    return foundation::Error::temporary("the engine is not configured (write config)");
  {
    std::unique_lock<std::mutex> lock;
    auto store = storeFor(*config.value(), lock);
    if (!store) return std::move(store).error();
    auto ok = store.value()->extendLogin(lease->username, now + ttl_s);
    if (!ok) return std::move(ok).error().context("renewing login");
    if (!ok.value())
      return foundation::Error::permanent("the login no longer exists; cannot renew");
  }
  Response resp;  // data "null": never echo credentials to the renewing caller
  LeaseOut out;
  out.ttl_ns = saturatingSecondsToNanos(ttl_s);
  out.max_ttl_ns = saturatingSecondsToNanos(lease->max_ttl_s);
  out.renewable = true;
  out.issue_time_s = issued;
  out.internal_data = request.secret->internal_data;
  resp.secret = std::move(out);
  return resp;
}

foundation::Result<Response> Engine::handleRevoke(const Request& request) {
  auto lease = parseLease(request);
  if (!lease) return std::move(lease).error();
  auto config = loadConfig();
  if (!config) return std::move(config).error();
  // Temporary: Vault retries, and an operator can still configure the engine again.
  if (!config.value())
    return foundation::Error::temporary("the engine is not configured; cannot revoke");
  std::unique_lock<std::mutex> lock;
  auto store = storeFor(*config.value(), lock);
  if (!store) return std::move(store).error();
  auto gone = store.value()->deleteLogin(lease->username);
  if (!gone) return std::move(gone).error().context("revoking login");
  return noResponse();  // deleted now, or already gone: both are success
}

// ---------------------------------------------------------------------------- tokens

// The token's `azp`: this mount's path, '/' as '-' ("smtp-jwt/" -> "smtp-jwt"). Dovecot
// looks a key up as <key dir>/<azp>/<alg>/<kid>, so each mount's keys have a folder of
// their own that its key sync owns (another issuer's keys live beside it, untouched).
std::string keySetName(std::string_view mount_point) {
  std::string out;
  for (char c : mount_point) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_';
    out += plain ? c : '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? std::string("smtp") : out;
}

std::string Engine::newKid() {
  unsigned char raw[8];
  random_.fill(raw);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string kid = "smtp-";
  for (unsigned char b : raw) {
    kid += kHex[b >> 4];
    kid += kHex[b & 0xf];
  }
  return kid;
}

foundation::Result<KeyRing> Engine::loadRing() {
  auto raw = storage_.get(kKeyRingKey);
  if (!raw) return std::move(raw).error().context("reading the signing keys");
  if (raw.value()) {
    foundation::SecretBytes text = toSecret(*raw.value());
    return KeyRing::parse(std::move(text));
  }
  // First use on this mount: two keys, the first signs, the second is published ahead.
  auto first = generateSigningKey();
  if (!first) return std::move(first).error();
  auto second = generateSigningKey();
  if (!second) return std::move(second).error();
  KeyRing ring;
  std::string first_kid = newKid();
  std::string second_kid = newKid();
  if (auto st = ring.start(clock_.nowUnixSeconds(), std::move(first_kid), std::move(first.value()),
                           std::move(second_kid), std::move(second.value()));
      !st) {
    return std::move(st).error();
  }
  if (auto st = storeRing(ring); !st) return std::move(st).error();
  return ring;
}

foundation::Status Engine::storeRing(const KeyRing& ring) {
  foundation::SecretBytes text = ring.serialize();
  return text.reveal([&](std::string_view v) { return storage_.put(kKeyRingKey, v); });
}

foundation::Result<Response> Engine::tokenCreds(const Request& request, const std::string& name,
                                                const Role& r, const Config& c, std::int64_t ttl_s,
                                                std::vector<std::string> sender_keys) {
  if (c.token_issuer.empty()) {
    return foundation::Error::permanent("role '" + name +
                                        "' issues tokens: set token_issuer in config first");
  }
  const std::int64_t now = clock_.nowUnixSeconds();
  const std::int64_t exp = now + ttl_s;

  // The login first (sender_logins rows only: no credentials row, no password), so a
  // token is never signed for a name that is not bound to its senders.
  NewLogin login;
  login.token_login = true;
  login.expires_at = exp;
  login.sender_keys = std::move(sender_keys);
  if (auto st = createLogin(request, name, r, c, now, login); !st) return std::move(st).error();
  auto undo = [&](foundation::Error e) -> foundation::Result<Response> {
    std::unique_lock<std::mutex> lock;
    if (auto store = storeFor(c, lock); store) (void)store.value()->deleteLogin(login.username);
    return e;
  };

  unsigned char jti_raw[16];
  random_.fill(jti_raw);
  JsonOut claims;
  claims.str("iss", c.token_issuer).str("sub", login.username);
  if (!c.token_audience.empty()) claims.str("aud", c.token_audience);
  claims.str("azp", keySetName(request.mount_point));
  claims.num("iat", now)
      .num("nbf", now)
      .num("exp", exp)
      .str("jti",
           base64Url(std::string_view(reinterpret_cast<const char*>(jti_raw), sizeof jti_raw)))
      .str("smtp_role", name)
      .list("allowed_senders", r.allowed_senders);
  const std::string claims_json = claims.finish();

  std::string kid;
  foundation::SecretBytes token;
  {
    std::lock_guard<std::mutex> keys_lock(keys_mutex_);
    auto ring = loadRing();
    if (!ring) return undo(std::move(ring).error());
    const RingKey* signer = ring.value().current();
    if (signer == nullptr) return undo(foundation::Error::internal("no current signing key"));
    auto signed_token = signJwt(signer->kid, claims_json, signer->private_pem);
    if (!signed_token) return undo(std::move(signed_token).error());
    // Self-check: a stored key whose halves disagree would hand out tokens nobody accepts.
    auto check = signed_token.value().reveal(
        [&](std::string_view t) { return verifyJwt(t, signer->public_jwk); });
    if (!check) return undo(foundation::Error::internal("a signed token did not verify"));
    kid = signer->kid;
    // The key must stay published until this token expires: recorded before it is handed out.
    ring.value().noteSigned(kid, exp);
    if (auto st = storeRing(ring.value()); !st) {
      return undo(std::move(st).error().context("storing the signing keys"));
    }
    token = std::move(signed_token.value());
  }

  JsonOut data;
  data.str("username", login.username)
      .secret("token", token)
      .str("token_type", "JWT")
      .num("token_expires_at", exp)
      .str("token_kid", kid);
  putServerFields(data, c, r);

  Response resp = dataResponse(data.finish());
  LeaseOut lease;
  lease.ttl_ns = saturatingSecondsToNanos(ttl_s);
  lease.max_ttl_ns = saturatingSecondsToNanos(ttl_s);
  lease.renewable = false;  // the token's exp cannot move
  lease.issue_time_s = now;
  lease.internal_data = JsonOut()
                            .str("secret_type", kSecretType)
                            .str("credential_type", kCredentialJwt)
                            .str("username", login.username)
                            .str("role", name)
                            .str("ttl_seconds", std::to_string(ttl_s))
                            .str("max_ttl_seconds", std::to_string(ttl_s))
                            .finish();
  resp.secret = std::move(lease);
  return resp;
}

foundation::Result<Response> Engine::handleJwks(const Request& request) {
  if (request.operation != "read") return refused(Response::Refusal::UnsupportedOperation);
  std::lock_guard<std::mutex> keys_lock(keys_mutex_);
  auto ring = loadRing();
  if (!ring) return std::move(ring).error();
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto str = [&](const char* key, std::string_view value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  w.Key("keys");
  w.StartArray();
  for (const RingKey* k : ring.value().published(clock_.nowUnixSeconds())) {
    w.StartObject();
    str("kty", "RSA");
    str("use", "sig");
    str("alg", kTokenAlgorithm);
    str("kid", k->kid);
    str("n", k->public_jwk.n);
    str("e", k->public_jwk.e);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return dataResponse(std::string(buffer.GetString(), buffer.GetSize()));
}

foundation::Result<Response> Engine::handleRotateKeys(const Request& request) {
  if (!isWrite(request.operation)) return refused(Response::Refusal::UnsupportedOperation);
  auto fields = RequestFields::parse(request.data_json);
  if (!fields) return std::move(fields).error();
  if (auto st = fields->onlyKeys({}); !st) return std::move(st).error();
  std::lock_guard<std::mutex> keys_lock(keys_mutex_);
  auto ring = loadRing();
  if (!ring) return std::move(ring).error();
  auto fresh = generateSigningKey();
  if (!fresh) return std::move(fresh).error();
  const std::int64_t now = clock_.nowUnixSeconds();
  if (auto st = ring.value().rotate(now, newKid(), std::move(fresh.value())); !st) {
    return std::move(st).error();
  }
  if (auto st = storeRing(ring.value()); !st) return std::move(st).error().context("storing keys");
  std::vector<std::string> published;
  for (const RingKey* k : ring.value().published(now)) published.push_back(k->kid);
  return dataResponse(JsonOut()
                          .str("current_kid", ring.value().current()->kid)
                          .str("next_kid", ring.value().next()->kid)
                          .list("published_kids", published)
                          .finish());
}

// ---------------------------------------------------------------------------- help

std::string Engine::helpText(std::string_view path) {
  if (path == "config") {
    return "Configure the mail user database and what clients are told about the SMTP "
           "server.\n\n"
           "token_issuer, token_audience  iss and aud of login tokens (jwt roles)\n"
           "connection_url     libpq conninfo or URI of the mail user database, without user "
           "or password (e.g. \"host=db port=5432 dbname=mail sslmode=verify-full\")\n"
           "username, password the engine's database login (write only; read never returns "
           "the password)\n"
           "password_scheme    Dovecot scheme for stored hashes: SSHA512 (default) or SSHA256\n"
           "smtp_host, smtp_port, smtp_tls_port, tls_mode (starttls|tls), ca_pem\n"
           "                   returned with every credential\n"
           "verify_connection  connect before saving (default true)\n"
           "Delete removes the configuration.";
  }
  if (path == "config/rotate-root") {
    return "Change the engine's own database password to a random one (ALTER ROLE "
           "CURRENT_USER with a client-side SCRAM verifier) and keep only the new one.";
  }
  if (path == "roles" || path == "roles/") return "List the roles.";
  if (path.starts_with("roles/")) {
    return "Create, update, read or delete a role.\n\n"
           "ttl, max_ttl           lease durations (seconds or 1h, 30m, ...; 0 = the mount's)\n"
           "allowed_senders        addresses or *@domain the login may use as MAIL FROM "
           "(required)\n"
           "username_template      default \"smtp-{{role}}-{{random}}\"; placeholders "
           "{{role}}, {{display_name}}, {{unix_time}}, {{random}}, {{random N}}\n"
           "send_rate_per_minute   advisory rate handed to clients (0 = none)\n"
           "credential_type        password (default) or jwt: a passwordless login, a "
           "token signed by this mount (sub = the login, exp = the lease's end) and no "
           "password anywhere";
  }
  if (path == "jwks") {
    return "Read the public keys that verify this mount's login tokens (RFC 7517 JWKS: the "
           "current key, the next one, and retired keys until their last token expires). "
           "A mail host syncs them (e.g. to Dovecot's oauth2 local_validation_key_dict) more "
           "often than the keys rotate.";
  }
  if (path == "jwt/rotate") {
    return "Rotate the token signing keys: the next key (already published) starts signing, "
           "the current one is retired (published until its last token expires), and a new "
           "next key is made. Answers the current, next and published key ids.";
  }
  if (path.starts_with("creds/")) {
    return "Read to create a new SMTP login for the role: username, password (32 random "
           "bytes), smtp_host, smtp_port, smtp_tls_port, tls_mode, ca_pem, allowed_senders, "
           "send_rate_per_minute. The lease is renewable up to max_ttl; revoking it deletes "
           "the login (the next AUTH answers 535).";
  }
  return "The SMTP secrets engine mints short-lived SMTP logins in the mail server's user "
         "database (Dovecot passdb, Postfix sender_login_maps).\n\n"
         "Paths: config, config/rotate-root, roles/, roles/<name>, creds/<name>, jwks, "
         "jwt/rotate.";
}

}  // namespace smtpplugin
