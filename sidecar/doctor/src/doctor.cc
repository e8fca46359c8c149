// doctor.cc: the runner of `smtp-sidecar doctor`: performs each check for real and hands
// the raw outcome to the pure diagnosis (doctor_diagnosis.cc).
//
// SECURITY: reads role_id and secret_id into locked memory like the keeper, but never
// unwraps a wrapped secret_id (sys/wrapping/lookup only) and never deletes the file.
// The leased SMTP password is used by the relay client exactly as when sending (the
// AUTH line built and written from locked memory); the SMTP session is that client's,
// so TLS is verified by the same code as in the sidecar. Prints no secret: lease ids and accessors
// are not secrets. The lease and the token are revoked before returning, whatever failed in
// between. ERRORS: every failure becomes a FAIL line with a cause and a hint; exit status 1.
#include "sidecar/doctor/doctor.h"

#include <curl/curl.h>

#include <algorithm>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "foundation/curl_global.h"
#include "foundation/curl_options.h"
#include "sidecar/doctor/token_findings.h"
#include "sidecar/keeper/credential_keeper.h"
#include "sidecar/keeper/smtp_login_from_secret.h"
#include "sidecar/relay/asio_smtp_sender.h"
#include "sidecar/relay/smtp_diagnosis.h"
#include "sidecar/spool/store.h"
#include "vault/client.h"
#include "vault/request_body.h"
#include "vault/response_parser.h"

namespace sidecar::doctor {
namespace {

constexpr std::size_t kMaxHealthBody = 64 * 1024;

class Report {
 public:
  explicit Report(std::ostream& out) : out_(out) {}
  void add(std::string_view step, const Finding& f) {
    if (f.ok) {
      out_ << "[ ok ] " << step << ": " << f.what << "\n";
      return;
    }
    ++failed_;
    out_ << "[FAIL] " << step << ": " << f.what << "\n";
    if (!f.hint.empty()) out_ << "       hint: " << f.hint << "\n";
  }
  void skip(std::string_view step, std::string_view why) {
    out_ << "[skip] " << step << ": " << why << "\n";
  }
  int failed() const { return failed_; }

 private:
  std::ostream& out_;
  int failed_ = 0;
};

TransportFailure failureOf(CURL* c, CURLcode rc, const char* error_buffer) {
  TransportFailure f;
  f.curl_code = rc;
  f.curl_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
  long verify = 0;
  if (curl_easy_getinfo(c, CURLINFO_SSL_VERIFYRESULT, &verify) == CURLE_OK)
    f.ssl_verify_result = verify;
  long os_errno = 0;
  if (curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK) f.os_errno = os_errno;
  return f;
}

// ---- Vault: GET sys/health with libcurl directly, for libcurl's own failure codes ----

std::size_t appendBounded(char* data, std::size_t size, std::size_t count, void* userdata) {
  auto* body = static_cast<std::string*>(userdata);
  const std::size_t len = size * count;
  if (body->size() + len > kMaxHealthBody) return 0;  // aborts: not a health answer
  body->append(data, len);
  return len;
}

struct HealthProbe {
  std::optional<TransportFailure> failure;
  long status = 0;
  std::string body;  // sys/health carries no secret
};

HealthProbe probeHealth(const std::string& address, const VaultSettings& v) {
  HealthProbe probe;
  std::unique_ptr<CURL, foundation::CurlEasyDeleter> easy(curl_easy_init());
  char error_buffer[CURL_ERROR_SIZE] = {0};
  if (!easy) {
    probe.failure = TransportFailure{CURLE_FAILED_INIT, "curl_easy_init failed", 0, 0};
    return probe;
  }
  std::string base = address;
  std::string unix_socket;
  if (base.rfind("unix://", 0) == 0) {
    unix_socket = base.substr(7);
    base = "http://localhost";
  }
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/v1/sys/health";
  foundation::CurlOptions opt(easy.get());
  opt.set(CURLOPT_ERRORBUFFER, error_buffer, "ERRORBUFFER")
      .set(CURLOPT_URL, url.c_str(), "URL")
      .set(CURLOPT_PROTOCOLS_STR, "http,https", "PROTOCOLS_STR")
      .set(CURLOPT_FOLLOWLOCATION, 0L, "FOLLOWLOCATION")
      .set(CURLOPT_NOSIGNAL, 1L, "NOSIGNAL")
      .set(CURLOPT_CONNECTTIMEOUT_MS, 5000L, "CONNECTTIMEOUT_MS")
      .set(CURLOPT_TIMEOUT_MS,
           static_cast<long>(std::min<long>(v.request_timeout.count(), 15) * 1000), "TIMEOUT_MS")
      .set(CURLOPT_WRITEFUNCTION, appendBounded, "WRITEFUNCTION")
      .set(CURLOPT_WRITEDATA, static_cast<void*>(&probe.body), "WRITEDATA");
  if (!unix_socket.empty())
    opt.set(CURLOPT_UNIX_SOCKET_PATH, unix_socket.c_str(), "UNIX_SOCKET_PATH");
  if (base.rfind("https://", 0) == 0) {
    opt.set(CURLOPT_SSL_VERIFYPEER, 1L, "SSL_VERIFYPEER")
        .set(CURLOPT_SSL_VERIFYHOST, 2L, "SSL_VERIFYHOST")
        .set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2), "SSLVERSION");
    if (!v.ca_file.empty()) opt.set(CURLOPT_CAINFO, v.ca_file.c_str(), "CAINFO");
  }
  if (opt.failed() != nullptr) {
    probe.failure = TransportFailure{CURLE_FAILED_INIT,
                                     std::string("libcurl refused option ") + opt.failed(), 0, 0};
    return probe;
  }
  const CURLcode rc = curl_easy_perform(easy.get());
  if (rc != CURLE_OK) {
    probe.failure = failureOf(easy.get(), rc, error_buffer);
    return probe;
  }
  if (curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &probe.status) != CURLE_OK) {
    probe.failure = TransportFailure{CURLE_FAILED_INIT, "no HTTP status from libcurl", 0, 0};
  }
  return probe;
}

