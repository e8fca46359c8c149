// credential_keeper.cc: AppRole login, credential lease, revocation (see the header).
//
// SECURITY: secret files are opened with O_NOFOLLOW and read with read(2) into
// SecretBytes, so no stdio or std::string buffer ever holds their bytes.
// ERRORS: Result values with context; never a secret in a message.
#include "sidecar/keeper/credential_keeper.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sidecar/base/log.h"
#include "sidecar/keeper/smtp_login_from_secret.h"

namespace sidecar {

using foundation::Error;
using foundation::Result;
using foundation::SecretBytes;
using foundation::Status;

namespace {
constexpr std::size_t kMaxSecretFile = 4096;  // role_id/secret_id are UUIDs

bool isSpace(char c) {
  return c == '\n' || c == '\r' || c == ' ' || c == '\t';
}
}  // namespace

Result<SecretBytes> readSecretFile(const std::string& path, const char* what) {
  const std::string label = std::string(what) + " file " + path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error::permanent("cannot open " + label + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error::permanent(label + " is not a regular file");
  }
  if (st.st_size <= 0 || static_cast<std::size_t>(st.st_size) > kMaxSecretFile) {
    ::close(fd);
    return Error::permanent(label + " is empty or larger than 4 KiB");
  }
  SecretBytes bytes(static_cast<std::size_t>(st.st_size));
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.mutableData() + filled, bytes.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    filled += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::size_t end = filled;
  while (end > 0 && isSpace(bytes.mutableData()[end - 1])) --end;
  bytes.truncate(end);
  if (bytes.empty()) return Error::permanent(label + " holds no value");
  return bytes;
}

namespace {
using foundation::SteadyTime;
using Action = vault::Lifetime::Action;

std::int64_t secondsOf(std::chrono::seconds s) {
  return static_cast<std::int64_t>(s.count());
}

// Vault's HTTP status as vault-client words it ("HTTP 403: permission denied").
bool answeredWith(const Error& error, long status) {
  return error.kind == foundation::ErrorKind::Permanent &&
         error.message.find("HTTP " + std::to_string(status)) != std::string::npos;
}

// OpenBao's user lockout answers every login of a locked role_id with 403 "permission
// denied" (a wrong secret_id gets 400 "invalid role or secret ID"); Vault Enterprise
// words it "user is locked out". A login needs no token, so a 403 can mean nothing else.
bool isLockout(const Error& error) {
  return answeredWith(error, 403) || error.message.find("locked out") != std::string::npos;
}

// A locked role_id's logins are refused without checking the secret_id (so a try
// neither counts nor extends the lockout, 15 minutes by default); the same 403 is what a
// Vault without AppRole at the mount (being rebuilt) answers. Try again each minute.
constexpr auto kLockoutWait = std::chrono::seconds(60);
// A refused secret_id does not come back: look for a new one (a file read, no Vault
// call) this often, and never log in with the refused one again (each failed login
// counts towards a lockout; a different one is tried once).
constexpr auto kRejectedSecretIdWait = std::chrono::seconds(10);

std::array<unsigned char, 32> fingerprint(const SecretBytes& secret) {
  std::array<unsigned char, 32> hash{};
  secret.reveal([&](std::string_view v) {
    crypto_generichash(hash.data(), hash.size(), reinterpret_cast<const unsigned char*>(v.data()),
                       v.size(), nullptr, 0);
  });
  return hash;
}
}  // namespace

CredentialKeeper::CredentialKeeper(VaultSettings settings, vault::Client& client,
                                   foundation::Clock& clock, foundation::UniformSource uniform,
                                   std::vector<std::string> credential_paths)
    : settings_(std::move(settings)), client_(client), clock_(clock), uniform_(std::move(uniform)) {
  if (credential_paths.empty()) credential_paths.push_back(settings_.credential_path);
  for (auto& path : credential_paths) slots_.push_back(makeSlot(std::move(path)));
}

CredentialKeeper::Slot CredentialKeeper::makeSlot(std::string path) const {
  std::string oauth_name =
      path.rfind(kOAuth2PathPrefix, 0) == 0 ? path.substr(kOAuth2PathPrefix.size()) : "";
  return Slot{std::move(path),
              std::nullopt,
              std::nullopt,
              foundation::Backoff(foundation::BackoffPolicy{std::chrono::seconds(1),
                                                            std::chrono::seconds(30), 2.0, 0.2},
                                  uniform_),
              {},
              std::move(oauth_name),
              nullptr,
              {},
              {}};
}

bool CredentialKeeper::ready() const {
  return std::all_of(slots_.begin(), slots_.end(),
                     [this](const Slot& s) { return usableCredential(s) != nullptr; });
}

const CredentialKeeper::Leased* CredentialKeeper::usableCredential(const Slot& slot) const {
  if (!slot.current) return nullptr;
  // Before its first use an SES login waits for IAM to know its key.
  if (clock_.now() < slot.current->usable_at) return nullptr;
  return &*slot.current;
}

vault::LifetimePolicy CredentialKeeper::policy() const {
  return vault::LifetimePolicy{};
}

Status CredentialKeeper::obtainSecretId() {
  if (!secret_id_.empty()) return {};
  if (role_id_.empty()) {
    auto role_id = readSecretFile(settings_.role_id_file, "role_id");
    if (!role_id) return std::move(role_id).error();
    role_id_ = std::move(*role_id);
  }
  if (settings_.secret_id_from_environment) {
    if (given_secret_id_.empty()) {
      return Error::internal("the secret_id from the environment did not reach the keeper");
    }
    return useSecretId(std::move(given_secret_id_), "the environment");
  }
  auto from_file = readSecretFile(settings_.secret_id_file, "secret_id");
  if (!from_file) return std::move(from_file).error();
  if (settings_.remove_secret_id_file) {
    // Read once: no later reader (a restarted process, another user) finds it.
    if (::unlink(settings_.secret_id_file.c_str()) != 0 && errno != ENOENT) {
      log::warn("secret_id_file_not_removed",
                {{"file", settings_.secret_id_file}, {"error", std::strerror(errno)}});
    }
  }
  return useSecretId(std::move(*from_file), "secret_id file " + settings_.secret_id_file);
}

Status CredentialKeeper::useSecretId(SecretBytes given, const std::string& source) {
  if (!settings_.secret_id_wrapped) {
    secret_id_ = std::move(given);
    return {};
  }
  std::chrono::seconds ttl{0};
  auto unwrapped =
      client_.unwrapSecretId(given, settings_.approle_role, settings_.approle_mount, &ttl);
  if (!unwrapped) return unwrapped.error().context(source);
  noteSecretIdTtl(ttl);
  log::info("secret_id_unwrapped",
            {{"role", settings_.approle_role}, {"secret_id_ttl_seconds", secondsOf(ttl)}});
  secret_id_ = std::move(*unwrapped);
  return {};
}

bool CredentialKeeper::loginAllowed(SteadyTime now) {
  if (login_state_ != LoginState::Ok && now < login_blocked_until_) return false;
  if (login_state_ == LoginState::SecretIdRejected) {
    // Whoever hands over a secret_id next (a file, the supervisor): the refused one is
    // dropped, and a new one must be a different one.
    if (!secret_id_.empty() && rejected_secret_id_ &&
        fingerprint(secret_id_) == *rejected_secret_id_) {
      secret_id_ = SecretBytes();
    }
    if (secret_id_.empty()) {
      if (auto s = obtainSecretId();
          !s || secret_id_.empty() ||
          (rejected_secret_id_ && fingerprint(secret_id_) == *rejected_secret_id_)) {
        if (!secret_id_.empty()) secret_id_ = SecretBytes();
        login_blocked_until_ = now + kRejectedSecretIdWait;
        if (!held_back_logged_) {
          held_back_logged_ = true;
          log::warn("vault_login_held_back",
                    {{"reason", "secret_id_rejected"},
                     {"detail",
                      "waiting for a new secret_id (looked for every 10 s); the "
                      "refused one is never tried again"}});
        }
        return false;
      }
    }
  }
  return true;
}

void CredentialKeeper::loginFailed(const Error& error, SteadyTime now) {
  count(stats_.login_failures);
  if (error.kind == foundation::ErrorKind::Temporary) return;  // Vault: the backoff retries
  if (isLockout(error)) {
    count(stats_.lockouts_detected);
    login_state_ = LoginState::LockedOut;
    login_blocked_until_ = now + kLockoutWait;
    log::error("vault_approle_locked_out",
               {{"role", settings_.approle_role},
                {"mount", settings_.approle_mount},
                {"error", error.message},
                {"next_login_in_seconds",
                 secondsOf(std::chrono::duration_cast<std::chrono::seconds>(kLockoutWait))},
                {"detail",
                 "OpenBao locked this role_id after failed logins (user lockout: every instance "
                 "is refused until it ends), or AppRole is not enabled at the mount. One login "
                 "a minute is tried (a locked role_id's logins are not counted)."}});
    return;
  }
  count(stats_.secret_ids_rejected);
  login_state_ = LoginState::SecretIdRejected;
  login_blocked_until_ = now + kRejectedSecretIdWait;
  if (!secret_id_.empty()) rejected_secret_id_ = fingerprint(secret_id_);
  secret_id_ = SecretBytes();
  // Read the role_id again with the next secret_id: a Vault rebuilt from scratch (a
  // dev server restarted, a restore) gives the role a new one.
  role_id_ = SecretBytes();
  held_back_logged_ = false;
  log::error("vault_secret_id_rejected",
             {{"role", settings_.approle_role},
              {"error", error.message},
              {"detail",
               "Vault refused the secret_id (expired, used up or destroyed): it is never tried "
               "again (each failed login counts towards OpenBao's lockout); deliver a new one"}});
}

Status CredentialKeeper::login(SteadyTime now) {
  login_held_back_ = false;
  if (!loginAllowed(now)) {
    login_held_back_ = true;  // no Vault call: logged when the hold began
    return Error::temporary(std::string("vault login held back: ") +
                            (login_state_ == LoginState::LockedOut
                                 ? "the AppRole role_id is locked out (OpenBao user lockout)"
                                 : "Vault refused the secret_id; waiting for a new one"));
  }
  auto auth = client_.loginAppRole(role_id_, secret_id_, settings_.approle_mount);
  if (!auth) {
    loginFailed(auth.error(), now);
    auto error =
        auth.error().context("vault login (AppRole, mount " + settings_.approle_mount + ")");
    // A lockout ends by itself: the caller waits for it (start() is retried).
    if (login_state_ == LoginState::LockedOut) error.kind = foundation::ErrorKind::Temporary;
    return error;
  }
  if (login_state_ != LoginState::Ok) log::info("vault_login_unblocked");
  login_state_ = LoginState::Ok;
  token_denied_ = false;
  count(stats_.logins);
  token_accessor_ = auth->accessor;
  token_life_.emplace(now, auth->lease_duration, auth->renewable, policy(), uniform_);
  log::info("vault_login", {{"accessor", auth->accessor},
                            {"token_ttl_seconds", secondsOf(auth->lease_duration)},
                            {"renewable", auth->renewable}});
  return {};
}

Status CredentialKeeper::start() {
  const SteadyTime now = clock_.now();
  // A token taken over from a dead keeper (adoptHandoff) needs no secret_id.
  if (!client_.hasToken()) {
    if (auto s = obtainSecretId(); !s) return s;
    auto logged_in = login(now);
    if (!logged_in && secret_id_from_handoff_ &&
        logged_in.error().kind == foundation::ErrorKind::Permanent) {
      // The predecessor's secret_id was single-use or has expired: the configured one.
      log::warn("handoff_secret_id_refused", {{"error", logged_in.error().message}});
      secret_id_from_handoff_ = false;
      secret_id_ = SecretBytes();
      if (auto s = obtainSecretId(); !s) return s;
      logged_in = login(now);
    }
    if (!logged_in) return logged_in;
  }
  for (auto& slot : slots_) {
    if (slot.current) continue;
    auto leased = obtain(slot, now);
    if (!leased) return leased.error();
    slot.current.emplace(std::move(*leased));
    ++generation_;
  }
  return {};
}

Result<CredentialKeeper::Leased> CredentialKeeper::leaseNew(const std::string& path,
                                                            SteadyTime now) {
  auto secret = client_.read(path);
  if (!secret) {
    noteTokenAnswer(secret.error());
    return secret.error().context("lease " + path);
  }
  auto login = keeper::smtpLoginFromSecret(secret->data, settings_.ses_region);
  if (!login) {
    if (!secret->lease_id.empty()) (void)client_.revokeLease(secret->lease_id);
    return std::move(login).error().context("lease " + path);
  }
  log::info("credential_leased", {{"path", path},
                                  {"lease_id", secret->lease_id},
                                  {"lease_seconds", secondsOf(secret->lease_duration)},
                                  {"renewable", secret->renewable},
                                  {"ses", login->needs_propagation},
                                  {"token", login->is_token}});
  return Leased{
      std::make_shared<const ipc::SmtpCredential>(ipc::SmtpCredential{
          std::move(login->username), std::move(login->password), secret->lease_id, path,
          login->is_token ? ipc::CredentialKind::OAuth2Token : ipc::CredentialKind::Password}),
      vault::Lifetime(now, secret->lease_duration, secret->renewable, policy(), uniform_),
      login->needs_propagation ? now + settings_.ses_propagation : now, !login->needs_propagation};
}

std::uint64_t CredentialKeeper::secondsToExpiry(std::size_t index) const {
  if (index >= slots_.size() || !slots_[index].current) return 0;
  const auto left = slots_[index].current->life.expiresAt() - clock_.now();
  if (left.count() <= 0) return 0;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(left).count());
}

