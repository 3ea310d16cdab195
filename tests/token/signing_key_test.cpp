#include "claimcheck/token/signing_key.hpp"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <fstream>

#include "claimcheck/common/encoding.hpp"

namespace claimcheck::token {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("claimcheck-keys-" + random_hex(8))) {}
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

fs::perms mode_of(const fs::path& path) { return fs::status(path).permissions() & fs::perms::mask; }

nlohmann::json decode_segment(const std::string& token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) {
    start = token.find('.', start) + 1;
  }
  const auto end = token.find('.', start);
  return nlohmann::json::parse(*base64url_decode(token.substr(start, end - start)));
}

TEST(SigningKey, KidIsTheRfc7638ThumbprintOfThePublicKey) {
  const SigningKey key = SigningKey::generate_rs256();
  const nlohmann::json jwk = key.public_jwk();

  const std::string canonical = R"({"e":")" + jwk["e"].get<std::string>() +
                                R"(","kty":"RSA","n":")" + jwk["n"].get<std::string>() + R"("})";
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(),
         reinterpret_cast<unsigned char*>(digest.data()));

  EXPECT_EQ(key.kid(), base64url_encode(digest));
  EXPECT_EQ(jwk["kid"], key.kid());
  EXPECT_EQ(jwk["alg"], "RS256");
  EXPECT_EQ(jwk["use"], "sig");
  EXPECT_EQ(key.algorithm(), "RS256");
  EXPECT_EQ(base64url_decode(jwk["n"].get<std::string>())->size(), 256u);
}

TEST(SigningKey, PublicJwkHoldsNoPrivateMaterial) {
  const nlohmann::json jwk = SigningKey::generate_rs256().public_jwk();
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi"}) {
    EXPECT_FALSE(jwk.contains(member)) << member;
  }
}

TEST(SigningKey, SavedKeyLoadsWithTheSameKidAndMode0600) {
  const TempDir dir;
  fs::create_directories(dir.path());
  const fs::path file = dir.path() / "key.pem";
  const SigningKey key = SigningKey::generate_rs256();

  key.save_pem(file);

  EXPECT_EQ(mode_of(file), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(SigningKey::load_pem(file).kid(), key.kid());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1)
      << "no temporary file may be left behind";
}

TEST(SigningKey, LoadOrCreateKeepsTheKeyAcrossRestarts) {
  const TempDir dir;
  const fs::path keys = dir.path() / "nested" / "keys";

  const std::string first_kid = load_or_create_key(keys).kid();
  const std::string second_kid = load_or_create_key(keys).kid();

  EXPECT_EQ(first_kid, second_kid);
  EXPECT_EQ(mode_of(keys), fs::perms::owner_all);
  EXPECT_EQ(mode_of(keys / kSigningKeyFileName), fs::perms::owner_read | fs::perms::owner_write);
}

TEST(SigningKey, GarbageKeyFileIsAnErrorNamingThePath) {
  const TempDir dir;
  fs::create_directories(dir.path());
  const fs::path file = dir.path() / "broken.pem";
  std::ofstream(file) << "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";

  try {
    (void)SigningKey::load_pem(file);
    FAIL() << "expected KeyError";
  } catch (const KeyError& error) {
    EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
  }
  EXPECT_THROW((void)SigningKey::load_pem(dir.path() / "missing.pem"), KeyError);
}

TEST(SignJwt, HeaderNamesAlgorithmTypeAndKid) {
  const SigningKey key = SigningKey::generate_rs256();
  const std::string token = sign_jwt({{"sub", "demo-client"}}, key);

  const nlohmann::json header = decode_segment(token, 0);
  EXPECT_EQ(header["alg"], "RS256");
  EXPECT_EQ(header["typ"], "JWT");
  EXPECT_EQ(header["kid"], key.kid());
  EXPECT_EQ(decode_segment(token, 1)["sub"], "demo-client");
  EXPECT_THROW(sign_jwt(nlohmann::json::array(), key), std::invalid_argument);
}

TEST(SigningKey, Es256KeyHasAP256JwkAndItsThumbprintAsKid) {
  const SigningKey key = SigningKey::generate_es256();
  const nlohmann::json jwk = key.public_jwk();

  const std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" + jwk["x"].get<std::string>() +
                                R"(","y":")" + jwk["y"].get<std::string>() + R"("})";
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(),
         reinterpret_cast<unsigned char*>(digest.data()));

  EXPECT_EQ(key.algorithm(), "ES256");
  EXPECT_EQ(key.kid(), base64url_encode(digest));
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["alg"], "ES256");
  EXPECT_EQ(base64url_decode(jwk["x"].get<std::string>())->size(), 32u);
  EXPECT_EQ(base64url_decode(jwk["y"].get<std::string>())->size(), 32u);
  EXPECT_FALSE(jwk.contains("d"));
  // JWS ES256 signatures are R || S, 64 bytes, not DER.
  const std::string token = sign_jwt({{"sub", "x"}}, key);
  EXPECT_EQ(base64url_decode(token.substr(token.rfind('.') + 1))->size(), 64u);
  EXPECT_EQ(decode_segment(token, 0)["alg"], "ES256");
}

TEST(SigningKey, Es256KeySurvivesARestartAndAnExistingKeyKeepsItsAlgorithm) {
  const TempDir dir;
  const std::string kid = load_or_create_key(dir.path(), kEs256).kid();

  const SigningKey reloaded = load_or_create_key(dir.path(), kRs256);

  EXPECT_EQ(reloaded.kid(), kid);
  EXPECT_EQ(reloaded.algorithm(), "ES256");
  EXPECT_EQ(mode_of(dir.path() / kSigningKeyFileName),
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_THROW(SigningKey::generate("HS256"), std::invalid_argument);
}

TEST(SigningKey, EcKeyOnAnotherCurveIsRefused) {
  const TempDir dir;
  fs::create_directories(dir.path());
  const fs::path file = dir.path() / "p384.pem";
  EVP_PKEY* key = EVP_EC_gen("P-384");
  ASSERT_NE(key, nullptr);
  FILE* out = std::fopen(file.c_str(), "w");
  ASSERT_NE(out, nullptr);
  PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(out);
  EVP_PKEY_free(key);

  EXPECT_THROW((void)SigningKey::load_pem(file), KeyError);
}

}  // namespace
}  // namespace claimcheck::token
