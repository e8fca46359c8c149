// oauth_token_probe.cc: test helper for tests/e2e/test_oauth_token_sources.py: does
// what the keeper does for an OAuth2 credential path, once: AppRole login to Vault,
// read the client secret or key from KV v2, get a token from the endpoint.
//
//   oauth_token_probe vault=http://127.0.0.1:8200 role_id_file=F secret_id_file=F
//       kv=secret/smtp-oauth/example-app field=client_secret endpoint=URL client_id=ID
//       [scope=S] [auth=client_secret_post|client_secret_basic|private_key_jwt|jwt_bearer]
//       [subject=S] [audience=A] [key_id=K]
//
// Prints "ok expires_in=<s> scope=<granted>" on stderr and the access token on stdout
// (the test introspects it at the server), or "error refusal=<word> kind=<kind>:
// <message>" on stderr and exits 1.
//
// SECURITY: test-only; it prints a test server's token. The sidecar never does.
// ERRORS: exit 2 on bad arguments.
#include <iostream>
#include <map>
#include <string>

#include "sidecar/keeper/credential_keeper.h"
#include "sidecar/keeper/oauth_token_holder.h"
#include "sidecar/keeper/oauth_token_source.h"
#include "vault/http_transport.h"

int main(int argc, char** argv) {
  using namespace sidecar::keeper;
  foundation::initSecretMemoryOrDie();
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq == std::string::npos) return 2;
    args[a.substr(0, eq)] = a.substr(eq + 1);
  }
  auto arg = [&](const char* k) { return args.count(k) ? args[k] : std::string(); };

  auto fail = [](const foundation::Error& e, TokenRefusal refusal) {
    std::cerr << "error refusal=" << toString(refusal) << " kind=" << foundation::toString(e.kind)
              << ": " << e.message << "\n";
    return 1;
  };

  TokenSourceSettings settings;
  settings.token_endpoint = arg("endpoint");
  settings.client_id = arg("client_id");
  settings.scope = arg("scope");
  settings.subject = arg("subject");
  settings.audience = arg("audience");
  settings.key_id = arg("key_id");
  if (!arg("auth").empty() && !parseClientAuthentication(arg("auth"), settings.authentication)) {
    return 2;
  }
  ClientMaterialLocation material;
  const std::string kv = arg("kv");
  const auto slash = kv.find('/');
  if (slash == std::string::npos) return 2;
  material.kv_mount = kv.substr(0, slash);
  material.kv_path = kv.substr(slash + 1);
  if (!arg("field").empty()) material.field = arg("field");

  vault::TransportOptions transport_options;
  transport_options.address = arg("vault");
  auto transport = vault::makeCurlTransport(transport_options);
  if (!transport) return fail(transport.error(), TokenRefusal::None);
  vault::Client vault(std::move(transport).value());
  auto role_id = sidecar::readSecretFile(arg("role_id_file"), "role_id");
  auto secret_id = sidecar::readSecretFile(arg("secret_id_file"), "secret_id");
  if (!role_id) return fail(role_id.error(), TokenRefusal::None);
  if (!secret_id) return fail(secret_id.error(), TokenRefusal::None);
  auto login = vault.loginAppRole(*role_id, *secret_id);
  if (!login) return fail(login.error(), TokenRefusal::None);

  auto endpoint = TokenEndpointClient::create(settings);
  if (!endpoint) return fail(endpoint.error(), TokenRefusal::None);
  OAuthTokenHolder holder(std::move(endpoint).value(), material);
  TokenRefusal refusal = TokenRefusal::None;
  if (auto s = holder.refresh(vault, &refusal); !s) return fail(s.error(), refusal);
  const foundation::SecretBytes* token = holder.current();
  if (token == nullptr || holder.refreshDue()) {
    std::cerr << "error refusal=none kind=internal: no current token after a refresh\n";
    return 1;
  }
  std::cerr << "ok expires_in=" << holder.secondsToExpiry().count()
            << " scope=" << holder.grantedScope() << "\n";
  token->reveal([](std::string_view t) { std::cout << t << "\n"; });
  (void)vault.revokeSelf();
  return 0;
}
