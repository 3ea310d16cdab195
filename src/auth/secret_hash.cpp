#include "claimcheck/auth/secret_hash.hpp"

#include <sodium.h>

#include <array>

namespace claimcheck::auth {
namespace {

void ensure_sodium() {
  if (sodium_init() < 0) {
    throw std::runtime_error("libsodium failed to initialise");
  }
}

}  // namespace

std::string hash_secret(std::string_view secret) {
  ensure_sodium();
  std::array<char, crypto_pwhash_STRBYTES> hash{};
  if (crypto_pwhash_str(hash.data(), secret.data(), secret.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw std::runtime_error("Argon2id hashing ran out of memory");
  }
  return hash.data();
}

bool verify_secret(std::string_view secret, const std::string& hash) {
  ensure_sodium();
  return is_argon2id_hash(hash) &&
         crypto_pwhash_str_verify(hash.c_str(), secret.data(), secret.size()) == 0;
}

bool is_argon2id_hash(std::string_view hash) {
  return hash.starts_with(crypto_pwhash_argon2id_STRPREFIX) && hash.size() < crypto_pwhash_STRBYTES;
}

}  // namespace claimcheck::auth