std::vector<CredentialKeeper::PathView> CredentialKeeper::view() const {
  std::vector<PathView> paths;
  paths.reserve(slots_.size());
  for (const auto& slot : slots_) {
    PathView v{slot.path, nullptr, {}, {}};
    if (slot.current) {
      v.credential = slot.current->credential;
      v.usable_at = slot.current->usable_at;
      v.expires_at = slot.current->life.expiresAt();
    }
    paths.push_back(std::move(v));
  }
  return paths;
}

std::size_t CredentialKeeper::leasesActive() const noexcept {
  // Vault leases only: an OAuth2 token is not one (its expiry is in secondsToExpiry).
  std::size_t held = 0;
  for (const auto& slot : slots_) {
    held += (slot.current && slot.current->vault_lease ? 1u : 0u) +
            (slot.pending && slot.pending->vault_lease ? 1u : 0u);
  }
  for (const auto& r : retiring_) held += r.vault_lease ? 1u : 0u;
  return held;
}

std::uint64_t CredentialKeeper::secondsToExpiry() const {
  std::uint64_t least = 0;
  bool first = true;
  for (const auto& slot : slots_) {
    if (!slot.current) return 0;
    const auto left = slot.current->life.expiresAt() - clock_.now();
    const std::uint64_t seconds =
        left.count() <= 0 ? 0
                          : static_cast<std::uint64_t>(
                                std::chrono::duration_cast<std::chrono::seconds>(left).count());
    if (first || seconds < least) least = seconds;
    first = false;
  }
  return least;
}

