// config.h: the sidecar's configuration: a TOML file plus environment overrides.
//
// SECURITY: the config names files that hold secrets (role_id, secret_id) but never
// holds a secret itself, so a Config may be logged. Config text and environment are
// operator input: parsed strictly (unknown keys are errors, so a typo cannot silently
// fall back to a default such as plaintext SMTP).
// ERRORS: Permanent errors naming the offending key and why.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"
#include "sidecar/base/log.h"

namespace sidecar {

enum class SmtpTls {
  StartTls,  // plain connect, STARTTLS required before AUTH (submission, port 587)
  Implicit,  // TLS from the first byte (submissions, port 465)
  None,      // plaintext: only with smtp.allow_insecure = true, logs a warning
};

struct VaultSettings {
  // https://host:port, http://... (dev), unix:///path; several, comma-separated, for
  // an HA cluster: tried in order, the one that answers is kept.
  std::string address;
  std::string ca_file;          // trusted CA bundle for https
  std::string vault_namespace;  // X-Vault-Namespace
  std::string approle_mount = "approle";
  std::string role_id_file;
  std::string secret_id_file;
  // The secret_id file holds a response-wrapping token for the secret_id (delivered by
  // the bootstrap): it is unwrapped once, after checking it was minted by
  // auth/<approle_mount>/role/<approle_role>/secret-id.
  bool secret_id_wrapped = false;
  std::string approle_role;            // required when secret_id_wrapped
  bool remove_secret_id_file = false;  // delete the file once read (it is single-use anyway)
  // The secret_id came in SMTP_SIDECAR_SECRET_ID (see hardening.h) instead of a file: the
  // supervisor holds it and hands it to each keeper it starts. Set by loadConfig's
  // caller, never by the file.
  bool secret_id_from_environment = false;
  std::string credential_path;  // e.g. database/creds/example-app: must return username+password
  std::chrono::seconds request_timeout{30};
  // On rotation, sends in flight finish on the old credential for this long before
  // its lease is revoked and its SMTP connections are closed.
  std::chrono::seconds rotation_grace{30};
  // Amazon SES (docs/providers/amazon-ses.md): a credential path that answers an IAM
  // key (aws/creds/<role>) becomes the SES SMTP login for this region; "" = none.
  std::string ses_region;
  // A new IAM key is refused for a while (IAM is eventually consistent): it is first
  // used this long after it was leased; at rotation the old one serves meanwhile.
  std::chrono::seconds ses_propagation{15};

