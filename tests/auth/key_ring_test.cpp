#include "claimcheck/auth/key_ring.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "auth_fixture.hpp"
#include "claimcheck/token/verifier.hpp"

namespace claimcheck::auth {
namespace {

using namespace testing;
namespace fs = std::filesystem;
using std::chrono::seconds;

std::vector<std::string> kids_of(const std::string& jwks) {
  std::vector<std::string> kids;
  const auto document = nlohmann::json::parse(jwks);
  for (const auto& key : document["keys"]) {
    kids.push_back(key["kid"].get<std::string>());
  }
  return kids;
}

std::vector<fs::path> pem_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".pem") {
      files.push_back(entry.path());
    }
  }
  return files;
}

fs::perms mode_of(const fs::path& path) { return fs::status(path).permissions() & fs::perms::mask; }

TEST(KeyRing, RotationPublishesNewAndPreviousKeyAndSignsWithTheNewOne) {
  const TempDir dir;
  KeyRing ring(dir.path(), "RS256", seconds(300));
  const std::string old_kid = ring.active().kid();

  const token::SigningKey rotated = rotate_key(dir.path(), "ES256");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the ring looks once a second

  EXPECT_EQ(ring.active().kid(), rotated.kid());
  EXPECT_EQ(ring.active().algorithm(), "ES256");
  EXPECT_EQ(kids_of(ring.jwks()), (std::vector<std::string>{rotated.kid(), old_kid}));
  for (const auto& file : pem_files(dir.path())) {
    EXPECT_EQ(mode_of(file), fs::perms::owner_read | fs::perms::owner_write) << file;
  }
  KeyRing restarted(dir.path(), "RS256", seconds(300));
  EXPECT_EQ(kids_of(restarted.jwks()), (std::vector<std::string>{rotated.kid(), old_kid}))
      << "keys survive a restart";
}

// Once every token the old key signed has expired, the JWKS drops it and its file is deleted.
TEST(KeyRing, RetiredKeyIsDroppedAfterTheLongestTokenLifetime) {
  const TempDir dir;
  const std::string old_kid = token::load_or_create_key(dir.path()).kid();
  const token::SigningKey rotated = rotate_key(dir.path(), "RS256");
  // A retirement long enough ago: rename the retired file to an older timestamp.
  for (const auto& file : pem_files(dir.path())) {
    const auto name = file.filename().string();
    if (name.starts_with("retired-")) {
      const auto old_time =
          std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch() -
                                              seconds(300) - kRetirementMargin - seconds(1));
      fs::rename(file, dir.path() / ("retired-" + std::to_string(old_time.count()) + "-x.pem"));
    }
  }

  KeyRing ring(dir.path(), "RS256", seconds(300));

  EXPECT_EQ(kids_of(ring.jwks()), std::vector<std::string>{rotated.kid()});
  EXPECT_EQ(pem_files(dir.path()).size(), 1u) << "the expired key file is deleted";
  EXPECT_NE(rotated.kid(), old_kid);
}

TEST(KeyRing, RecentlyRetiredKeyStaysUntilItsTokensExpire) {
  const TempDir dir;
  const std::string old_kid = token::load_or_create_key(dir.path()).kid();
  const token::SigningKey rotated = rotate_key(dir.path(), "RS256");

  KeyRing ring(dir.path(), "RS256", seconds(24 * 3600));

  EXPECT_EQ(kids_of(ring.jwks()), (std::vector<std::string>{rotated.kid(), old_kid}));
}

// Rotation on a running server: a verifier that cached the old key set gets the new key with
// one refresh (T2), and the old key's tokens keep verifying during the overlap.
TEST(KeyRing, RunningServerPicksUpARotationAndVerifiersFollow) {
  const TempDir dir;
  RunningAuthServer auth(test_settings(dir.path()));
  token::VerifierSettings settings{.issuer = kIssuer, .audience = "claimcheck"};
  settings.jwks_min_refresh_interval = seconds(0);
  token::TokenVerifier verifier(
      settings, token::http_jwks_fetcher(auth.url("/oauth2/jwks"), std::chrono::seconds(5)));
  const auto issue = [&] {
    auto client = auth.client();
    client.set_basic_auth("sender", kSenderSecret);
    const auto result =
        client.Post("/oauth2/token", httplib::Params{{"grant_type", "client_credentials"}});
    return nlohmann::json::parse(result->body)["access_token"].get<std::string>();
  };
  const std::string before = issue();
  ASSERT_TRUE(verifier.verify(before, "").ok());

  const token::SigningKey rotated = rotate_key(dir.path(), "ES256");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string after = issue();

  const auto header = nlohmann::json::parse(*base64url_decode(after.substr(0, after.find('.'))));
  EXPECT_EQ(header["kid"], rotated.kid());
  EXPECT_EQ(header["alg"], "ES256");
  const auto verified = verifier.verify(after, "");
  EXPECT_TRUE(verified.ok()) << verified.reason;
  EXPECT_TRUE(verifier.verify(before, "").ok()) << "the previous key's tokens still verify";
  EXPECT_EQ(auth.server().signing_key().kid(), rotated.kid());
}

}  // namespace
}  // namespace claimcheck::auth
