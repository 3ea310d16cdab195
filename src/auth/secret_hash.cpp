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

VerifiedSecretCache::VerifiedSecretCache(std::chrono::seconds ttl) : ttl_(ttl) {
  ensure_sodium();
  static_assert(sizeof(key_) == crypto_auth_KEYBYTES);
  crypto_auth_keygen(key_.data());
}

VerifiedSecretCache::Mac VerifiedSecretCache::mac_of(std::string_view client_id,
                                                     std::string_view secret,
                                                     std::string_view hash) const {
  static_assert(sizeof(Mac) == crypto_auth_BYTES);
  // Lengths first, so that no two (id, hash, secret) triples give the same input.
  std::string input = std::to_string(client_id.size()) + ":" + std::to_string(hash.size()) + ":";
  input.append(client_id);
  input.append(hash);
  input.append(secret);
  Mac mac{};
  crypto_auth(mac.data(), reinterpret_cast<const unsigned char*>(input.data()), input.size(),
              key_.data());
  sodium_memzero(input.data(), input.size());
  return mac;
}

bool VerifiedSecretCache::contains(std::string_view client_id, std::string_view secret,
                                   std::string_view hash) {
  const Mac mac = mac_of(client_id, secret, hash);
  const std::lock_guard lock(mutex_);
  const auto found = entries_.find(client_id);
  if (found == entries_.end() || std::chrono::steady_clock::now() >= found->second.expires_at) {
    return false;
  }
  return sodium_memcmp(mac.data(), found->second.mac.data(), mac.size()) == 0;
}

void VerifiedSecretCache::remember(std::string_view client_id, std::string_view secret,
                                   std::string_view hash) {
  const Mac mac = mac_of(client_id, secret, hash);
  const std::lock_guard lock(mutex_);
  entries_.insert_or_assign(std::string(client_id),
                            Entry{mac, std::chrono::steady_clock::now() + ttl_});
}

}  // namespace claimcheck::auth