  std::vector<std::string> addresses() const;  // `address` split at commas
};

struct SmtpSettings {
  std::string host;
  std::uint16_t port = 0;  // 0: 587 for StartTls, 465 for Implicit, 25 for None
  SmtpTls tls = SmtpTls::StartTls;
  std::string ca_file;  // trusted CA bundle; required unless tls = None
  std::string helo_name = "localhost";
  bool allow_insecure = false;
  std::chrono::seconds timeout{60};
  // Asynchronous messages are retried on temporary failures (4xx, connection errors,
  // no credential) with exponential backoff for this long, then reported failed.
  std::chrono::seconds retry_for{3600};
  // SMTP transfers at once (the connections kept open per credential, too); more
  // messages wait in order, up to listen.max_queue.
  unsigned max_connections = 8;
  // A connection carries at most this many messages, then says QUIT (providers limit
  // messages per session; a fresh login also re-checks the credential now and then).
  unsigned max_messages_per_connection = 100;
  // An idle connection is closed (QUIT) after this long without a message.
  std::chrono::seconds idle_timeout{30};
};

struct ListenSettings {
  std::string socket_path;
  std::uint32_t socket_mode = 0660;
  // Group name or numeric gid the supervisor gives the socket (empty: its own), so that
  // socket_mode 0660 lets exactly that group's members connect.
  std::string socket_group;
  std::size_t max_message_bytes = 25u << 20;
  // Messages accepted but not finished (sync and async); past it, 429 queue_full.
  std::size_t max_queue = 1000;
  // The bytes of those messages together, checked when one is handed on: past it,
  // 429 queue_full with Retry-After (never a drop). At least max_message_bytes.
  // With max_pending_bytes, this bounds the worker's memory (docs/THREAT_MODEL.md).
  std::size_t max_queue_bytes = std::size_t{256} << 20;
  // Seconds a client has to send a whole request (headers and body); slower ones are
  // cut off (slowloris).
  std::uint32_t request_timeout_seconds = 30;
  // Open client connections; past it (or past what RLIMIT_NOFILE leaves), new clients
  // wait in the listen backlog.
  std::size_t max_connections = 16384;
  // Request bodies being received or turned into messages, over all connections: a
  // body's announced length (a chunked one: the profile's max_message_bytes) is
  // reserved before it is read; past it, 503 server_busy. At least max_message_bytes.
  std::size_t max_pending_bytes = std::size_t{256} << 20;
  // The SMTP intake (sidecar/worker/intake): RFC 5321 submission on a second Unix socket
  // (same socket_mode and socket_group; empty: off) and on loopback TCP, 127.0.0.1 and
  // ::1 (port 0: off, the default, because every process in the network namespace can
  // reach it; callers are identified by the kernel either way).
  std::string smtp_socket_path;
  std::uint16_t smtp_port = 0;
  std::size_t smtp_max_connections = 100;    // open SMTP connections; more get 421
  std::chrono::seconds smtp_timeout{300};    // RFC 5321 4.5.3.2.7: 5 minutes per command
  std::string smtp_host_name = "localhost";  // in the greeting and the EHLO reply
};

struct ProcessSettings {
  // Started as root, the sidecar drops to this user before it starts its roles; root
  // without it is refused.
  std::string user;
  // The accounts the keeper and the worker run as (default: `user`). With their own
  // users, only the keeper's can read the AppRole files, and a compromised worker
  // cannot (sidecar/supervisor/README.md). Needs the sidecar to be started as root.
  std::string keeper_user;
  std::string worker_user;
  const std::string& keeperUser() const { return keeper_user.empty() ? user : keeper_user; }
  const std::string& workerUser() const { return worker_user.empty() ? user : worker_user; }
  // A system-call filter per role (seccomp.h). Off only to find out whether a
  // platform's library needs a call the lists lack.
  bool seccomp = true;
  // The least important log lines written to stderr (debug, info, warn, error).
  log::Level log_level = log::Level::Info;
};

// Who may send, with which credential and within which limits. A connecting peer is
// identified by SO_PEERCRED (the kernel's word, not the client's) and matched against
// the profiles: first a profile listing its uid, else the first listing its primary
// gid. No match: 403.
struct Profile {
  std::string name;
  std::vector<std::uint32_t> uids;
  std::vector<std::uint32_t> gids;
  bool matches_everyone = false;  // the implicit "default" profile (no [[profile]])
  std::string credential_path;    // default: vault.credential_path
  // Envelope sender and every From address must match one ("user@domain" or
  // "*@domain", case-insensitive). Empty: any sender.
  std::vector<std::string> senders;
  std::size_t max_recipients = 0;     // 0: only the submission limit (100)
  std::size_t max_message_bytes = 0;  // default: listen.max_message_bytes (never above)
  std::uint32_t rate_per_minute = 0;  // token bucket; 0: unlimited
  std::uint32_t burst = 0;            // bucket size; default: rate_per_minute
  // The envelope sender of a message whose caller named none (sendmail without -f):
  // then, without it, the message's single From address. Must pass `senders`.
  std::string default_sender;
  // Recipients without a domain (cron's "root", MAILTO=ops) -> an address. Without an
  // entry, such a recipient is refused.
  std::map<std::string, std::string> aliases;
  bool operator==(const Profile&) const = default;
};

// An OAuth2 client the keeper gets SMTP access tokens with (issue 18,
// docs/providers/): a credential path "oauth2:<name>" (vault.credential_path or a
// profile's) names it. Its secret or private key is read from Vault KV version 2
// (kv_mount, kv_path, kv_field) for each token request: never from a file or the
// environment, so nothing here is secret.
inline constexpr std::string_view kOAuth2PathPrefix = "oauth2:";
struct OAuth2Client {
  std::string name;  // [a-z0-9_-], 1-64
  // https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token,
  // https://oauth2.googleapis.com/token; plain http only to a loopback address.
  std::string token_endpoint;
  std::string client_id;  // Entra ID: the application id; Google: the service account's email
  std::string scope;      // "https://outlook.office365.com/.default", "https://mail.google.com/"
  // client_secret_post, client_secret_basic, private_key_jwt (Entra ID certificate), or
  // jwt_bearer (Google's service-account grant, RFC 7523 2.1).
  std::string authentication = "client_secret_post";
  std::string subject;   // jwt_bearer: the mailbox to act for (domain-wide delegation)
  std::string key_id;    // kid of the signing key, when the endpoint wants one
  std::string audience;  // aud of an assertion; "" = the token endpoint
  std::string ca_file;   // PEM bundle for the token endpoint; "" = the system's
  std::string kv_mount = "secret";
  std::string kv_path;   // e.g. "smtp-oauth/example-app"
  std::string kv_field;  // default: client_secret, or private_key for the key methods
  // The SMTP login the token is presented for (XOAUTH2 user=, OAUTHBEARER a=): the
  // mailbox. Default: subject, else client_id.
  std::string sasl_user;
  // A token is replaced when two thirds of its life are over, and at the latest this
  // long before it expires, so a send never needs a token that is about to end.
  std::chrono::seconds refresh_margin{60};
  std::chrono::seconds timeout{10};  // one token request
  bool operator==(const OAuth2Client&) const = default;
};

// The [[oauth2]] client a credential path names, or nullptr (not an oauth2: path, or
// no such client).
struct Config;
const OAuth2Client* findOAuth2Client(const Config& config, std::string_view credential_path);

struct AuditSettings {
  std::string file;  // one JSON line per message; empty: stderr
};

// The durable spool of asynchronous messages (sidecar/spool/store.h).
struct SpoolSettings {
  // Where accepted asynchronous messages are kept, sealed and fsynced, until they end
  // (the worker's own directory, 0700). Empty: no spool, and an asynchronous message
  // lives only in the worker's memory: a restart loses it (logged at start).
  std::string directory;
  // The app's own Transit key whose data key seals the files; only the keeper uses it.
  std::string transit_mount = "transit";
  std::string transit_key;                       // required with directory
  std::size_t max_bytes = std::size_t{1} << 30;  // sealed files; past it 429 + Retry-After
  std::size_t max_messages = 10000;
  // How long a finished message's status still answers GET /v1/messages/{id}.
  std::chrono::seconds retention{7 * 24 * 3600};
  bool fsync = true;  // off only to measure its cost (bench/)
  // One syncfs + directory fsync per batch of messages that arrived while the disk
  // was busy (spool/committer.h); false: fsync per file (kept to measure against).
  bool group_commit = true;
};

struct Config {
  ProcessSettings process;
  VaultSettings vault;
  SmtpSettings smtp;
  ListenSettings listen;
  AuditSettings audit;
  SpoolSettings spool;
  // Never empty after parseConfig: without [[profile]] sections, one implicit profile
  // "default" that matches every peer.
  std::vector<Profile> profiles;
  std::vector<OAuth2Client> oauth2;  // [[oauth2]] tables

