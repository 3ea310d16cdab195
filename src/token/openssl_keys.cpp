#include "openssl_keys.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
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
struct ParamsDeleter {
  void operator()(OSSL_PARAM* params) const noexcept { OSSL_PARAM_free(params); }
};
using PkeyContextPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyContextDeleter>;
using DigestContextPtr = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using BignumPtr = std::unique_ptr<BIGNUM, BignumDeleter>;
using ParamBuilderPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBuilderDeleter>;
using ParamsPtr = std::unique_ptr<OSSL_PARAM, ParamsDeleter>;

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

std::string sign_rs256(EVP_PKEY& key, std::string_view data) {
  const DigestContextPtr context(EVP_MD_CTX_new());
  std::size_t size = 0;
  if (!context || EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, &key) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &size,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    fail("cannot start an RS256 signature");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    fail("RS256 signing failed");
  }
  signature.resize(size);
  return signature;
}

bool verify_rs256(EVP_PKEY& key, std::string_view data, std::string_view signature) {
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

std::string sha256_bytes(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    fail("SHA-256 failed");
  }
  return {reinterpret_cast<const char*>(digest.data()), size};
}

}  // namespace claimcheck::token::openssl