HealthAnswer healthAnswer(HealthProbe& probe) {
  HealthAnswer answer;
  answer.http_status = probe.status;
  auto body = foundation::SecretBytes::copyOf(std::string_view(probe.body));
  auto parsed = vault::response::parseHealth(probe.status, body);
  if (!parsed) return answer;
  answer.parsed = true;
  answer.initialized = parsed->initialized;
  answer.sealed = parsed->sealed;
  answer.standby = parsed->standby || parsed->performance_standby;
  answer.version = parsed->version;
  return answer;
}

// ---- Vault requests through vault::Client, with the raw status and errors kept ----

// Records the last answer (status and Vault's `errors` text) for the diagnosis; the
// client's own Error only carries a message.
class TapTransport final : public vault::HttpTransport {
 public:
  TapTransport(vault::HttpTransportPtr inner, VaultAnswer* last)
      : inner_(std::move(inner)), last_(last) {}

  foundation::Result<vault::HttpResponse> send(const vault::HttpRequest& request) override {
    auto response = inner_->send(request);
    if (!response) {
      *last_ = VaultAnswer{0, response.error().message};
      return response;
    }
    last_->http_status = response->status;
    last_->errors.clear();
    if (response->status < 200 || response->status >= 300) {
      // Error bodies carry no secret; parsed from a copy so the client gets the original.
      auto copy = response->body.clone();
      const foundation::Error e = vault::response::parseError(response->status, copy);
      const std::string prefix = "HTTP " + std::to_string(response->status);
      std::string text = e.message;
      if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
      if (text.rfind(": ", 0) == 0) text.erase(0, 2);
      last_->errors = std::move(text);
    }
    return response;
  }

 private:
  vault::HttpTransportPtr inner_;
  VaultAnswer* last_;
};

// ---- SMTP: one session with the relay client, NOOP after AUTH, no mail ----

// Runs the probe on a loop of its own (doctor is a one-shot command, not the worker).
relay::SmtpProbeResult probeSmtp(const SmtpSettings& smtp,
                                 const relay::SmtpCredential* credential) {
  boost::asio::io_context io;
  // Borrowed, not copied: the credential stays in the caller's locked memory.
  std::shared_ptr<const relay::SmtpCredential> borrowed(std::shared_ptr<void>(), credential);
  std::optional<relay::SmtpProbeResult> result;
  relay::probeSmtp(io, smtp, credential != nullptr ? borrowed : nullptr,
                   [&](relay::SmtpProbeResult r) { result = std::move(r); });
  io.run();
  if (!result) {
    relay::SmtpProbeResult lost;
    lost.failure = relay::SmtpProbeResult::Failure::Protocol;
    lost.detail = "the SMTP probe ended without a result";
    result = std::move(lost);
  }
  return std::move(*result);
}

std::string describe(const Config& c) {
  std::string paths;
  for (const auto& path : c.credentialPaths()) paths += (paths.empty() ? "" : " ") + path;
  std::string s = "vault " + c.vault.address + ", credentials " + paths + ", smtp " + c.smtp.host +
                  ":" + std::to_string(c.smtp.port) + " (" + toString(c.smtp.tls) + ")";
  return printable(s, 400);
}