void CredentialKeeper::tickSlot(Slot& slot, SteadyTime now, Changes& changes) {
  if (!slot.oauth_name.empty()) return tickOAuthSlot(slot, now, changes);
  if (slot.current && !slot.current->usable_announced && now >= slot.current->usable_at) {
    // An SES login's propagation time is over: the worker may use it (and ready()).
    slot.current->usable_announced = true;
    changes.credential_changed = true;
  }
  if (slot.pending &&
      (now >= slot.pending->usable_at || !slot.current || slot.current->life.expired(now))) {
    // The replacement may be used now (or the old one is gone): it takes over.
    if (slot.current) retire(*slot.current, now + settings_.rotation_grace);
    slot.current = std::move(slot.pending);
    slot.pending.reset();
    slot.current->usable_announced = true;
    ++generation_;
    changes.credential_changed = true;
    log::info("credential_rotated",
              {{"reason", "propagated"}, {"new_lease_id", slot.current->credential->lease_id}});
  }
  if (slot.current && slot.current->life.expired(now)) {
    // Never hand out a dead credential, whatever else is pending.
    log::error("credential_expired", {{"lease_id", slot.current->credential->lease_id}});
    slot.current.reset();
    changes.credential_changed = true;
    slot.lease_retry_at = now;
  }
  if (slot.current) {
    switch (slot.current->life.due(now)) {
      case Action::Wait:
      case Action::Expired:
        break;  // handled above
      case Action::Renew:
        renewLease(slot, now);
        break;
      case Action::Replace:
        if (slot.pending) break;  // its replacement is leased and waits for IAM
        if (!rotate(slot, now, now + settings_.rotation_grace, "max_ttl", changes)) {
          slot.current->life.replaceFailed(now);
        }
        break;
    }
  }
  if (!slot.current && client_.hasToken() && now >= slot.lease_retry_at) {
    auto leased = leaseNew(slot.path, now);
    if (leased) {
      slot.current.emplace(std::move(*leased));
      ++generation_;
      slot.lease_retry.reset();
      changes.credential_changed = true;
    } else {
      slot.lease_retry_at = now + slot.lease_retry.next();
      log::warn("credential_lease_failed",
                {{"path", slot.path}, {"error", leased.error().message}});
    }
  }
}

