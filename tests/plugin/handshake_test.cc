// handshake_test.cc: the go-plugin handshake line, cookie and version checks, socket
// paths, hclog lines and the AutoMTLS certificate.
// SECURITY: test-only; generates throwaway keys, touches no socket or environment.
// ERRORS: doctest assertions.
#include "plugin/handshake.h"

#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <string>
#include <vector>

#include "foundation/secret.h"
#include "plugin/automtls.h"
#include "plugin/log.h"

using namespace smtpplugin;

TEST_CASE("magic cookie") {
  CHECK(checkMagicCookie("6669da05-b1c8-4f49-97d9-c8e5bed98e20").ok());
  CHECK_FALSE(checkMagicCookie(nullptr).ok());
  CHECK_FALSE(checkMagicCookie("").ok());
  // The database-plugin cookie value: the host probing whether we are a database plugin.
  CHECK_FALSE(checkMagicCookie("926a0820-aea2-be28-51d6-83cdf00e8edb").ok());
}

TEST_CASE("protocol versions") {
  CHECK(checkProtocolVersions(nullptr).ok());
  CHECK(checkProtocolVersions("5").ok());
  CHECK(checkProtocolVersions("4, 5").ok());
  CHECK_FALSE(checkProtocolVersions("3,4").ok());
  CHECK_FALSE(checkProtocolVersions("50").ok());
}

TEST_CASE("base64RawStd is Go's RawStdEncoding") {
  const struct {
    std::string input;
    std::string want;
  } cases[] = {
      {"", ""},        {"f", "Zg"},        {"fo", "Zm8"},
      {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"\xfb\xff", "+/8"},  // standard alphabet, not URL-safe
  };
  for (const auto& c : cases) {
    std::vector<unsigned char> bytes(c.input.begin(), c.input.end());
    CHECK(base64RawStd(bytes) == c.want);
  }
}

TEST_CASE("handshake line") {
  const std::vector<unsigned char> der = {0x30, 0x82, 0x01, 0xe7, 0xff};
  const std::string got = handshakeLine("/tmp/plugin123", der);
  CHECK(got == "1|5|unix|/tmp/plugin123|grpc|MIIB5/8\n");
  CHECK(got.find('=') == std::string::npos);
  CHECK(std::count(got.begin(), got.end(), '|') == 5);  // never a 7th (multiplexing) field
}

TEST_CASE("socket path") {
  foundation::initSecretMemoryOrDie();
  auto a = makeSocketPath(nullptr, nullptr);
  REQUIRE(a.ok());
  CHECK(a->starts_with("/tmp/plugin"));
  auto b = makeSocketPath("/run/x/", "/ignored");
  REQUIRE(b.ok());
  CHECK(b->starts_with("/run/x/plugin"));
  auto c = makeSocketPath("", "/var/tmp");
  REQUIRE(c.ok());
  CHECK(c->starts_with("/var/tmp/plugin"));
  CHECK(makeSocketPath(nullptr, nullptr).value() != a.value());
  CHECK_FALSE(makeSocketPath(std::string(120, 'd').c_str(), nullptr).ok());
}

TEST_CASE("hclog JSON lines") {
  const auto t =
      std::chrono::system_clock::time_point(std::chrono::microseconds(1'700'000'000'123'456LL));
  const std::string got =
      formatLogLine(LogLevel::Warn, "request failed", {{"path", "roles/\"x\"\n"}}, t);
  CHECK(got.find('\n') == std::string::npos);
  rapidjson::Document d;
  d.Parse(got.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["@level"].GetString()) == "warn");
  CHECK(std::string(d["@message"].GetString()) == "request failed");
  CHECK(std::string(d["@timestamp"].GetString()) == "2023-11-14T22:13:20.123456Z");
  CHECK(std::string(d["path"].GetString()) == "roles/\"x\"\n");
}

TEST_CASE("AutoMTLS identity: self-signed, SAN localhost, server+client EKU") {
  auto id = generateTlsIdentity();
  REQUIRE(id.ok());
  CHECK(id->cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
  CHECK(id->key_pem.find("PRIVATE KEY") != std::string::npos);
  const unsigned char* p = id->cert_der.data();
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(id->cert_der.size()));
  REQUIRE(cert != nullptr);
  CHECK(X509_check_host(cert, "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0) == 1);
  CHECK(X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) == 1);
  CHECK(X509_check_ca(cert) >= 1);
  EVP_PKEY* key = X509_get0_pubkey(cert);
  REQUIRE(key != nullptr);
  CHECK(X509_verify(cert, key) == 1);  // self-signed
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
  REQUIRE(bn != nullptr);
  CHECK_FALSE(BN_is_negative(bn));
  BN_free(bn);
  CHECK(X509_cmp_current_time(X509_get0_notBefore(cert)) < 0);
  X509_free(cert);
  auto other = generateTlsIdentity();
  REQUIRE(other.ok());
  CHECK(other->cert_der != id->cert_der);
  wipeString(id->key_pem);
  CHECK(id->key_pem.empty());
}

TEST_CASE("host certificate from PLUGIN_CLIENT_CERT") {
  CHECK_FALSE(parseHostCertificate(nullptr).ok());
  CHECK_FALSE(parseHostCertificate("").ok());
  CHECK_FALSE(parseHostCertificate("not a certificate").ok());
  auto id = generateTlsIdentity();
  REQUIRE(id.ok());
  auto got = parseHostCertificate(id->cert_pem.c_str());
  REQUIRE(got.ok());
  CHECK(got.value() == id->cert_pem);
}
