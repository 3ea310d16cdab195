#pragma once

/// Client secrets at rest: Argon2id hashes in libsodium's self-describing string format
/// ("$argon2id$v=19$m=65536,t=2,p=1$...").
///
/// New hashes use libsodium's INTERACTIVE limits (64 MiB, 2 passes): the token endpoint checks a
/// secret on every token request, and clients cache their tokens, so a check must stay well
/// under a second on a small machine. verify_secret reads the limits from the hash itself, so
/// stronger hashes made elsewhere verify too. Both functions are thread-safe.

#include <stdexcept>
#include <string>
#include <string_view>

namespace claimcheck::auth {

/// The Argon2id hash of `secret`, salted at random. Throws std::runtime_error when libsodium
/// cannot initialise or runs out of memory.
std::string hash_secret(std::string_view secret);

/// True when `secret` matches `hash`; false for a wrong secret or a malformed hash.
bool verify_secret(std::string_view secret, const std::string& hash);

/// True when `hash` looks like an Argon2id hash string (checked when configuration loads).
bool is_argon2id_hash(std::string_view hash);

}  // namespace claimcheck::auth