SteadyTime CredentialKeeper::tick(Changes& changes) {
  const SteadyTime now = clock_.now();
  if (token_life_) {
    switch (token_life_->due(now)) {
      case Action::Wait:
        break;
      case Action::Renew:
        renewToken(now);
        break;
      case Action::Replace:
      case Action::Expired:
        reauthenticate(now, changes);
        break;
    }
    // A new login is wanted but was held back (a refused secret_id, a lockout): try as
    // soon as the hold ends, not at the token's backoff (up to 30 s later). loginAllowed
    // still decides: only a different secret_id, or one try a minute when locked out.
    if (login_state_ != LoginState::Ok && now >= login_blocked_until_ &&
        token_life_->due(now) == Action::Wait && token_life_->replacing()) {
      reauthenticate(now, changes);
    }
  }
  for (auto& slot : slots_) tickSlot(slot, now, changes);
  // A call made with the token was denied: find out now whether the token is gone.
  if (token_denied_ || token_dead_) (void)checkToken(now, changes);
  revokeDue(now, changes);

  // Something became due by what this call did (a renewal that asks for a
  // replacement at once): call again now. Failed attempts move their time forward
  // (backoff), so this does not spin.
  if (token_life_ && token_life_->due(now) != Action::Wait) return now;
  for (const auto& slot : slots_) {
    if (slot.current && !slot.pending && slot.current->life.due(now) != Action::Wait) return now;
  }
  // The earliest future event; anything already past was attempted in this call and
  // rescheduled itself, or waits for something else (a token) that is scheduled.
  SteadyTime next = now + std::chrono::seconds(60);
  auto consider = [&](SteadyTime t) {
    if (t > now && t < next) next = t;
  };
  if (token_life_) consider(token_life_->nextAt());
  if (login_state_ != LoginState::Ok) consider(login_blocked_until_);
  for (const auto& slot : slots_) {
    if (slot.pending) consider(slot.pending->usable_at);
    if (slot.current) {
      consider(slot.current->life.nextAt());
      consider(slot.current->life.expiresAt());
      consider(slot.current->usable_at);  // ready() changes then
    } else {
      consider(slot.lease_retry_at);
    }
  }
  for (const auto& r : retiring_) consider(r.revoke_at);
  for (const auto& t : old_tokens_) consider(t.revoke_at);
  return next;
}