  // The distinct credential paths of the profiles, in order of first use: the keeper
  // leases one credential per entry, and the worker asks for one by its index.
  std::vector<std::string> credentialPaths() const;
  // True when no [[profile]] was configured (every local user who can open the socket
  // may send).
  bool implicitProfile() const { return profiles.size() == 1 && profiles[0].matches_everyone; }
};

using Environment = std::map<std::string, std::string, std::less<>>;

// Parses TOML text, then applies SMTP_SIDECAR_<SECTION>_<KEY> variables from `env`
// (e.g. SMTP_SIDECAR_VAULT_ADDRESS, SMTP_SIDECAR_SMTP_PORT), then validates.
// `source_name` names the file in error messages.
// `secret_id_from_environment`: the secret_id is not read from a file (so
// vault.secret_id_file is optional).
foundation::Result<Config> parseConfig(std::string_view toml_text, const Environment& env,
                                       std::string_view source_name = "config",
                                       bool secret_id_from_environment = false);

// Reads the file and the process environment, then parseConfig().
foundation::Result<Config> loadConfig(const std::string& path,
                                      bool secret_id_from_environment = false);

// The process environment as an Environment (only SMTP_SIDECAR_* entries, except the
// secret_id itself, which is never configuration).
Environment sidecarEnvironment();

// Variables with the SMTP_SIDECAR_ prefix that belong to the programs beside the daemon
// (smtp-sidecar-sendmail's SMTP_SIDECAR_SOCKET): ignored by the daemon and doctor, so a
// shared environment does not stop them; any other unknown one is refused (a typo).
bool isClientEnvironmentVariable(std::string_view name);

const char* toString(SmtpTls tls) noexcept;

// What SIGHUP does with a changed setting: who applies it while running (flags, one
// column of config.cc's parameter table, the only list); none (kRestart): it is read
// once at start and a change takes effect at the next start (the supervisor says so).
namespace reload {
inline constexpr unsigned kRestart = 0;
inline constexpr unsigned kEveryRole = 1u << 0;       // each process (process.log_level)
inline constexpr unsigned kKeeper = 1u << 1;          // the keeper: grace, credential paths
inline constexpr unsigned kWorkerSender = 1u << 2;    // the worker: a new sender, queue limits
inline constexpr unsigned kWorkerProfiles = 1u << 3;  // the worker: profiles and their paths
inline constexpr unsigned kWorkerAudit = 1u << 4;     // the worker: the audit file, reopened
}  // namespace reload

struct ConfigChange {
  std::string key;  // "section.key", or "profile" for any difference in the profiles
  unsigned live;    // reload:: flags
};

// The settings whose values differ between two configs, in the table's order.
std::vector<ConfigChange> configChanges(const Config& before, const Config& after);

// The keys only ("section.key"; "profile").
std::vector<std::string> changedKeys(const Config& before, const Config& after);

// The reload:: flags of a key, or nullopt for a key that does not exist.
std::optional<unsigned> reloadOf(std::string_view key);

}  // namespace sidecar