// The steps after the configuration, in order, with what they leave to clean up.
class Doctor {
 public:
  Doctor(const Config& config, Report& report, foundation::SecretBytes secret_id_from_environment)
      : config_(config),
        v_(config.vault),
        report_(report),
        secret_id_from_environment_(std::move(secret_id_from_environment)) {}

  void run() {
    const bool vault_ok = checkVault();
    // Every profile's credential path: each is leased and logs in to the SMTP server.
    std::vector<ipc::SmtpCredential> credentials;
    if (vault_ok) {
      if (loginStep()) {
        for (const auto& path : config_.credentialPaths()) {
          if (auto credential = leaseStep(path)) credentials.push_back(std::move(*credential));
        }
      }
    } else {
      report_.skip("login", "not checked (nor lease and revocation): Vault is not usable");
    }
    if (ses_propagation_) {
      // IAM refuses a new key for a few seconds (eventual consistency): wait as the
      // keeper does before its first use, or the AUTH below would fail for that alone.
      std::this_thread::sleep_for(v_.ses_propagation);
      report_.add("ses", Finding{true,
                                 "waited vault.ses_propagation_seconds (" +
                                     std::to_string(v_.ses_propagation.count()) +
                                     " s) for IAM to know the new key before AUTH",
                                 ""});
    }
    if (credentials.empty()) smtpStep(nullptr);
    for (const auto& credential : credentials) smtpStep(&credential);
    credentials.clear();
    cleanup();
    if (!config_.spool.directory.empty()) spoolStep();
  }

 private:
  // Builds the client's transport for each address (the library refuses what it would
  // refuse in the sidecar, e.g. https without a CA) and asks each node for its health.
  // True when at least one node can serve requests; the client is made then.
  bool checkVault() {
    bool any_usable = false;
    std::vector<vault::HttpTransportPtr> transports;
    for (const auto& address : v_.addresses()) {
      vault::TransportOptions options;
      options.address = address;
      options.ca_file = v_.ca_file;
      options.vault_namespace = v_.vault_namespace;
      options.request_timeout = v_.request_timeout;
      options.connect_timeout = std::chrono::seconds(5);
      auto transport = vault::makeCurlTransport(options);
      if (!transport) {
        report_.add("vault", Finding{false, printable(transport.error().message),
                                     "fix vault.address or vault.ca_file"});
        continue;
      }
      transports.push_back(std::make_unique<TapTransport>(std::move(*transport), &last_));
      auto probe = probeHealth(address, v_);
      const Finding f = probe.failure ? vaultTransport(*probe.failure, address, v_.ca_file)
                                      : vaultHealth(healthAnswer(probe), address);
      report_.add("vault", f);
      any_usable = any_usable || f.ok;
    }
    if (!any_usable) return false;
    // One attempt per address: a diagnosis wants the first answer, and a login with a
    // use-limited secret_id must not be repeated.
    vault::ClientOptions client_options;
    client_options.max_attempts = static_cast<unsigned>(transports.size());
    client_.emplace(std::move(transports), client_options);
    return true;
  }

  bool loginStep() {
    auto role_id = readSecretFile(v_.role_id_file, "role_id");
    if (!role_id) {
      report_.add(
          "login",
          Finding{false, printable(role_id.error().message),
                  "vault.role_id_file must be a readable regular file holding the role_id"});
      return false;
    }
    // Read only: the file stays where it is, even with remove_secret_id_file.
    auto secret_id =
        !secret_id_from_environment_.empty()
            ? foundation::Result<foundation::SecretBytes>(std::move(secret_id_from_environment_))
            : readSecretFile(v_.secret_id_file, "secret_id");
    if (!secret_id) {
      report_.add(
          "login",
          Finding{false, printable(secret_id.error().message),
                  v_.remove_secret_id_file
                      ? "with vault.remove_secret_id_file the sidecar deletes the file once read: "
                        "deliver a new secret_id to vault.secret_id_file"
                      : "vault.secret_id_file must be a readable regular file holding the "
                        "secret_id"});
      return false;
    }
    if (v_.secret_id_wrapped) {
      checkWrapped(*secret_id);
      report_.skip(
          "login",
          "the secret_id is response-wrapped: doctor does not unwrap it (that would use it "
          "up), so login, lease and revocation are not checked and SMTP AUTH is not tried");
      return false;
    }
    auto auth = client_->loginAppRole(*role_id, *secret_id, v_.approle_mount);
    Finding f =
        approleLogin(auth ? VaultAnswer{200, {}} : last_, v_.approle_mount, v_.approle_role);
    if (auth) {
      f.what += " (token accessor " + printable(auth->accessor, 100) + ", ttl " +
                std::to_string(auth->lease_duration.count()) + "s, policies";
      for (const auto& p : auth->policies) f.what += " " + printable(p, 100);
      f.what += ")";
    }
    report_.add("login", f);
    return auth.ok();
  }

