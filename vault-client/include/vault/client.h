// client.h: the Vault/OpenBao client. It knows Vault, not mail.
//
// SECURITY: holds the Vault token (SecretBytes) for the lifetime of a login. Inputs
// from Vault are untrusted and go through response_parser.h only. Never logs a
// request or response body. A response-wrapped secret_id is unwrapped only after
// sys/wrapping/lookup shows it was created by this role's secret-id endpoint: a
// wrapping token minted elsewhere (a forgery that would hand us an attacker's
// credentials) is refused.
// ERRORS: Result values; Vault's `errors` array is included in the message (Vault
// does not put secrets there). Permanent for 4xx (bad credentials, denied), Temporary
// for 5xx, 429, sealed, and transport failures. Requests that are safe to repeat are
// retried with jittered backoff and moved to the next server address on connection
// failures, sealed or standby answers; the others only when they never left.
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/clock.h"
#include "foundation/result.h"
#include "vault/http_transport.h"
#include "vault/request_body.h"
#include "vault/types.h"

namespace vault {

// One HTTP exchange with Vault (one attempt of a request), for metrics. It names the
// operation with a fixed word per Client method ("approle_login", "lease_renew", ...):
// never a path, a lease id, a token or a body, so an observer cannot leak a secret.
struct RequestObservation {
  std::string_view operation;
  long status = 0;                       // the HTTP status; 0 when the transport failed
  bool transport_error = false;          // no answer: connection refused, reset, timeout
  std::chrono::nanoseconds duration{0};  // measured on ClientOptions::clock
  unsigned attempt = 1;                  // 1 for the first try, 2 for the first retry, ...
};
// Called on the thread that made the request, after each attempt; must not throw.
using RequestObserver = std::function<void(const RequestObservation&)>;

struct ClientOptions {
  // Attempts per request over all addresses (1 = no retry).
  unsigned max_attempts = 4;
  foundation::BackoffPolicy retry_backoff{std::chrono::milliseconds(250), std::chrono::seconds(5),
                                          2.0, 0.3};
  foundation::Clock* clock = &foundation::systemClock();
  foundation::UniformSource uniform = foundation::systemUniform();
  RequestObserver observer;  // optional
};

// Whether a request may be sent twice. Unwrapping or a login with a use-limited
// secret_id may not: the first one may have been consumed even if its answer was lost.
enum class Repeatable { Yes, OnlyIfUnsent };

class Client {
 public:
  // One transport per server address, in the order to try them.
  explicit Client(std::vector<HttpTransportPtr> transports, ClientOptions options = {});
  explicit Client(HttpTransportPtr transport, ClientOptions options = {});

  // ---- auth ----
  // POST auth/<mount>/login with role_id and secret_id. On success the client keeps
  // the token for later requests and returns the auth block (token included).
  foundation::Result<AuthInfo> loginAppRole(const foundation::SecretBytes& role_id,
                                            const foundation::SecretBytes& secret_id,
                                            std::string_view mount = "approle");
  // Checks that `wrapping_token` wraps auth/<mount>/role/<role>/secret-id, then
  // unwraps it (once: the token is single-use) and returns the secret_id. With
  // `ttl`: the secret_id's own lifetime from the answer (secret_id_ttl; 0: it does not
  // expire, or the answer does not say).
  foundation::Result<foundation::SecretBytes> unwrapSecretId(
      const foundation::SecretBytes& wrapping_token, std::string_view role,
      std::string_view mount = "approle", std::chrono::seconds* ttl = nullptr);

  // ---- the client's own token ----
  foundation::Result<TokenInfo> lookupSelf();
  // Asks for `increment` more (0: the token's own TTL); returns what was granted.
  foundation::Result<AuthInfo> renewSelf(std::chrono::seconds increment);
  // POST auth/token/revoke-self; forgets the token on success.
  foundation::Status revokeSelf();
  // revoke-self for another token (a replaced one); the client's own is kept.
  foundation::Status revokeToken(const foundation::SecretBytes& token);

