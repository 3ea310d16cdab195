#include "openssl_keys.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <array>
#include <stdexcept>

namespace claimcheck::token::openssl {
namespace {

struct PkeyContextDeleter {
  void operator()(EVP_PKEY_CTX* context) const noexcept { EVP_PKEY_CTX_free(context); }
};
struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};
struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct BignumDeleter {
  void operator()(BIGNUM* number) const noexcept { BN_free(number); }
};
struct ParamBuilderDeleter {
  void operator()(OSSL_PARAM_BLD* builder) const noexcept { OSSL_PARAM_BLD_free(builder); }
};
struct EcdsaSignatureDeleter {
  void operator()(ECDSA_SIG* signature) const noexcept { ECDSA_SIG_free(signature); }
};
struct ParamsDeleter {
  void operator()(OSSL_PARAM* params) const noexcept { OSSL_PARAM_free(params); }
};
using PkeyContextPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyContextDeleter>;
using DigestContextPtr = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using BignumPtr = std::unique_ptr<BIGNUM, BignumDeleter>;
using ParamBuilderPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBuilderDeleter>;
using ParamsPtr = std::unique_ptr<OSSL_PARAM, ParamsDeleter>;
using EcdsaSignaturePtr = std::unique_ptr<ECDSA_SIG, EcdsaSignatureDeleter>;

constexpr std::size_t kP256CoordinateBytes = 32;
constexpr const char* kP256GroupName = "P-256";

// Drains OpenSSL's thread-local error queue into one message, so that a stale error never shows
// up later in an unrelated operation.
std::string take_errors() {
  std::string message;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    if (!message.empty()) {
      message += "; ";
    }
    message += text.data();
  }
  return message.empty() ? "no OpenSSL detail" : message;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + " (" + take_errors() + ")");
}

// Without a callback OpenSSL would prompt on the terminal for an encrypted key; we refuse
// encrypted keys instead.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user*/) { return 0; }

std::string bignum_param(EVP_PKEY& key, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(&key, name, &raw) != 1) {
    fail(std::string("cannot read RSA parameter ") + name);
  }
  const BignumPtr number(raw);
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(number.get())), '\0');
  BN_bn2bin(number.get(), reinterpret_cast<unsigned char*>(bytes.data()));
  return bytes;
}

std::string padded_bignum_param(EVP_PKEY& key, const char* name, std::size_t size) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(&key, name, &raw) != 1) {
    fail(std::string("cannot read EC parameter ") + name);
  }
  const BignumPtr number(raw);
  std::string bytes(size, '\0');
  if (BN_bn2binpad(number.get(), reinterpret_cast<unsigned char*>(bytes.data()),
                   static_cast<int>(size)) < 0) {
    fail(std::string("EC parameter ") + name + " is too large");
  }
  return bytes;
}

// The DER signature of `data` under `key` with SHA-256 (RSA PKCS#1 v1.5 or ECDSA by key type).
std::string digest_sign(EVP_PKEY& key, std::string_view data) {
  const DigestContextPtr context(EVP_MD_CTX_new());
  std::size_t size = 0;
  if (!context || EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, &key) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &size,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    fail("cannot start a signature");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    fail("signing failed");
  }
  signature.resize(size);
  return signature;
}

bool digest_verify(EVP_PKEY& key, std::string_view data, std::string_view signature) {
  const DigestContextPtr context(EVP_MD_CTX_new());
  const bool valid =
      context && EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, &key) == 1 &&
      EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  if (!valid) {
    take_errors();
  }
  return valid;
}

BignumPtr to_bignum(std::string_view bytes) {
  return BignumPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                             static_cast<int>(bytes.size()), nullptr));
}

}  // namespace

PkeyPtr generate_rsa(int bits) {
  const PkeyContextPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  if (!context || EVP_PKEY_keygen_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), bits) != 1) {
    fail("cannot set up RSA key generation");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(context.get(), &raw) != 1) {
    fail("RSA key generation failed");
  }
  return PkeyPtr(raw);
}

PkeyPtr read_private_pem(std::string_view pem, const std::string& origin) {
  const BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    fail("cannot allocate a buffer for " + origin);
  }
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    fail(origin + " does not hold an unencrypted PEM private key");
  }
  return key;
}

std::string write_private_pem(EVP_PKEY& key) {
  const BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("cannot encode the private key as PEM");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(size)};
}