  void checkWrapped(const foundation::SecretBytes& wrapping_token) {
    const std::string expected =
        "auth/" + v_.approle_mount + "/role/" + v_.approle_role + "/secret-id";
    auto body = vault::RequestBody().secret("token", wrapping_token).build();
    if (!body) {
      report_.add("wrapped", Finding{false, printable(body.error().message), ""});
      return;
    }
    auto looked_up = client_->write("sys/wrapping/lookup", std::move(*body));
    if (!looked_up) {
      report_.add("wrapped", wrappingLookup(last_, {}, expected));
      return;
    }
    const std::string creation_path = looked_up->data.plainText("creation_path").value_or("");
    Finding f = wrappingLookup(VaultAnswer{200, {}}, creation_path, expected);
    if (f.ok) {
      if (auto ttl = looked_up->data.integer("creation_ttl"))
        f.what += ", wrap ttl " + std::to_string(*ttl) + "s";
      if (auto t = looked_up->data.plainText("creation_time"))
        f.what += ", created " + printable(*t, 64);
    }
    report_.add("wrapped", f);
  }

  // An oauth2: path: the configured client really asks its token endpoint (client
  // material from Vault KV, as the keeper does), and the token is what SMTP AUTH uses.
  std::optional<ipc::SmtpCredential> tokenStep(const std::string& path) {
    const OAuth2Client* oauth = findOAuth2Client(config_, path);
    if (oauth == nullptr) {  // parseConfig refuses this; kept for a reloaded file
      report_.add(
          "token",
          Finding{false, "credential path " + printable(path, 200) + " names no [[oauth2]] client",
                  "add an [[oauth2]] table with that name"});
      return std::nullopt;
    }
    auto settings = tokenSourceSettingsOf(*oauth);
    auto endpoint =
        settings
            ? keeper::TokenEndpointClient::create(*settings)
            : foundation::Result<std::unique_ptr<keeper::TokenEndpointClient>>(settings.error());
    if (!endpoint) {
      report_.add("token", Finding{false, printable(endpoint.error().message),
                                   "fix the [[oauth2]] table \"" + oauth->name + "\""});
      return std::nullopt;
    }
    keeper::OAuthTokenHolder holder(std::move(*endpoint), clientMaterialOf(*oauth));
    keeper::TokenRefusal refusal = keeper::TokenRefusal::None;
    auto token = holder.request(*client_, &refusal);
    if (!token) {
      report_.add("token",
                  tokenEndpoint(&token.error(), refusal, oauth->token_endpoint, oauth->scope));
      return std::nullopt;
    }
    report_.add("token", tokenEndpoint(nullptr, keeper::TokenRefusal::None, oauth->token_endpoint,
                                       token->scope.empty() ? oauth->scope : token->scope,
                                       static_cast<long>(token->expires_in.count())));
    return ipc::SmtpCredential{foundation::SecretBytes::copyOf(std::string_view(oauth->sasl_user)),
                               std::move(token->token), "", path, ipc::CredentialKind::OAuth2Token};
  }

  std::optional<ipc::SmtpCredential> leaseStep(const std::string& path) {
    if (findOAuth2Client(config_, path) != nullptr || path.rfind(kOAuth2PathPrefix, 0) == 0) {
      return tokenStep(path);
    }
    auto secret = client_->read(path);
    if (!secret) {
      report_.add("lease", credentialLease(last_, path));
      return std::nullopt;
    }
    const std::string lease_id = secret->lease_id;
    if (!lease_id.empty()) lease_ids_.push_back(lease_id);
    Finding f = credentialLease(VaultAnswer{200, {}}, path);
    f.what += lease_id.empty() ? " (not leased: no lease to revoke)"
                               : " (lease " + printable(lease_id, 200) + ", ttl " +
                                     std::to_string(secret->lease_duration.count()) + "s)";
    report_.add("lease", f);
    if (secret->data.find("access_key") != nullptr && secret->data.find("secret_key") != nullptr) {
      return sesLogin(path, lease_id, secret->data);
    }
    const auto* username = secret->data.find("username");
    const auto* password = secret->data.find("password");
    const bool has_username = username != nullptr && !username->empty() && !username->hasNul();
    const bool has_password = password != nullptr && !password->empty() && !password->hasNul();
    // A passwordless login of the smtp plugin (credential_type jwt) carries a token.
    const auto* token = secret->data.find("token");
    const bool has_token = !has_password && token != nullptr && !token->empty() && !token->hasNul();
    const Finding fields = credentialFields(has_username, has_password || has_token, path);
    report_.add("credential", fields);
    if (!fields.ok) return std::nullopt;
    return ipc::SmtpCredential{
        username->clone(), (has_password ? password : token)->clone(), lease_id, path,
        has_password ? ipc::CredentialKind::Password : ipc::CredentialKind::OAuth2Token};
  }

