#include <gtest/gtest.h>

#include <fstream>

#include "auth_fixture.hpp"
#include "claimcheck/auth/auth_server.hpp"
#include "claimcheck/auth/secret_hash.hpp"

namespace claimcheck::auth {
namespace {

using namespace testing;

Config config_from(const TempDir& dir, const std::string& yaml) {
  std::filesystem::create_directories(dir.path());
  const auto path = dir.path() / "auth.yaml";
  std::ofstream(path) << yaml;
  return Config::load(path, "CCAUTHTEST_", {});
}

std::string error_of(const Config& config) {
  try {
    (void)AuthSettings::from_config(config);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "no error";
}

TEST(SecretHash, VerifiesOnlyTheRightSecret) {
  const std::string hash = hash_secret("s3cret");
  EXPECT_TRUE(is_argon2id_hash(hash));
  EXPECT_TRUE(verify_secret("s3cret", hash));
  EXPECT_FALSE(verify_secret("s3cret ", hash));
  EXPECT_FALSE(verify_secret("s3cret", "plain-text"));
  EXPECT_NE(hash_secret("s3cret"), hash) << "each hash has its own salt";
}

TEST(VerifiedSecretCache, RemembersOnlyTheSecretThatMatchedUnderTheSameHash) {
  VerifiedSecretCache cache(std::chrono::seconds(60));
  cache.remember("client", "s3cret", "hash-1");

  EXPECT_TRUE(cache.contains("client", "s3cret", "hash-1"));
  EXPECT_FALSE(cache.contains("client", "s3cret ", "hash-1"));
  EXPECT_FALSE(cache.contains("client", "s3cret", "hash-2")) << "a changed hash is checked anew";
  EXPECT_FALSE(cache.contains("other", "s3cret", "hash-1"));
  EXPECT_FALSE(cache.contains("clien", "ts3cret", "hash-1")) << "no ambiguity at the joins";

  VerifiedSecretCache expired(std::chrono::seconds(0));
  expired.remember("client", "s3cret", "hash-1");
  EXPECT_FALSE(expired.contains("client", "s3cret", "hash-1"));
}

// The committed demo configuration must load, and its hashes must match the demo secrets the
// README and the other services' configurations name.
TEST(AuthSettings, DemoConfigurationHoldsTheDemoClients) {
  const auto config = Config::load(
      std::filesystem::path(CLAIMCHECK_SOURCE_DIR) / "config" / "auth.yaml", "CCAUTHTEST_", {});
  const AuthSettings settings = AuthSettings::from_config(config);

  ASSERT_EQ(settings.clients.size(), 2u);
  EXPECT_EQ(settings.clients[0].id, "demo-client");
  EXPECT_EQ(settings.clients[0].scopes, std::vector<std::string>{"files.send"});
  EXPECT_TRUE(verify_secret("demo-client-secret", settings.clients[0].secret_hash));
  EXPECT_EQ(settings.clients[1].id, "demo-resource");
  EXPECT_EQ(settings.clients[1].scopes, std::vector<std::string>{"files.reply"});
  EXPECT_TRUE(verify_secret("demo-resource-secret", settings.clients[1].secret_hash));
  EXPECT_EQ(settings.token_lifetime, std::chrono::seconds(300));
}

TEST(AuthSettings, ReadsKeysAndDefaults) {
  const TempDir dir;
  const auto settings = AuthSettings::from_config(
      config_from(dir,
                  "issuer: http://auth:9000\ntoken:\n  lifetime: 2m\nclients:\n  - id: a\n"
                  "    secret-hash: " +
                      sender_hash() + "\n"));

  EXPECT_EQ(settings.issuer, "http://auth:9000");
  EXPECT_EQ(settings.token_lifetime, std::chrono::seconds(120));
  EXPECT_EQ(settings.keys_dir, "var/auth-keys");
  ASSERT_EQ(settings.clients.size(), 1u);
  EXPECT_EQ(settings.clients[0].audience, "claimcheck");
  EXPECT_TRUE(settings.clients[0].scopes.empty());
}

TEST(AuthSettings, BadClientEntriesNameTheKey) {
  const TempDir dir;
  EXPECT_NE(error_of(config_from(dir, "clients:\n  - id: a\n    secret-hash: plain\n"))
                .find("clients[0].secret-hash"),
            std::string::npos);
  EXPECT_NE(error_of(config_from(dir, "clients:\n  - secret-hash: x\n")).find("clients[0].id"),
            std::string::npos);
  const std::string& hash = sender_hash();
  EXPECT_NE(error_of(config_from(dir, "clients:\n  - {id: a, secret-hash: '" + hash +
                                          "'}\n  - {id: a, secret-hash: '" + hash + "'}\n"))
                .find("clients[1].id"),
            std::string::npos);
  EXPECT_NE(error_of(config_from(dir, "clients:\n  - {id: a, secret-hash: '" + hash +
                                          "', scopes: ['two words']}\n"))
                .find("clients[0].scopes"),
            std::string::npos);
  EXPECT_NE(error_of(config_from(dir, "token:\n  lifetime: 0s\n")).find("token.lifetime"),
            std::string::npos);
  EXPECT_NE(error_of(config_from(dir, "clients:\n  - {id: a, secret-hash: '" + hash +
                                          "', token-lifetime: 48h}\n"))
                .find("clients[0].token-lifetime"),
            std::string::npos);
  EXPECT_NE(error_of(config_from(dir, "keys:\n  algorithm: HS256\n")).find("keys.algorithm"),
            std::string::npos);
  EXPECT_NE(error_of(config_from(dir, "public-url: auth:9000\n")).find("public-url"),
            std::string::npos);
}

TEST(AuthSettings, ReadsPerClientLifetimeAndKeyAlgorithm) {
  const TempDir dir;
  const auto settings = AuthSettings::from_config(
      config_from(dir, "keys:\n  algorithm: ES256\nclients:\n  - {id: a, secret-hash: '" +
                           sender_hash() + "', token-lifetime: 90s, audience: reports}\n"));

  EXPECT_EQ(settings.key_algorithm, "ES256");
  EXPECT_EQ(settings.clients.at(0).token_lifetime, std::chrono::seconds(90));
  EXPECT_EQ(settings.clients.at(0).audience, "reports");
}

}  // namespace
}  // namespace claimcheck::auth
