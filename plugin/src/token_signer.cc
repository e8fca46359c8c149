// token_signer.cc: RS256 keys, JWKs and compact JWS with OpenSSL 3 EVP (token_signer.h).
//
// SECURITY: PEM encodings of the private key pass only through OpenSSL's secure-memory
// BIO (cleared when freed) and SecretBytes; EVP_PKEY objects live for one call. The
// signing input holds no secret (header and claims are public); the finished token is
// assembled in SecretBytes.
// ERRORS: every OpenSSL call is checked; failures are Internal with OpenSSL's queued
// reason, except input that does not parse (Permanent).
#include "plugin/token_signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include <memory>
#include <vector>

namespace smtpplugin {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

// The first queued OpenSSL reason (then the queue is emptied, so the next call starts clean).
foundation::Error opensslError(std::string_view what) {
  const unsigned long code = ERR_get_error();
  std::string msg(what);
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  return foundation::Error::internal(msg);
}

foundation::Result<Pkey> loadPrivate(const foundation::SecretBytes& pem) {
  if (pem.empty() || pem.size() > 16384) return foundation::Error::permanent("no usable key");
  Bio bio(BIO_new_mem_buf(pem.cString().pointer, static_cast<int>(pem.size())));
  if (!bio) return opensslError("BIO_new_mem_buf");
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return foundation::Error::permanent("the stored signing key does not parse");
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA ||
      EVP_PKEY_get_bits(key.get()) != kRsaKeyBits) {
    return foundation::Error::permanent("the stored signing key is not RSA-2048");
  }
  return key;
}

std::string bnParam(const EVP_PKEY* key, const char* name, bool& ok) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1 || raw == nullptr) {
    ok = false;
    return {};
  }
  Bn bn(raw);
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
  if (BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data())) !=
      static_cast<int>(bytes.size())) {
    ok = false;
    return {};
  }
  return base64Url(bytes);
}

foundation::Result<PublicJwk> jwkOf(const EVP_PKEY* key) {
  bool ok = true;
  PublicJwk jwk{bnParam(key, OSSL_PKEY_PARAM_RSA_N, ok), bnParam(key, OSSL_PKEY_PARAM_RSA_E, ok)};
  if (!ok || jwk.n.empty() || jwk.e.empty()) return opensslError("reading the RSA public key");
  return jwk;
}

bool fromBase64Url(std::string_view text, std::string& out) {
  out.assign(text.size(), '\0');  // decoded is never longer
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return false;
  }
  out.resize(len);
  return true;
}

foundation::Result<Pkey> publicFromJwk(const PublicJwk& jwk) {
  std::string n, e;
  if (!fromBase64Url(jwk.n, n) || !fromBase64Url(jwk.e, e) || n.empty() || e.empty()) {
    return foundation::Error::permanent("the JWK's n or e is not base64url");
  }
  Bn bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()),
                    nullptr));
  Bn bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()),
                    nullptr));
  if (!bn_n || !bn_e) return opensslError("BN_bin2bn");
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      &OSSL_PARAM_BLD_free);
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return opensslError("OSSL_PARAM_BLD");
  }
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 &OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), &EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return opensslError("EVP_PKEY_fromdata");
  }
  return Pkey(raw);
}

}  // namespace

std::string base64Url(std::string_view bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kVariant);
  out.resize(out.size() - 1);  // the terminating NUL sodium writes
  return out;
}

foundation::Result<GeneratedKey> generateSigningKey() {
  Pkey key(EVP_RSA_gen(kRsaKeyBits));
  if (!key) return opensslError("EVP_RSA_gen");
  // The secure-memory BIO clears its buffer when freed.
  Bio bio(BIO_new(BIO_s_secmem()));
  if (!bio) return opensslError("BIO_new(secmem)");
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
      1) {
    return opensslError("PEM_write_bio_PKCS8PrivateKey");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return opensslError("BIO_get_mem_data");
  GeneratedKey out;
  out.private_pem =
      foundation::SecretBytes::copyOf(std::string_view(data, static_cast<std::size_t>(len)));
  auto jwk = jwkOf(key.get());
  if (!jwk) return std::move(jwk).error();
  out.public_jwk = std::move(jwk.value());
  return out;
}

foundation::Result<PublicJwk> publicJwkOf(const foundation::SecretBytes& private_pem) {
  auto key = loadPrivate(private_pem);
  if (!key) return std::move(key).error();
  return jwkOf(key.value().get());
}

foundation::Result<foundation::SecretBytes> signJwt(std::string_view kid,
                                                    std::string_view claims_json,
                                                    const foundation::SecretBytes& private_pem) {
  if (kid.empty() || kid.find_first_of("\"\\") != std::string_view::npos) {
    return foundation::Error::internal("a key id must be plain text");
  }
  if (claims_json.empty() || claims_json.front() != '{') {
    return foundation::Error::internal("claims must be a JSON object");
  }
  auto key = loadPrivate(private_pem);
  if (!key) return std::move(key).error();
  const std::string header =
      std::string(R"({"alg":"RS256","kid":")") + std::string(kid) + R"(","typ":"JWT"})";
  const std::string signing_input = base64Url(header) + "." + base64Url(claims_json);

  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return opensslError("EVP_MD_CTX_new");
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.value().get()) != 1) {
    return opensslError("EVP_DigestSignInit");
  }
  std::size_t sig_len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &sig_len, in, signing_input.size()) != 1) {
    return opensslError("EVP_DigestSign (length)");
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len, in,
                     signing_input.size()) != 1) {
    return opensslError("EVP_DigestSign");
  }
  sig.resize(sig_len);
  const std::string encoded_sig = base64Url(sig);
  foundation::SecretBytes token(signing_input.size() + 1 + encoded_sig.size());
  char* out = token.mutableData();
  std::copy(signing_input.begin(), signing_input.end(), out);
  out[signing_input.size()] = '.';
  std::copy(encoded_sig.begin(), encoded_sig.end(), out + signing_input.size() + 1);
  // The signature is what makes the token a credential: its working copies are wiped.
  sodium_memzero(sig.data(), sig.size());
  sodium_memzero(const_cast<char*>(encoded_sig.data()), encoded_sig.size());
  return token;
}

foundation::Result<std::string> verifyJwt(std::string_view token, const PublicJwk& jwk) {
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return foundation::Error::permanent("not a compact JWS (three parts)");
  }
  std::string header, claims, sig;
  if (!fromBase64Url(token.substr(0, first), header) ||
      !fromBase64Url(token.substr(first + 1, second - first - 1), claims) ||
      !fromBase64Url(token.substr(second + 1), sig)) {
    return foundation::Error::permanent("a part is not base64url");
  }
  if (header.find(R"("alg":"RS256")") == std::string::npos) {
    return foundation::Error::permanent("not an RS256 token");
  }
  auto key = publicFromJwk(jwk);
  if (!key) return std::move(key).error();
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return opensslError("EVP_MD_CTX_new");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.value().get()) != 1) {
    return opensslError("EVP_DigestVerifyInit");
  }
  const std::string_view signed_part = token.substr(0, second);
  const int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
      reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size());
  ERR_clear_error();
  if (ok != 1) return foundation::Error::permanent("the signature does not verify");
  return claims;
}

}  // namespace smtpplugin