  // A path answering an AWS IAM key (aws/creds/<role>): the SES login, as the keeper
  // derives it for vault.ses_region.
  std::optional<ipc::SmtpCredential> sesLogin(const std::string& path, const std::string& lease_id,
                                              const vault::SecretData& data) {
    const std::string& region = v_.ses_region;
    const Finding where =
        region.empty() ? Finding{false,
                                 "the credential path " + printable(path, 200) +
                                     " answers an AWS IAM key, but vault.ses_region is not set",
                                 "set vault.ses_region to the SES region to send through: the SMTP "
                                 "password is derived per region"}
                       : sesRegion(region);
    report_.add("ses", where);
    if (!where.ok) return std::nullopt;
    auto login = keeper::smtpLoginFromSecret(data, region);
    if (!login) {
      report_.add("credential", Finding{false, printable(login.error().message), ""});
      return std::nullopt;
    }
    report_.add("credential", Finding{true,
                                      "an IAM key from " + printable(path, 200) +
                                          ": the SES SMTP login derived for " + region,
                                      ""});
    ses_propagation_ = true;
    return ipc::SmtpCredential{std::move(login->username), std::move(login->password), lease_id,
                               path};
  }

  void smtpStep(const ipc::SmtpCredential* credential) {
    const relay::SmtpProbeResult probe = probeSmtp(config_.smtp, credential);
    // The worker's own words for the session (a refused token included): what doctor
    // certifies is what a failed send would say.
    report_.add("smtp", relay::diagnoseSmtp(probe, config_.smtp));
  }

  // What the spool set aside when Transit lost its data key (a directory listing; no
  // file is opened, no key asked for).
  void spoolStep() {
    auto generations = spool::listSetAside(config_.spool.directory);
    if (!generations) {
      report_.skip("spool", printable(generations.error().message) +
                                " (run doctor as the sidecar's user to look into the spool)");
      return;
    }
    std::vector<SetAsideGeneration> found;
    for (const auto& g : *generations) found.push_back({g.directory, g.messages, g.finished});
    report_.add("spool", spoolSetAside(config_.spool.directory, found));
  }

  void cleanup() {
    if (!client_) return;
    for (const auto& lease_id : lease_ids_) {
      auto s = client_->revokeLease(lease_id);
      report_.add("revoke", revoke(s ? VaultAnswer{204, {}} : last_, "lease " + lease_id));
    }
    if (client_->hasToken()) {
      auto s = client_->revokeSelf();
      report_.add("revoke", revoke(s ? VaultAnswer{204, {}} : last_, "token"));
    }
  }

  const Config& config_;
  const VaultSettings& v_;
  Report& report_;
  std::optional<vault::Client> client_;
  VaultAnswer last_;
  std::vector<std::string> lease_ids_;  // revoked at the end
  bool ses_propagation_ = false;        // an SES login was derived: wait before AUTH
  foundation::SecretBytes secret_id_from_environment_;
};

}  // namespace

int run(const std::string& config_path, std::ostream& out,
        foundation::SecretBytes secret_id_from_environment) {
  foundation::initCurlOrDie();
  Report report(out);
  out << "smtp-sidecar doctor: " << printable(config_path, 400) << "\n";
  auto config = loadConfig(config_path, !secret_id_from_environment.empty());
  if (!config) {
    report.add("config", Finding{false, printable(config.error().message, 600),
                                 "fix the file (or the SMTP_SIDECAR_* variable) named above; "
                                 "see sidecar/config/smtp-sidecar.toml.example"});
  } else {
    report.add("config", Finding{true, describe(*config), ""});
    Doctor(*config, report, std::move(secret_id_from_environment)).run();
  }
  if (report.failed() == 0) {
    out << "doctor: every check passed\n";
    return 0;
  }
  out << "doctor: " << report.failed() << (report.failed() == 1 ? " check" : " checks")
      << " failed\n";
  return 1;
}

}  // namespace sidecar::doctor
