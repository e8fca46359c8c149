// automtls.cc: the plugin's self-signed certificate and the host's certificate for
// go-plugin AutoMTLS (see automtls.h and docs/PLUGIN.md §AutoMTLS).
//
// SECURITY: the key pair is generated in-process with OpenSSL's CSPRNG and never written
// to disk. The host certificate comes from our parent's environment; it is parsed as
// exactly one X.509 certificate and re-encoded, so nothing else reaches gRPC's trust
// store. gRPC (built on the system OpenSSL, TLS 1.3) checks it as the only root.
// ERRORS: every OpenSSL call is checked; our own generation failing is Internal, an
// unusable PLUGIN_CLIENT_CERT is Permanent.
#include "plugin/automtls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string_view>

namespace smtpplugin {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME, X509_NAME_free>>;

foundation::Error sslError(const char* what) {
  return foundation::Error::internal(std::string("automtls: ") + what);
}

// Adds one extension written in OpenSSL's config syntax (self-issued: issuer = subject).
bool addExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

foundation::Result<std::string> bioToString(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return sslError("empty PEM output");
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

foundation::Result<TlsIdentity> generateTlsIdentity(const char* curve) {
  const std::string_view name_of_curve(curve);
  const EVP_MD* digest = name_of_curve == "P-521"   ? EVP_sha512()
                         : name_of_curve == "P-384" ? EVP_sha384()
                                                    : EVP_sha256();
  PkeyPtr key(EVP_EC_gen(curve));
  if (!key) return sslError("EC key generation failed");

  X509Ptr cert(X509_new());
  if (!cert) return sslError("X509_new failed");
  if (X509_set_version(cert.get(), 2) != 1) return sslError("X509_set_version failed");

  // Random positive 128-bit serial (Go rejects negative serials).
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) return sslError("RAND_bytes failed");
  serial_bytes[0] &= 0x7f;
  serial_bytes[0] |= 0x01;  // never zero
  BnPtr serial(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  if (!serial) return sslError("BN_bin2bn failed");
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return sslError("serial number");
  }

  // Valid from 30 s ago (clock skew with the host) for about 30 years, like go-plugin.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -30) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 262980L * 3600L) == nullptr) {
    return sslError("validity");
  }

  NamePtr name(X509_NAME_new());
  if (!name) return sslError("X509_NAME_new failed");
  const auto* cn = reinterpret_cast<const unsigned char*>("localhost");
  const auto* org = reinterpret_cast<const unsigned char*>("vault-plugin-secrets-smtp");
  if (X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_ASC, org, -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC, cn, -1, -1, 0) != 1) {
    return sslError("subject name");
  }
  if (X509_set_subject_name(cert.get(), name.get()) != 1 ||
      X509_set_issuer_name(cert.get(), name.get()) != 1) {
    return sslError("issuer/subject");
  }
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return sslError("X509_set_pubkey failed");

  // Go checks the DNS SAN (not the CN); the host verifies us as a server on our socket
  // and as a client on its broker sockets, hence both EKUs.
  if (!addExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !addExtension(cert.get(), NID_key_usage,
                    "critical,digitalSignature,keyEncipherment,keyAgreement,keyCertSign") ||
      !addExtension(cert.get(), NID_ext_key_usage, "serverAuth,clientAuth") ||
      !addExtension(cert.get(), NID_subject_alt_name, "DNS:localhost") ||
      !addExtension(cert.get(), NID_subject_key_identifier, "hash")) {
    return sslError("extensions");
  }
  if (X509_sign(cert.get(), key.get(), digest) <= 0) return sslError("X509_sign failed");

  TlsIdentity id;
  {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1) return sslError("cert PEM");
    auto pem = bioToString(bio.get());
    if (!pem) return std::move(pem).error();
    id.cert_pem = std::move(pem.value());
  }
  {
    BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
      return sslError("key PEM");
    }
    auto pem = bioToString(bio.get());
    if (!pem) return std::move(pem).error();
    id.key_pem = std::move(pem.value());
  }
  const int der_len = i2d_X509(cert.get(), nullptr);
  if (der_len <= 0) return sslError("i2d_X509 failed");
  id.cert_der.resize(static_cast<std::size_t>(der_len));
  unsigned char* out = id.cert_der.data();
  if (i2d_X509(cert.get(), &out) != der_len) return sslError("i2d_X509 length");
  return id;
}

foundation::Result<std::string> parseHostCertificate(const char* pem) {
  if (pem == nullptr || *pem == '\0') {
    return foundation::Error::permanent(
        "PLUGIN_CLIENT_CERT is not set: this plugin needs go-plugin AutoMTLS (protocol 5); "
        "the legacy v4 unwrap-token mode is not supported");
  }
  BioPtr in(BIO_new_mem_buf(pem, -1));
  if (!in) return sslError("BIO_new_mem_buf failed");
  X509Ptr cert(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
  if (!cert) return foundation::Error::permanent("PLUGIN_CLIENT_CERT is not a PEM certificate");
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509(out.get(), cert.get()) != 1) return sslError("host cert PEM");
  return bioToString(out.get());
}

}  // namespace smtpplugin
