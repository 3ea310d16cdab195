#pragma once

/// The one place the token module talks to OpenSSL (private to src/token).
///
/// Every OpenSSL handle lives in a unique_ptr with a noexcept deleter. Functions that act on
/// trusted material (our own keys) throw std::runtime_error on failure; functions that act on
/// outside input (JWKS members, signatures) report failure as a value.

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace claimcheck::token::openssl {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

/// RSA keys shorter than this are refused for signing and for verification.
inline constexpr int kMinRsaBits = 2048;

/// A fresh RSA private key of `bits` bits.
PkeyPtr generate_rsa(int bits);

/// Parses a PEM private key; `origin` names the source in the error message.
PkeyPtr read_private_pem(std::string_view pem, const std::string& origin);

/// The private key as unencrypted PKCS#8 PEM.
std::string write_private_pem(EVP_PKEY& key);

/// A fresh EC private key on P-256 (secp256r1), for ES256.
PkeyPtr generate_ec_p256();

bool is_rsa(EVP_PKEY& key);
/// True only for an EC key on the P-256 curve (the one curve ES256 allows).
bool is_ec_p256(EVP_PKEY& key);
int key_bits(EVP_PKEY& key);

/// The affine coordinates of an EC P-256 public key, each as 32 big-endian bytes (JWK x and y).
std::string ec_x(EVP_PKEY& key);
std::string ec_y(EVP_PKEY& key);

/// A P-256 public key from 32-byte `x` and `y`; nullptr when they are not a point on the curve.
PkeyPtr ec_p256_public_key(std::string_view x, std::string_view y);

/// Big-endian unsigned bytes of the RSA modulus and public exponent.
std::string rsa_modulus(EVP_PKEY& key);
std::string rsa_public_exponent(EVP_PKEY& key);

/// An RSA public key built from big-endian `modulus` and `exponent` bytes (JWK n and e);
/// nullptr when OpenSSL refuses them.
PkeyPtr rsa_public_key(std::string_view modulus, std::string_view exponent);

/// RSASSA-PKCS1-v1_5 with SHA-256 (JWS RS256) over `data`.
std::string sign_rs256(EVP_PKEY& key, std::string_view data);

/// True only when `signature` is a valid RS256 signature of `data` under `key`.
bool verify_rs256(EVP_PKEY& key, std::string_view data, std::string_view signature);

/// ECDSA P-256 with SHA-256 (JWS ES256): the signature as JWS wants it, R and S as 32 bytes each
/// (RFC 7518 section 3.4), not the DER OpenSSL produces.
std::string sign_es256(EVP_PKEY& key, std::string_view data);

/// True only when `signature` is 64 bytes of R and S and verifies `data` under `key`.
bool verify_es256(EVP_PKEY& key, std::string_view data, std::string_view signature);

/// Raw 32-byte SHA-256 digest. The common Sha256 class yields hex; JWK thumbprints need bytes.
std::string sha256_bytes(std::string_view data);

}  // namespace claimcheck::token::openssl