void CredentialKeeper::renewToken(SteadyTime now) {
  auto renewed = client_.renewSelf(token_life_->increment());
  if (!renewed) {
    if (answeredWith(renewed.error(), 403)) {
      // Its own token refused to renew: revoked from outside. Nothing to check first.
      count(stats_.token_revocations_detected);
      count(stats_.token_renewal_failures);
      log::error("vault_token_revoked",
                 {{"error", renewed.error().message}, {"detected_by", "token_renew_self"}});
      token_dead_ = true;  // tick() logs in again right after this
      return;
    }
    count(stats_.token_renewal_failures);
    log::warn("token_renew_failed", {{"error", renewed.error().message},
                                     {"kind", foundation::toString(renewed.error().kind)}});
    token_life_->renewFailed(now, renewed.error());
    return;
  }
  count(stats_.token_renewals);
  token_life_->renewed(now, renewed->lease_duration, renewed->renewable);
  log::info("token_renewed", {{"ttl_seconds", secondsOf(renewed->lease_duration)},
                              {"replace", token_life_->replacing()}});
}

void CredentialKeeper::noteTokenAnswer(const Error& error) {
  if (answeredWith(error, 403)) token_denied_ = true;
}

bool CredentialKeeper::checkToken(SteadyTime now, Changes& changes) {
  token_denied_ = false;
  if (!token_life_ || !client_.hasToken()) return false;
  if (!token_dead_) {
    // At most one new login per 30 s for a "revoked" token: a policy without
    // lookup-self must not turn every denied path into a new login.
    if (last_revoked_login_at_ && now - *last_revoked_login_at_ < std::chrono::seconds(30)) {
      return false;
    }
    auto looked_up = client_.lookupSelf();
    if (looked_up) {
      // The token works: a policy denies that one path (logged where it failed).
      return false;
    }
    if (!answeredWith(looked_up.error(), 403)) {
      // Vault did not say (unreachable): the next denied call asks again.
      return false;
    }
    count(stats_.token_revocations_detected);
    log::error("vault_token_revoked",
               {{"error", looked_up.error().message}, {"detected_by", "token_lookup_self"}});
  }
  token_dead_ = false;
  last_revoked_login_at_ = now;
  // Revoked from outside: its leases (and their SMTP logins) went with it. Log in
  // again now, not at the next scheduled renewal.
  reauthenticate(now, changes, true);
  return true;
}