bool is_rsa(EVP_PKEY& key) { return EVP_PKEY_is_a(&key, "RSA") == 1; }

int key_bits(EVP_PKEY& key) { return EVP_PKEY_get_bits(&key); }

std::string rsa_modulus(EVP_PKEY& key) { return bignum_param(key, OSSL_PKEY_PARAM_RSA_N); }

std::string rsa_public_exponent(EVP_PKEY& key) { return bignum_param(key, OSSL_PKEY_PARAM_RSA_E); }

PkeyPtr rsa_public_key(std::string_view modulus, std::string_view exponent) {
  const BignumPtr n = to_bignum(modulus);
  const BignumPtr e = to_bignum(exponent);
  const ParamBuilderPtr builder(OSSL_PARAM_BLD_new());
  if (!n || !e || !builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    take_errors();
    return nullptr;
  }
  const ParamsPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
  const PkeyContextPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    take_errors();
    return nullptr;
  }
  return PkeyPtr(raw);
}

std::string sign_rs256(EVP_PKEY& key, std::string_view data) { return digest_sign(key, data); }

bool verify_rs256(EVP_PKEY& key, std::string_view data, std::string_view signature) {
  return digest_verify(key, data, signature);
}

PkeyPtr generate_ec_p256() {
  EVP_PKEY* raw = EVP_EC_gen(kP256GroupName);
  if (raw == nullptr) {
    fail("EC P-256 key generation failed");
  }
  return PkeyPtr(raw);
}

bool is_ec_p256(EVP_PKEY& key) {
  if (EVP_PKEY_is_a(&key, "EC") != 1) {
    return false;
  }
  std::array<char, 64> group{};
  std::size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(&key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &length) != 1) {
    take_errors();
    return false;
  }
  const std::string_view name(group.data(), length);
  return name == "prime256v1" || name == kP256GroupName;
}

std::string ec_x(EVP_PKEY& key) {
  return padded_bignum_param(key, OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordinateBytes);
}

std::string ec_y(EVP_PKEY& key) {
  return padded_bignum_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordinateBytes);
}

PkeyPtr ec_p256_public_key(std::string_view x, std::string_view y) {
  if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) {
    return nullptr;
  }
  // SEC 1 uncompressed point: 0x04 || x || y. OpenSSL refuses a point that is not on the curve.
  std::string point = "\x04";
  point.append(x);
  point.append(y);
  const ParamBuilderPtr builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, kP256GroupName,
                                      0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    take_errors();
    return nullptr;
  }
  const ParamsPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
  const PkeyContextPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    take_errors();
    return nullptr;
  }
  PkeyPtr key(raw);
  // Checks that the point lies on the curve, against invalid-curve attacks.
  const PkeyContextPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    take_errors();
    return nullptr;
  }
  return key;
}

std::string sign_es256(EVP_PKEY& key, std::string_view data) {
  const std::string der = digest_sign(key, data);
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  const EcdsaSignaturePtr signature(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (!signature) {
    fail("cannot decode the ECDSA signature");
  }
  std::string raw(2 * kP256CoordinateBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(signature.get()), out, kP256CoordinateBytes) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(signature.get()), out + kP256CoordinateBytes,
                   kP256CoordinateBytes) < 0) {
    fail("cannot encode the ECDSA signature");
  }
  return raw;
}

bool verify_es256(EVP_PKEY& key, std::string_view data, std::string_view signature) {
  if (signature.size() != 2 * kP256CoordinateBytes) {
    return false;
  }
  BignumPtr r = to_bignum(signature.substr(0, kP256CoordinateBytes));
  BignumPtr s = to_bignum(signature.substr(kP256CoordinateBytes));
  EcdsaSignaturePtr ecdsa(ECDSA_SIG_new());
  if (!r || !s || !ecdsa || ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1) {
    take_errors();
    return false;
  }
  // ECDSA_SIG_set0 took ownership of r and s.
  static_cast<void>(r.release());
  static_cast<void>(s.release());
  unsigned char* der = nullptr;
  const int size = i2d_ECDSA_SIG(ecdsa.get(), &der);
  if (size <= 0) {
    take_errors();
    return false;
  }
  const std::string der_signature(reinterpret_cast<const char*>(der),
                                  static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return digest_verify(key, data, der_signature);
}

std::string sha256_bytes(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    fail("SHA-256 failed");
  }
  return {reinterpret_cast<const char*>(digest.data()), size};
}

}  // namespace claimcheck::token::openssl