  bool hasToken() const noexcept { return !token_.empty(); }
  void setToken(foundation::SecretBytes token) { token_ = std::move(token); }
  // Hands the token over (for keeping it while a new login takes its place).
  foundation::SecretBytes takeToken() { return std::move(token_); }
  // The token itself, for the keeper's hand-off record (sidecar/ipc/handoff.h) only.
  const foundation::SecretBytes& token() const noexcept { return token_; }

  // ---- logical ----
  // GET v1/<path>. With wrap_ttl ("60s") the answer is response-wrapped (wrap_info).
  foundation::Result<LeasedSecret> read(std::string_view path, std::string_view wrap_ttl = {});
  // PUT v1/<path> with a JSON body. Not repeated once sent (writes may not be idempotent).
  foundation::Result<LeasedSecret> write(std::string_view path, foundation::SecretBytes body,
                                         std::string_view wrap_ttl = {});
  // LIST v1/<path>: the keys (an empty list for a 404).
  foundation::Result<std::vector<std::string>> list(std::string_view path);
  // DELETE v1/<path>.
  foundation::Status remove(std::string_view path);

  // ---- leases ----
  // PUT sys/leases/renew/<id> {"increment": n}: the path form, which policies can scope.
  foundation::Result<LeaseInfo> renewLease(std::string_view lease_id,
                                           std::chrono::seconds increment);
  // PUT sys/leases/lookup {"lease_id": id}.
  foundation::Result<LeaseInfo> lookupLease(std::string_view lease_id);
  // PUT sys/leases/revoke/<id>.
  foundation::Status revokeLease(std::string_view lease_id);

  // ---- KV v2, Transit ----
  // GET <mount>/data/<path>[?version=n] (0: the latest).
  foundation::Result<KvSecret> readKv2(std::string_view mount, std::string_view path,
                                       std::int64_t version = 0);
  // Returns "vault:v<n>:..." ciphertext (not secret).
  foundation::Result<std::string> transitEncrypt(std::string_view mount, std::string_view key,
                                                 const foundation::SecretBytes& plaintext);
  foundation::Result<foundation::SecretBytes> transitDecrypt(std::string_view mount,
                                                             std::string_view key,
                                                             std::string_view ciphertext);
  // Signs `input` (raw bytes); returns "vault:v<n>:<signature>".
  foundation::Result<std::string> transitSign(std::string_view mount, std::string_view key,
                                              std::string_view input,
                                              std::string_view hash_algorithm = "sha2-256");
  // A new data key: plaintext (raw bytes, locked) and the key wrapped by `key`.
  foundation::Result<DataKey> transitDataKey(std::string_view mount, std::string_view key,
                                             int bits = 256);

  // ---- sys ----
  // The state of the node that answers (sealed, standby, version); non-2xx health
  // codes are states here, not errors.
  foundation::Result<HealthStatus> health();
  foundation::Result<LeaderStatus> leader();

  // The address index requests go to now (the last one that answered).
  std::size_t currentAddress() const noexcept { return current_; }

 private:
  struct Call {
    Call(HttpMethod m, std::string p, foundation::SecretBytes b, Repeatable r = Repeatable::Yes)
        : method(m), path(std::move(p)), body(std::move(b)), repeatable(r) {}
    HttpMethod method;
    std::string path;
    foundation::SecretBytes body;
    Repeatable repeatable = Repeatable::Yes;
    const foundation::SecretBytes* token = nullptr;  // default: the client's own
    std::string_view operation = "request";          // for the observer: a constant, never a path
    std::string wrap_ttl;
    bool any_status = false;  // hand back non-2xx answers instead of an foundation::Error
  };
  foundation::Result<HttpResponse> call(Call call);
  foundation::Result<HttpResponse> call(std::string_view operation, HttpMethod method,
                                        std::string path, foundation::SecretBytes body = {},
                                        Repeatable repeatable = Repeatable::Yes);

  std::vector<HttpTransportPtr> transports_;
  ClientOptions options_;
  std::size_t current_ = 0;
  foundation::SecretBytes token_;
};

}  // namespace vault