void CredentialKeeper::reauthenticate(SteadyTime now, Changes& changes, bool token_dead) {
  // The token reaches its max TTL (or is gone). Its child leases die with it, so a
  // new login is followed by new leases, and the old token is revoked after them.
  foundation::SecretBytes old_token = client_.takeToken();
  if (auto s = login(now); !s) {
    if (!login_held_back_) {
      log::error("vault_relogin_failed",
                 {{"error", s.error().message}, {"kind", foundation::toString(s.error().kind)}});
    }
    client_.setToken(std::move(old_token));  // still good until it expires, maybe
    token_life_->replaceFailed(now);
    return;
  }
  const SteadyTime retire_old_at = token_dead ? now : now + settings_.rotation_grace;
  for (auto& slot : slots_) {
    // An OAuth2 token does not hang on the Vault token: it stays.
    if (slot.current && slot.oauth_name.empty() &&
        !rotate(slot, now, retire_old_at, token_dead ? "token_revoked" : "token_max_ttl",
                changes)) {
      // Leasing under the new token failed: try again soon; the old lease still works.
      slot.current->life.replaceFailed(now);
    }
  }
  if (token_dead) return;  // nothing to revoke: Vault did
  if (!old_token.empty()) {
    // After the retired leases (revoking a token revokes its leases too).
    old_tokens_.push_back({std::move(old_token), now + settings_.rotation_grace});
  }
}

void CredentialKeeper::renewLease(Slot& slot, SteadyTime now) {
  auto& current = *slot.current;
  const std::string& id = current.credential->lease_id;
  auto renewed = client_.renewLease(id, current.life.increment());
  if (!renewed) {
    noteTokenAnswer(renewed.error());
    count(stats_.lease_renewal_failures);
    log::warn("lease_renew_failed", {{"lease_id", id},
                                     {"error", renewed.error().message},
                                     {"kind", foundation::toString(renewed.error().kind)}});
    current.life.renewFailed(now, renewed.error());
    return;
  }
  count(stats_.lease_renewals);
  current.life.renewed(now, renewed->ttl, renewed->renewable);
  log::info("lease_renewed", {{"lease_id", id},
                              {"ttl_seconds", secondsOf(renewed->ttl)},
                              {"replace", current.life.replacing()}});
}

