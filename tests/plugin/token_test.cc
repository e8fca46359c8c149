// token_test.cc: passwordless logins in the plugin: the RS256 signer, the key ring's
// rotation rules, and the engine's jwt roles (creds -> token, jwks, jwt/rotate, leases),
// against in-memory fakes.
// SECURITY: test-only; keys are generated for each test and never leave memory.
// ERRORS: doctest assertions; refusals are checked for their kind and message.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <set>
#include <string>

#include "engine_harness.h"
#include "foundation/secret.h"
#include "plugin/token_keys.h"
#include "plugin/token_signer.h"

using namespace smtpplugin;
using namespace smtpplugin::testing;

namespace {

// One generated key per test binary run: RSA generation costs ~0.1 s.
const GeneratedKey& sharedKey() {
  static GeneratedKey key = [] {
    foundation::initSecretMemoryOrDie();
    auto k = generateSigningKey();
    REQUIRE(k.ok());
    return std::move(k.value());
  }();
  return key;
}

GeneratedKey copyOf(const GeneratedKey& k) {
  return GeneratedKey{k.private_pem.clone(), k.public_jwk};
}

std::string reveal(const foundation::SecretBytes& s) {
  return s.reveal([](std::string_view v) { return std::string(v); });
}

// Token roles, called as an AppRole login would on the smtp-jwt/ mount.
struct Harness : EngineHarness {
  Harness() {
    display_name = "approle";
    mount_point = "smtp-jwt/";
  }
  void configure(const std::string& issuer = "https://vault.test/v1/smtp") {
    writeConfig(R"("smtp_port":2588,"token_audience":"smtp.mail.test","token_issuer":")" + issuer +
                "\"");
  }
  void jwtRole(const std::string& name, const std::string& ttl = "10m") {
    role(name, R"({"credential_type":"jwt","ttl":")" + ttl +
                   R"(","allowed_senders":["app@example.test","*@lists.example.test"]})");
  }
  // kid -> public key, from the jwks path.
  std::map<std::string, PublicJwk> jwks() {
    auto got = call("read", "jwks");
    REQUIRE(got.ok());
    auto d = json(got->data_json);
    std::map<std::string, PublicJwk> out;
    for (const auto& k : d["keys"].GetArray()) {
      CHECK(std::string(k["kty"].GetString()) == "RSA");
      CHECK(std::string(k["alg"].GetString()) == "RS256");
      CHECK(std::string(k["use"].GetString()) == "sig");
      CHECK_FALSE(k.HasMember("d"));  // no private member, ever
      out[k["kid"].GetString()] = PublicJwk{k["n"].GetString(), k["e"].GetString()};
    }
    return out;
  }
};

