#pragma once

/// Asymmetric keys that sign access tokens, and the signing of JWTs with them.
///
/// A SigningKey is immutable after construction and cheap to copy (copies share the key); it is
/// safe to use from any number of threads. Two algorithms: RS256 over RSA keys of at least 2048
/// bits (the default), and ES256 over EC P-256 keys; the key decides the algorithm. Key files are
/// unencrypted PKCS#8 PEM, written with mode 0600 and replaced atomically.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace claimcheck::token {

/// A key file that cannot be read, written or used; the message names the path.
class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// JWS algorithm names.
inline constexpr std::string_view kRs256 = "RS256";
inline constexpr std::string_view kEs256 = "ES256";

class SigningKey {
 public:
  /// A new RSA 2048-bit key for RS256.
  static SigningKey generate_rs256();
  /// A new EC P-256 key for ES256.
  static SigningKey generate_es256();
  /// A new key for `algorithm` ("RS256" or "ES256"); throws std::invalid_argument otherwise.
  static SigningKey generate(std::string_view algorithm);

  /// Reads a PEM private key. Throws KeyError naming `path` when the file is missing, is not a
  /// private key, holds an RSA key shorter than 2048 bits or an EC key on another curve than
  /// P-256. Warns when others may read it.
  static SigningKey load_pem(const std::filesystem::path& path);

  /// Writes the private key to `path` with mode 0600, replacing any file there atomically.
  /// Throws KeyError naming the path.
  void save_pem(const std::filesystem::path& path) const;

  /// The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
  [[nodiscard]] const std::string& kid() const;

  /// The JWS algorithm this key signs with ("RS256" or "ES256").
  [[nodiscard]] const std::string& algorithm() const;

  /// The public half as a JWK (RSA: kty, n, e; EC: kty, crv, x, y; both: kid, alg, use "sig").
  /// Never contains private material.
  [[nodiscard]] nlohmann::json public_jwk() const;

  /// The raw JWS signature of `signing_input` (the "header.payload" text of a JWT).
  [[nodiscard]] std::string sign(std::string_view signing_input) const;

 private:
  struct State;
  explicit SigningKey(std::shared_ptr<const State> state);
  std::shared_ptr<const State> state_;
};

/// The file name load_or_create_key keeps the active key under.
inline constexpr std::string_view kSigningKeyFileName = "signing-key.pem";

/// Loads the key in `dir` (creating dir 0700 and a new `algorithm` key on first start), so tokens
/// stay valid across restarts; an existing key is kept whatever its algorithm. Safe when several
/// processes share `dir`: if two start at once, both end up with the key that reached the disk
/// first. Throws KeyError naming the path, std::invalid_argument for an unknown algorithm.
SigningKey load_or_create_key(const std::filesystem::path& dir,
                              std::string_view algorithm = kRs256);

/// A compact JWS of `claims` (a JSON object) with header {alg, typ: "JWT", kid}.
/// Throws std::invalid_argument when `claims` is not an object.
std::string sign_jwt(const nlohmann::json& claims, const SigningKey& key);

}  // namespace claimcheck::token