void CredentialKeeper::retire(Leased& old, SteadyTime retire_old_at) {
  retiring_.push_back({old.credential->lease_id, retire_old_at,
                       std::max(old.life.expiresAt(), retire_old_at), old.vault_lease});
}

bool CredentialKeeper::rotate(Slot& slot, SteadyTime now, SteadyTime retire_old_at,
                              const char* reason, Changes& changes) {
  auto fresh = leaseNew(slot.path, now);
  if (!fresh) {
    log::warn("credential_rotation_failed", {{"reason", reason}, {"error", fresh.error().message}});
    return false;
  }
  countRotation(reason);
  if (fresh->usable_at > now && retire_old_at > now && !slot.current->life.expired(now)) {
    // An SES login IAM does not know yet: the old one keeps serving until it may be used
    // (tickSlot swaps them). A refused old login (retire_old_at = now) is not kept.
    log::info("credential_rotation_pending",
              {{"reason", reason}, {"new_lease_id", fresh->credential->lease_id}});
    if (slot.pending) retire(*slot.pending, now);
    slot.pending.emplace(std::move(*fresh));
    return true;
  }
  Leased old = std::move(*slot.current);
  slot.current.emplace(std::move(*fresh));
  ++generation_;
  changes.credential_changed = true;
  log::info("credential_rotated", {{"reason", reason},
                                   {"old_lease_id", old.credential->lease_id},
                                   {"new_lease_id", slot.current->credential->lease_id}});
  retire(old, retire_old_at);
  return true;
}

void CredentialKeeper::credentialRefused(const std::string& lease_id, Changes& changes) {
  for (auto& slot : slots_) {
    if (!slot.current || slot.current->credential->lease_id != lease_id) continue;
    const SteadyTime now = clock_.now();
    if (!slot.oauth_name.empty()) {
      oauthRefused(slot, now, changes);  // one new token; the worker retries once
      revokeDue(now, changes);
      return;
    }
    log::warn("credential_refused_by_smtp_server", {{"lease_id", lease_id}, {"kind", "password"}});
    if (now < slot.refused_retry_at) return;  // a replacement is already being retried
    // The lease may have gone with its token (revoked from outside): then a new login
    // replaces every path's credential at once.
    if (checkToken(now, changes)) {
      revokeDue(now, changes);
      return;
    }
    // The login is gone (revoked or expired outside our control): no grace for it.
    if (!rotate(slot, now, now, "refused", changes)) {
      // Kept: a credential is never dropped because its replacement could not be
      // leased (Vault or its database may be down; the refusal may have been the SMTP
      // side's). The replacement is retried with backoff (Lifetime::Replace).
      log::warn("credential_kept_until_replaced", {{"lease_id", lease_id}, {"path", slot.path}});
      slot.current->life.replaceFailed(now);
      slot.refused_retry_at = now + slot.lease_retry.next();
    } else {
      slot.lease_retry.reset();
      slot.refused_retry_at = {};
    }
    revokeDue(now, changes);
    return;
  }
  // Not current (already replaced): nothing to do.
}

void CredentialKeeper::revokeDue(SteadyTime now, Changes& changes) {
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    if (it->revoke_at > now) {
      ++it;
      continue;
    }
    if (!it->vault_lease) {
      // An OAuth2 token: nothing to revoke at Vault (a client-credentials token cannot
      // be revoked at Entra ID either); the worker closes the connections it logged in.
      log::info("oauth2_token_retired", {{"token_id", it->lease_id}});
      changes.retired_leases.push_back(it->lease_id);
      it = retiring_.erase(it);
      continue;
    }
    auto s = client_.revokeLease(it->lease_id);
    if (s || s.error().kind != foundation::ErrorKind::Temporary || now >= it->give_up_at) {
      if (s)
        log::info("lease_revoked", {{"lease_id", it->lease_id}});
      else
        log::warn("lease_revoke_failed",
                  {{"lease_id", it->lease_id}, {"error", s.error().message}});
      changes.retired_leases.push_back(it->lease_id);
      it = retiring_.erase(it);
    } else {
      it->revoke_at = now + std::chrono::seconds(5);  // Vault unreachable: again soon
      ++it;
    }
  }
  // Tokens only once none of their leases waits any more.
  if (!retiring_.empty()) return;
  for (auto it = old_tokens_.begin(); it != old_tokens_.end();) {
    if (it->revoke_at > now) {
      ++it;
      continue;
    }
    auto s = client_.revokeToken(it->token);
    if (!s && s.error().kind == foundation::ErrorKind::Temporary) {
      it->revoke_at = now + std::chrono::seconds(5);
      ++it;
      continue;
    }
    if (s) log::info("replaced_token_revoked");
    it = old_tokens_.erase(it);  // revoked, or already gone (expired: 403)
  }
}