// base64url part `i` of a compact JWS, decoded.
std::string part(const std::string& token, int i) {
  std::size_t start = 0;
  for (int k = 0; k < i; ++k) start = token.find('.', start) + 1;
  const std::size_t end = token.find('.', start);
  std::string text = token.substr(start, end == std::string::npos ? end : end - start);
  text += std::string((4 - text.size() % 4) % 4, '=');
  for (char& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    buf = (buf << 6) | static_cast<unsigned>(kAlphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("signer: a token verifies with its key and with no other; tampering is caught") {
  const GeneratedKey& key = sharedKey();
  CHECK(key.private_pem.reveal(
      [](std::string_view v) { return v.starts_with("-----BEGIN PRIVATE KEY-----"); }));
  auto jwk = publicJwkOf(key.private_pem);
  REQUIRE(jwk.ok());
  CHECK(jwk->n == key.public_jwk.n);
  CHECK(jwk->e == "AQAB");
  CHECK(jwk->n.size() == 342);  // 256 bytes, base64url unpadded

  const std::string claims = R"({"sub":"smtp-app-x","exp":1900000000})";
  auto token = signJwt("smtp-0011", claims, key.private_pem);
  REQUIRE(token.ok());
  const std::string t = reveal(token.value());
  CHECK(part(t, 0) == R"({"alg":"RS256","kid":"smtp-0011","typ":"JWT"})");
  CHECK(part(t, 1) == claims);
  auto ok = verifyJwt(t, key.public_jwk);
  REQUIRE(ok.ok());
  CHECK(ok.value() == claims);

  auto other = generateSigningKey();
  REQUIRE(other.ok());
  const std::size_t dot2 = t.rfind('.');
  const struct {
    const char* name;
    std::string token;
    PublicJwk key;
  } refused[] = {
      {"another key", t, other->public_jwk},
      {"a claim changed",
       t.substr(0, t.find('.') + 1) + base64Url(R"({"sub":"smtp-app-y","exp":1900000000})") +
           t.substr(dot2),
       key.public_jwk},
      {"the signature changed",
       t.substr(0, dot2 + 1) + (t[dot2 + 1] == 'A' ? "B" : "A") + t.substr(dot2 + 2),
       key.public_jwk},
      {"no signature", t.substr(0, dot2 + 1), key.public_jwk},
      {"two parts", t.substr(0, dot2), key.public_jwk},
      {"not base64url", "a.b.c!", key.public_jwk},
  };
  for (const auto& c : refused) {
    CAPTURE(c.name);
    auto got = verifyJwt(c.token, c.key);
    REQUIRE_FALSE(got.ok());
    CHECK((got.error().kind == foundation::ErrorKind::Permanent));
  }

  // Refusals of the signer itself.
  CHECK_FALSE(signJwt("", claims, key.private_pem).ok());
  CHECK_FALSE(signJwt("a\"b", claims, key.private_pem).ok());
  CHECK_FALSE(signJwt("k", "[1]", key.private_pem).ok());
  auto bad = signJwt("k", claims, foundation::SecretBytes::copyOf(std::string_view("not a key")));
  REQUIRE_FALSE(bad.ok());
  CHECK((bad.error().kind == foundation::ErrorKind::Permanent));
}

TEST_CASE("key ring: rotation publishes a key before it signs, keeps it while its tokens live") {
  KeyRing ring;
  REQUIRE(ring.start(1000, "smtp-a", copyOf(sharedKey()), "smtp-b", copyOf(sharedKey())).ok());
  // Each step: an action at time `now`, then who signs, and what the JWKS shows.
  struct Step {
    const char* what;
    std::int64_t now;
    char action;  // 's' = the current key signs a token valid until `exp`, 'r' = rotate, '-'
    std::int64_t exp;
    const char* fresh;  // the new key's id at 'r'
    const char* current;
    const char* next;
    std::set<std::string> published;
  };
  const Step steps[] = {
      {"started", 1000, '-', 0, "", "smtp-a", "smtp-b", {"smtp-a", "smtp-b"}},
      {"a signs until 1600", 1000, 's', 1600, "", "smtp-a", "smtp-b", {"smtp-a", "smtp-b"}},
      {"rotate: b signs, c is next, a stays for its token",
       1100,
       'r',
       0,
       "smtp-c",
       "smtp-b",
       "smtp-c",
       {"smtp-a", "smtp-b", "smtp-c"}},
      {"b signs until 1700",
       1200,
       's',
       1700,
       "",
       "smtp-b",
       "smtp-c",
       {"smtp-a", "smtp-b", "smtp-c"}},
      {"a's token expired: a is no longer published",
       1600,
       '-',
       0,
       "",
       "smtp-b",
       "smtp-c",
       {"smtp-b", "smtp-c"}},
      {"rotate: a pruned, b retired with a valid token",
       1650,
       'r',
       0,
       "smtp-d",
       "smtp-c",
       "smtp-d",
       {"smtp-b", "smtp-c", "smtp-d"}},
      {"rotate again: c never signed, so it goes at once",
       1660,
       'r',
       0,
       "smtp-e",
       "smtp-d",
       "smtp-e",
       {"smtp-b", "smtp-d", "smtp-e"}},
      {"b's token expired", 1700, '-', 0, "", "smtp-d", "smtp-e", {"smtp-d", "smtp-e"}},
  };
  for (const auto& s : steps) {
    CAPTURE(s.what);
    if (s.action == 's') ring.noteSigned(ring.current()->kid, s.exp);
    if (s.action == 'r') REQUIRE(ring.rotate(s.now, s.fresh, copyOf(sharedKey())).ok());
    CHECK(ring.current()->kid == s.current);
    CHECK(ring.next()->kid == s.next);
    std::set<std::string> published;
    for (const RingKey* k : ring.published(s.now)) published.insert(k->kid);
    CHECK(published == s.published);
  }

  // The stored form round-trips, private keys included (and they still sign).
  auto again = KeyRing::parse(ring.serialize());
  REQUIRE(again.ok());
  REQUIRE(again->keys().size() == ring.keys().size());
  for (std::size_t i = 0; i < ring.keys().size(); ++i) {
    CHECK(again->keys()[i].kid == ring.keys()[i].kid);
    CHECK((again->keys()[i].state == ring.keys()[i].state));
    CHECK(again->keys()[i].signed_until == ring.keys()[i].signed_until);
    CHECK(again->keys()[i].private_pem.equals(ring.keys()[i].private_pem));
  }
  CHECK(signJwt("k", "{}", again->current()->private_pem).ok());
}

TEST_CASE("keySetName: the mount path as one folder name") {
  const struct {
    const char* mount;
    const char* want;
  } cases[] = {{"smtp-jwt/", "smtp-jwt"},
               {"team/a/smtp/", "team-a-smtp"},
               {"x.y/", "x-y"},
               {"", "smtp"},
               {"/", "smtp"},
               {"%2e%2e/", "-2e-2e"}};
  for (const auto& c : cases) {
    CAPTURE(c.mount);
    CHECK(keySetName(c.mount) == c.want);
  }
}

TEST_CASE("key ring: refusals") {
  KeyRing ring;
  CHECK_FALSE(ring.rotate(1, "smtp-x", copyOf(sharedKey())).ok());  // not started
  CHECK_FALSE(ring.start(1, "smtp-a", copyOf(sharedKey()), "smtp-a", copyOf(sharedKey())).ok());
  KeyRing ok;
  REQUIRE(ok.start(1, "smtp-a", copyOf(sharedKey()), "smtp-b", copyOf(sharedKey())).ok());
  CHECK_FALSE(ok.start(1, "smtp-c", copyOf(sharedKey()), "smtp-d", copyOf(sharedKey())).ok());
  CHECK_FALSE(ok.rotate(2, "smtp-b", copyOf(sharedKey())).ok());     // duplicate id
  CHECK_FALSE(ok.rotate(2, "Smtp/../x", copyOf(sharedKey())).ok());  // not [a-z0-9-]

  // Rotating faster than tokens expire is bounded.
  std::int64_t now = 10;
  std::size_t rotations = 0;
  foundation::Status last;
  for (int i = 0; i < 40 && last; ++i) {
    ok.noteSigned(ok.current()->kid, 100000);
    last = ok.rotate(++now, "smtp-r" + std::to_string(i), copyOf(sharedKey()));
    if (last) ++rotations;
  }
  REQUIRE_FALSE(last.ok());
  CHECK((last.error().kind == foundation::ErrorKind::Permanent));
  CHECK(ok.keys().size() <= KeyRing::kMaxKeys);
  CHECK(rotations == KeyRing::kMaxKeys - 2);

  const char* stored[] = {
      "",
      "[]",
      R"({"keys":{}})",
      R"({"keys":[{"kid":"smtp-a","state":"current"}]})",
      R"({"keys":[{"kid":"smtp-a","state":"current","private_pem":"x","n":"x","e":"x","created_at":1,"signed_until":0,"retired_at":0}]})",
      R"({"keys":[{"kid":"A/B","state":"next","private_pem":"x","n":"x","e":"x","created_at":1,"signed_until":0,"retired_at":0}]})",
  };
  for (const char* s : stored) {
    CAPTURE(s);
    auto got = KeyRing::parse(foundation::SecretBytes::copyOf(std::string_view(s)));
    REQUIRE_FALSE(got.ok());
    CHECK((got.error().kind == foundation::ErrorKind::Internal));
  }
}

TEST_CASE("engine: a jwt role mints a signed token, no password, sender rows bound to sub") {
  Harness h;
  h.configure();
  h.jwtRole("app");
  auto role = h.call("read", "roles/app");
  REQUIRE(role.ok());
  CHECK(std::string(json(role->data_json)["credential_type"].GetString()) == "jwt");

  auto got = h.call("read", "creds/app");
  REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.errorMessage()));
  auto d = json(got->data_json);
  CHECK_FALSE(d.HasMember("password"));
  const std::string username = d["username"].GetString();
  const std::string token = d["token"].GetString();
  CHECK(std::string(d["token_type"].GetString()) == "JWT");
  CHECK(d["token_expires_at"].GetInt64() == h.clock.now + 600);
  CHECK(d["smtp_port"].GetInt64() == 2588);

  // The database: a login with sender rows and no password hash at all.
  REQUIRE(h.db.logins.count(username) == 1);
  const FakeLogin& row = h.db.logins[username];
  CHECK(row.token_login);
  CHECK(row.hash.empty());
  CHECK(row.senders == std::vector<std::string>{"app@example.test", "@lists.example.test"});

  // The token: verifies with the published current key; claims as documented.
  auto keys = h.jwks();
  REQUIRE(keys.size() == 2);
  const std::string kid = d["token_kid"].GetString();
  REQUIRE(keys.count(kid) == 1);
  auto claims_text = verifyJwt(token, keys[kid]);
  REQUIRE(claims_text.ok());
  auto claims = json(claims_text.value());
  CHECK(std::string(claims["iss"].GetString()) == "https://vault.test/v1/smtp");
  CHECK(std::string(claims["aud"].GetString()) == "smtp.mail.test");
  CHECK(std::string(claims["sub"].GetString()) == username);
  CHECK(claims["exp"].GetInt64() == h.clock.now + 600);
  CHECK(claims["iat"].GetInt64() == h.clock.now);
  CHECK(claims["nbf"].GetInt64() == h.clock.now);
  CHECK(claims["allowed_senders"].Size() == 2);
  CHECK(std::string(claims["smtp_role"].GetString()) == "app");
  CHECK(std::string(claims["azp"].GetString()) == "smtp-jwt");
  CHECK(std::string(claims["jti"].GetString()).size() == 22);

  // The lease: not renewable (the exp is signed), internal data names the token login.
  REQUIRE(got->secret);
  CHECK_FALSE(got->secret->renewable);
  CHECK(got->secret->ttl_ns == 600 * kNanosPerSecond);
  CHECK(got->secret->internal_data.find(R"("credential_type":"jwt")") != std::string::npos);
  CHECK(got->secret->internal_data.find(token) == std::string::npos);

  Request renew;
  renew.operation = "renew";
  renew.path = "creds/app";
  renew.secret = LeaseIn{
      got->secret->internal_data, got->secret->ttl_ns, got->secret->ttl_ns, 0, h.clock.now, true};
  auto renewed = h.engine.handle(renew);
  REQUIRE_FALSE(renewed.ok());
  CHECK(renewed.errorMessage().find("cannot be renewed") != std::string::npos);

  Request revoke = renew;
  revoke.operation = "revoke";
  REQUIRE(h.engine.handle(revoke).ok());
  CHECK(h.db.logins.count(username) == 0);

  // Storage: the key ring holds private keys, no token; the mount's storage never holds one.
  CHECK(h.storage.entries["jwt/keys"].find("PRIVATE KEY") != std::string::npos);
  for (const auto& [k, v] : h.storage.entries) CHECK(v.find(token) == std::string::npos);
  // jwks answers public halves only.
  auto jwks = h.call("read", "jwks");
  CHECK(jwks->data_json.find("PRIVATE") == std::string::npos);
}

TEST_CASE("engine: rotation without a failed login") {
  Harness h;
  h.configure();
  h.jwtRole("app", "5m");
  // The mail host syncs the JWKS before the first token (first read creates the keys).
  auto synced = h.jwks();
  REQUIRE(synced.size() == 2);

  auto first = h.call("read", "creds/app");
  REQUIRE(first.ok());
  const std::string kid1 = json(first->data_json)["token_kid"].GetString();
  const std::string token1 = json(first->data_json)["token"].GetString();

  h.clock.now += 60;
  auto rotated = h.call("update", "jwt/rotate");
  REQUIRE_MESSAGE(rotated.ok(), (rotated.ok() ? "" : rotated.errorMessage()));
  auto r = json(rotated->data_json);
  const std::string kid2 = r["current_kid"].GetString();
  CHECK(kid2 != kid1);
  // The key that signs now is one the mail host already has (synced before rotation).
  CHECK(synced.count(kid2) == 1);
  CHECK(r["published_kids"].Size() == 3);

  auto second = h.call("read", "creds/app");
  REQUIRE(second.ok());
  CHECK(std::string(json(second->data_json)["token_kid"].GetString()) == kid2);
  CHECK(verifyJwt(json(second->data_json)["token"].GetString(), synced[kid2]).ok());
  // The old token still verifies with what the mail host has, and kid1 stays published ...
  CHECK(verifyJwt(token1, synced[kid1]).ok());
  CHECK(h.jwks().count(kid1) == 1);
  // ... until the last token it signed expires.
  h.clock.now += 300 - 60;
  CHECK(h.jwks().count(kid1) == 0);
  CHECK(h.jwks().size() == 2);
}

TEST_CASE("engine: jwt refusals") {
  const struct {
    const char* name;
    const char* path;
    const char* op;
    const char* data;
    const char* want;
  } cases[] = {
      {"unknown credential type", "roles/x", "update",
       R"({"credential_type":"otp","allowed_senders":["a@b.test"]})",
       "credential_type must be password or jwt"},
      {"issuer with a space", "config", "update", R"({"token_issuer":"a b"})",
       "token_issuer and token_audience must be printable"},
      {"jwks is read-only", "jwks", "update", "null", ""},
      {"rotate takes no fields", "jwt/rotate", "update", R"({"now":1})", "now"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Harness h;
    h.configure();
    auto got = h.call(c.op, c.path, c.data);
    if (std::string(c.want).empty()) {
      REQUIRE(got.ok());
      CHECK(got->refusal == Response::Refusal::UnsupportedOperation);
      continue;
    }
    REQUIRE_FALSE(got.ok());
    CHECK((got.error().kind == foundation::ErrorKind::Permanent));
    CHECK(got.errorMessage().find(c.want) != std::string::npos);
  }

  // No issuer configured: a jwt role cannot mint, and nothing is left in the database.
  Harness h;
  h.configure("");
  h.jwtRole("app");
  auto got = h.call("read", "creds/app");
  REQUIRE_FALSE(got.ok());
  CHECK(got.errorMessage().find("token_issuer") != std::string::npos);
  CHECK(h.db.logins.empty());

  // Storage down while signing: the login just created is removed again.
  Harness s;
  s.configure();
  s.jwtRole("app");
  REQUIRE(s.call("read", "jwks").ok());
  s.storage.fail_puts_of = "jwt/keys";
  auto down = s.call("read", "creds/app");
  REQUIRE_FALSE(down.ok());
  CHECK((down.error().kind == foundation::ErrorKind::Temporary));
  CHECK(s.db.logins.empty());
}
