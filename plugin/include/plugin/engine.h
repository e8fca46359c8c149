// engine.h: the SMTP secrets engine: paths config, config/rotate-root, roles/<name>,
// roles/ (list), creds/<name>, jwks, jwt/rotate, plus lease renew and revoke and help
// text. A role of credential_type "jwt" mints passwordless logins: a token signed by the
// mount's key ring (token_keys.h) instead of a password, and no credentials row. Pure logic
// over the interfaces in host.h and mail_store.h, so it runs without Vault or a
// database in unit tests; backend_service.cc connects it to gRPC.
//
// SECURITY: requests come from Vault, which has already authorised the caller for the
// path; the engine still validates every field. Secrets handled: the database password
// (stored in Vault storage, never returned by a read, kept in SecretBytes) and each new
// SMTP password (returned once in the creds response; only its salted hash reaches the
// database); the token signing keys (Vault storage, seal-wrapped; never returned: jwks
// shows public halves only) and each token (returned once, like a password). Revocation relies only
// on the lease's internal_data. ERRORS: Result errors map to ProtoError: Permanent -> user error
// (400), Temporary (database or storage unreachable) -> unknown error (500, Vault retries
// revocations), Internal -> internal error. Unknown paths/operations come back as
// Response::Refusal.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"
#include "plugin/host.h"
#include "plugin/mail_store.h"
#include "plugin/request.h"
#include "plugin/token_keys.h"

namespace smtpplugin {

inline constexpr std::string_view kSecretType = "smtp_login";

// The `azp` claim of this mount's tokens and the folder of its keys at the mail host:
// the mount path with every character but [A-Za-z0-9_-] as '-', trailing '-' dropped.
std::string keySetName(std::string_view mount_point);

class Engine {
 public:
  Engine(Storage& storage, SystemView& system_view, MailStoreFactory& mail_stores, Clock& clock,
         RandomSource& random);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Thread-safe: Vault sends concurrent requests.
  foundation::Result<Response> handle(const Request& request);

  // Drops the cached database connection (config changed elsewhere, or Cleanup).
  void invalidate();

  // The help text of a path ("" = the backend overview).
  static std::string helpText(std::string_view path);

 private:
  struct Config;
  struct Role;

  foundation::Result<Response> handleConfig(const Request& request);
  foundation::Result<Response> handleRotateRoot(const Request& request);
  foundation::Result<Response> handleRole(const Request& request, const std::string& name);
  foundation::Result<Response> handleRoleList(const Request& request);
  foundation::Result<Response> handleCreds(const Request& request, const std::string& name);
  foundation::Result<Response> handleRenew(const Request& request);
  foundation::Result<Response> handleRevoke(const Request& request);
  foundation::Result<Response> handleJwks(const Request& request);
  foundation::Result<Response> handleRotateKeys(const Request& request);
  foundation::Result<Response> tokenCreds(const Request& request, const std::string& name,
                                          const Role& role, const Config& config,
                                          std::int64_t ttl_s, std::vector<std::string> sender_keys);
  // Creates `login` in the mail store under a fresh name from the role's template
  // (filled in login.username); the caller has set everything else.
  foundation::Status createLogin(const Request& request, const std::string& name, const Role& role,
                                 const Config& config, std::int64_t now, NewLogin& login);
  // The key ring, started (two keys) if the mount has none yet. Caller holds keys_mutex_.
  foundation::Result<KeyRing> loadRing();
  foundation::Status storeRing(const KeyRing& ring);
  std::string newKid();

  foundation::Result<std::unique_ptr<Config>> loadConfig();
  foundation::Status storeConfig(const Config& c);
  foundation::Result<std::unique_ptr<Role>> loadRole(const std::string& name);
  // The cached store for this config, (re)opened when the settings changed. The
  // returned lock keeps other requests off the single connection while it is used.
  foundation::Result<MailStore*> storeFor(const Config& config, std::unique_lock<std::mutex>& lock);

  Storage& storage_;
  SystemView& system_view_;
  MailStoreFactory& mail_stores_;
  Clock& clock_;
  RandomSource& random_;

  std::mutex keys_mutex_;  // load-modify-store of the key ring
  std::mutex store_mutex_;
  std::unique_ptr<MailStore> store_;
  std::unique_ptr<DbSettings> store_settings_;
};

}  // namespace smtpplugin