std::vector<std::string> CredentialKeeper::reconfigure(const VaultSettings& fresh,
                                                       std::vector<std::string> credential_paths) {
  Config before, after;
  before.vault = settings_;
  after.vault = fresh;
  std::vector<std::string> restart;
  // What the keeper applies live is config.cc's table's (reload::kKeeper): the grace
  // and the credential paths; the rest of [vault] needs a restart.
  for (const auto& change : configChanges(before, after)) {
    if ((change.live & reload::kKeeper) == 0) {
      restart.push_back(change.key);
      continue;
    }
    settings_.rotation_grace = fresh.rotation_grace;
    settings_.credential_path = fresh.credential_path;  // the paths are below
  }
  if (credential_paths.empty()) credential_paths.push_back(settings_.credential_path);
  // Slots are ordered as the paths (the worker asks by index). A kept path keeps its
  // lease; a new one is leased at the next tick; a dropped one's lease is retired
  // after the grace (sends in flight finish on it).
  const SteadyTime now = clock_.now();
  std::vector<Slot> slots;
  for (auto& path : credential_paths) {
    auto it =
        std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.path == path; });
    if (it != slots_.end()) {
      slots.push_back(std::move(*it));
      slots_.erase(it);
    } else {
      log::info("credential_path_added", {{"path", path}});
      slots.push_back(makeSlot(std::move(path)));
    }
  }
  for (auto& dropped : slots_) {
    log::info("credential_path_removed", {{"path", dropped.path}});
    if (dropped.current) retire(*dropped.current, now + settings_.rotation_grace);
    if (dropped.pending) retire(*dropped.pending, now);
  }
  slots_ = std::move(slots);
  return restart;
}

void CredentialKeeper::count(std::uint64_t& counter) {
  ++counter;
  if (stats_listener_) stats_listener_();
}

void CredentialKeeper::countRotation(const std::string& reason) {
  ++stats_.rotations[reason];
  if (stats_listener_) stats_listener_();
}

Status CredentialKeeper::revokeAll() {
  Status result;
  auto remember = [&](const Status& s) {
    if (!s && result) result = s.error();
  };
  std::vector<std::string> leases;
  for (auto& slot : slots_) {
    if (slot.current && slot.current->vault_lease) {
      leases.push_back(slot.current->credential->lease_id);
    }
    if (slot.pending && slot.pending->vault_lease) {
      leases.push_back(slot.pending->credential->lease_id);
    }
    slot.current.reset();
    slot.pending.reset();
  }
  for (const auto& r : retiring_) {
    if (r.vault_lease) leases.push_back(r.lease_id);
  }
  retiring_.clear();
  for (const auto& id : leases) {
    if (id.empty()) continue;
    auto s = client_.revokeLease(id);
    if (s)
      log::info("lease_revoked", {{"lease_id", id}});
    else
      log::error("lease_revoke_failed", {{"lease_id", id}, {"error", s.error().message}});
    remember(s);
  }
  if (client_.hasToken()) {
    auto s = client_.revokeSelf();
    if (s)
      log::info("token_revoked");
    else
      log::error("token_revoke_failed", {{"error", s.error().message}});
    remember(s);
  }
  for (auto& old : old_tokens_) (void)client_.revokeToken(old.token);  // best effort
  old_tokens_.clear();
  token_life_.reset();
  return result;
}

}  // namespace sidecar
