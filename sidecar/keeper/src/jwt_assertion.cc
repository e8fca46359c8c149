// jwt_assertion.cc: RS256/ES256 JWT assertions with OpenSSL (see jwt_assertion.h).
//
// SECURITY: the PEM is read from the caller's SecretBytes through a memory BIO; the
// signing input and the finished JWT live in SecretBytes. ES256 signatures are
// converted from DER to the fixed 64-byte r||s form JWS requires (RFC 7518 3.4).
// ERRORS: Result values; every OpenSSL call is checked.
#include "sidecar/keeper/jwt_assertion.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace sidecar::keeper {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct BioDeleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* s) const noexcept { ECDSA_SIG_free(s); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// A passphrase callback that refuses: an encrypted key would otherwise make OpenSSL
// prompt on the terminal. Vault holds the key; it needs no second secret.
int noPassphrase(char*, int, int, void*) {
  return -1;
}

foundation::Result<Pkey> loadKey(const foundation::SecretBytes& pem) {
  if (pem.empty() || pem.size() > kMaxPrivateKeyPemBytes) {
    return foundation::Error::permanent("private key is empty or larger than 16 KiB");
  }
  std::unique_ptr<BIO, BioDeleter> bio(
      BIO_new_mem_buf(pem.cString().pointer, static_cast<int>(pem.size())));
  if (!bio) return foundation::Error::internal("BIO_new_mem_buf failed");
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
  if (!key) {
    return foundation::Error::permanent(
        "private key is not an unencrypted PEM private key (PKCS#8 or traditional)");
  }
  return key;
}

foundation::Result<std::string> algorithmOf(EVP_PKEY* key) {
  switch (EVP_PKEY_base_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_bits(key) < 2048) {
        return foundation::Error::permanent("RSA private key shorter than 2048 bits");
      }
      return std::string("RS256");
    case EVP_PKEY_EC: {
      char group[64] = {0};
      std::size_t group_len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &group_len) != 1 ||
          std::string_view(group, group_len) != "prime256v1") {
        return foundation::Error::permanent("EC private key is not on P-256 (ES256)");
      }
      return std::string("ES256");
    }
    default:
      return foundation::Error::permanent("private key is neither RSA nor EC P-256");
  }
}

bool claimTextOk(const std::string& text) {
  return text.size() <= kMaxClaimText && std::none_of(text.begin(), text.end(), [](char c) {
           return static_cast<unsigned char>(c) < 0x20;
         });
}

std::string headerJson(const std::string& algorithm, const std::string& key_id) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("alg");
  w.String(algorithm.c_str());
  w.Key("typ");
  w.String("JWT");
  if (!key_id.empty()) {
    w.Key("kid");
    w.String(key_id.c_str(), static_cast<rapidjson::SizeType>(key_id.size()));
  }
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::string claimsJson(const JwtAssertionClaims& c) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto text = [&](const char* name, const std::string& value) {
    w.Key(name);
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  text("iss", c.issuer);
  text("sub", c.subject);
  text("aud", c.audience);
  if (!c.scope.empty()) text("scope", c.scope);
  text("jti", c.jwt_id);
  w.Key("iat");
  w.Int64(c.issued_at);
  w.Key("nbf");
  w.Int64(c.issued_at);
  w.Key("exp");
  w.Int64(c.issued_at + c.lifetime.count());
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

// JWS wants r||s, each left-padded to 32 bytes (`out` holds 64); OpenSSL gives DER.
bool derToJoseEs256(const unsigned char* der, std::size_t der_size, unsigned char* out) {
  const unsigned char* p = der;
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_size)));
  if (!sig) return false;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  return BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32;
}

}  // namespace

std::string base64UrlEncode(std::string_view bytes) {
  const std::size_t size =
      sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::string out(size, '\0');
  sodium_bin2base64(out.data(), size, reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(size - 1);  // the NUL
  return out;
}

foundation::Result<std::string> jwtAlgorithmFor(const foundation::SecretBytes& private_key_pem) {
  auto key = loadKey(private_key_pem);
  if (!key) return std::move(key).error();
  return algorithmOf(key->get());
}

foundation::Result<foundation::SecretBytes> signJwtAssertion(
    const foundation::SecretBytes& private_key_pem, const JwtAssertionClaims& claims) {
  for (const std::string* text : {&claims.issuer, &claims.subject, &claims.audience, &claims.scope,
                                  &claims.key_id, &claims.jwt_id}) {
    if (!claimTextOk(*text)) {
      return foundation::Error::permanent(
          "a JWT claim is longer than 2048 bytes or has control characters");
    }
  }
  if (claims.issuer.empty() || claims.subject.empty() || claims.audience.empty() ||
      claims.jwt_id.empty()) {
    return foundation::Error::permanent("a JWT assertion needs iss, sub, aud and jti");
  }
  if (claims.lifetime.count() <= 0 || claims.lifetime > kMaxAssertionLifetime) {
    return foundation::Error::permanent("a JWT assertion lives between 1 second and 10 minutes");
  }
  auto key = loadKey(private_key_pem);
  if (!key) return std::move(key).error();
  auto algorithm = algorithmOf(key->get());
  if (!algorithm) return std::move(algorithm).error();

  const std::string signing_input = base64UrlEncode(headerJson(*algorithm, claims.key_id)) + "." +
                                    base64UrlEncode(claimsJson(claims));

  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx) return foundation::Error::internal("EVP_MD_CTX_new failed");
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // owned by ctx
  if (EVP_DigestSignInit(ctx.get(), &pkey_ctx, EVP_sha256(), nullptr, key->get()) != 1) {
    return foundation::Error::internal("EVP_DigestSignInit failed");
  }
  if (EVP_PKEY_base_id(key->get()) == EVP_PKEY_RSA &&
      EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) != 1) {
    return foundation::Error::internal("RSA PKCS#1 v1.5 padding refused");
  }
  std::size_t signature_size = 0;
  const auto* input = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &signature_size, input, signing_input.size()) != 1) {
    return foundation::Error::internal("EVP_DigestSign (size) failed");
  }
  // The signature completes a bearer credential: it stays in locked memory, and is
  // base64url-encoded straight into the JWT's own locked buffer.
  foundation::SecretBytes signature(signature_size);
  auto* signature_bytes = reinterpret_cast<unsigned char*>(signature.mutableData());
  if (EVP_DigestSign(ctx.get(), signature_bytes, &signature_size, input, signing_input.size()) !=
      1) {
    return foundation::Error::internal("EVP_DigestSign failed");
  }
  if (*algorithm == "ES256") {
    foundation::SecretBytes jose(64);
    if (!derToJoseEs256(signature_bytes, signature_size,
                        reinterpret_cast<unsigned char*>(jose.mutableData()))) {
      return foundation::Error::internal("ECDSA signature is not DER");
    }
    signature = std::move(jose);
    signature_size = 64;
    signature_bytes = reinterpret_cast<unsigned char*>(signature.mutableData());
  }
  const std::size_t encoded_size =
      sodium_base64_ENCODED_LEN(signature_size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  foundation::SecretBytes jwt(signing_input.size() + 1 + encoded_size);  // + the encoder's NUL
  char* out = jwt.mutableData();
  std::memcpy(out, signing_input.data(), signing_input.size());
  out[signing_input.size()] = '.';
  sodium_bin2base64(out + signing_input.size() + 1, encoded_size, signature_bytes, signature_size,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  jwt.truncate(jwt.size() - 1);
  return jwt;
}

}  // namespace sidecar::keeper
