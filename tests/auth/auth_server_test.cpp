#include "claimcheck/auth/auth_server.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include "auth_fixture.hpp"
#include "claimcheck/token/verifier.hpp"

namespace claimcheck::auth {
namespace {

using namespace testing;
namespace fs = std::filesystem;

httplib::Params form(std::initializer_list<std::pair<const std::string, std::string>> fields) {
  return httplib::Params(fields);
}

nlohmann::json body_of(const httplib::Result& result) {
  return nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
}

class AuthServerTest : public ::testing::Test {
 protected:
  TempDir keys_;
  RunningAuthServer auth_{test_settings(keys_.path())};
};

TEST_F(AuthServerTest, BasicAuthIssuesATokenThatVerifiesAgainstTheJwks) {
  auto client = auth_.client();
  client.set_basic_auth("sender", kSenderSecret);

  const auto result = client.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));

  ASSERT_TRUE(result) << httplib::to_string(result.error());
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Cache-Control"), "no-store");
  const auto body = body_of(result);
  EXPECT_EQ(body["token_type"], "Bearer");
  EXPECT_EQ(body["expires_in"], 300);
  EXPECT_EQ(body["scope"], "files.send files.read");

  token::TokenVerifier verifier(
      {.issuer = kIssuer, .audience = "claimcheck"},
      token::http_jwks_fetcher(auth_.url("/oauth2/jwks"), std::chrono::seconds(5)));
  const auto verified = verifier.verify(body["access_token"].get<std::string>(), "files.send");
  ASSERT_TRUE(verified.ok()) << verified.reason;
  EXPECT_EQ(verified.token->subject, "sender");
  EXPECT_EQ(verified.token->claims["aud"], "claimcheck");
  EXPECT_EQ(verified.token->jti.size(), 32u);
  EXPECT_EQ(verifier.verify(body["access_token"].get<std::string>(), "files.reply").status,
            token::TokenStatus::kMissingAuthority);
  EXPECT_EQ(auth_.tokens_issued(), 1u);
}

TEST_F(AuthServerTest, FormFieldAuthWorks) {
  const auto result =
      auth_.client().Post("/oauth2/token", form({{"grant_type", "client_credentials"},
                                                 {"client_id", "worker"},
                                                 {"client_secret", kWorkerSecret}}));

  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(body_of(result)["scope"], "files.reply");
}

// RFC 6749 section 2.3.1: Basic carries the id and secret form-encoded.
TEST_F(AuthServerTest, BasicCredentialsAreFormDecoded) {
  auto client = auth_.client();
  client.set_basic_auth("worker", httplib::detail::encode_query_param(kWorkerSecret));

  const auto result = client.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));

  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
}

TEST_F(AuthServerTest, WrongSecretIsInvalidClientWithChallengeForBasic) {
  auto client = auth_.client();
  client.set_basic_auth("sender", "not-the-secret");

  const auto basic = client.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));
  const auto posted =
      auth_.client().Post("/oauth2/token", form({{"grant_type", "client_credentials"},
                                                 {"client_id", "sender"},
                                                 {"client_secret", "not-the-secret"}}));

  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);
  EXPECT_EQ(body_of(basic)["error"], "invalid_client");
  EXPECT_NE(basic->get_header_value("WWW-Authenticate").find("Basic"), std::string::npos);
  EXPECT_EQ(basic->body.find("not-the-secret"), std::string::npos);
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 401);
  EXPECT_EQ(body_of(posted)["error"], "invalid_client");
  EXPECT_FALSE(posted->has_header("WWW-Authenticate"));
  EXPECT_EQ(auth_.authentication_failures(), 2u);
  EXPECT_EQ(auth_.tokens_issued(), 0u);
}

TEST_F(AuthServerTest, UnknownOrMissingClientIsInvalidClient) {
  auto client = auth_.client();
  client.set_basic_auth("nobody", kSenderSecret);
  const auto unknown = client.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));
  const auto anonymous =
      auth_.client().Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));

  ASSERT_TRUE(unknown && anonymous);
  EXPECT_EQ(unknown->status, 401);
  EXPECT_EQ(body_of(unknown)["error"], "invalid_client");
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(body_of(anonymous)["error"], "invalid_client");
}

TEST_F(AuthServerTest, UnsupportedOrMissingGrantIsABadRequest) {
  auto client = auth_.client();
  client.set_basic_auth("sender", kSenderSecret);

  const auto password = client.Post("/oauth2/token", form({{"grant_type", "password"}}));
  const auto missing = client.Post("/oauth2/token", form({{"scope", "files.send"}}));

  ASSERT_TRUE(password && missing);
  EXPECT_EQ(password->status, 400);
  EXPECT_EQ(body_of(password)["error"], "unsupported_grant_type");
  EXPECT_EQ(missing->status, 400);
  EXPECT_EQ(body_of(missing)["error"], "invalid_request");
}

TEST_F(AuthServerTest, ScopeIsNarrowedOrRefused) {
  auto client = auth_.client();
  client.set_basic_auth("sender", kSenderSecret);

  const auto narrowed = client.Post(
      "/oauth2/token", form({{"grant_type", "client_credentials"}, {"scope", "files.send"}}));
  const auto widened = client.Post("/oauth2/token", form({{"grant_type", "client_credentials"},
                                                          {"scope", "files.send files.reply"}}));

  ASSERT_TRUE(narrowed && widened);
  ASSERT_EQ(narrowed->status, 200) << narrowed->body;
  EXPECT_EQ(body_of(narrowed)["scope"], "files.send");
  EXPECT_EQ(widened->status, 400);
  EXPECT_EQ(body_of(widened)["error"], "invalid_scope");
}

TEST_F(AuthServerTest, MalformedRequestsAreInvalidRequest) {
  auto basic = auth_.client();
  basic.set_basic_auth("sender", kSenderSecret);
  const auto two_methods = basic.Post("/oauth2/token", form({{"grant_type", "client_credentials"},
                                                             {"client_id", "sender"},
                                                             {"client_secret", kSenderSecret}}));
  const auto in_url =
      basic.Post("/oauth2/token?grant_type=client_credentials", "grant_type=client_credentials",
                 "application/x-www-form-urlencoded");
  const auto json_body =
      basic.Post("/oauth2/token", R"({"grant_type":"client_credentials"})", "application/json");
  const auto repeated =
      basic.Post("/oauth2/token", "grant_type=client_credentials&grant_type=password",
                 "application/x-www-form-urlencoded");

  for (const auto* result : {&two_methods, &in_url, &json_body, &repeated}) {
    ASSERT_TRUE(*result);
    EXPECT_EQ((*result)->status, 400) << (*result)->body;
    EXPECT_EQ(body_of(*result)["error"], "invalid_request");
  }
}

TEST_F(AuthServerTest, JwksPublishesTheSigningKeyOnly) {
  const auto result = auth_.client().Get("/oauth2/jwks");

  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  const auto keys = body_of(result)["keys"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["kid"], auth_.server().signing_key().kid());
  EXPECT_FALSE(keys[0].contains("d"));
}

TEST(AuthServerRestart, KeepsItsKeyAcrossARestartInAPrivateFile) {
  const TempDir keys;
  std::string first_kid;
  {
    const RunningAuthServer first(test_settings(keys.path()));
    first_kid = first.server().signing_key().kid();
  }
  const RunningAuthServer second(test_settings(keys.path()));

  EXPECT_EQ(second.server().signing_key().kid(), first_kid);
  EXPECT_EQ(fs::status(keys.path() / token::kSigningKeyFileName).permissions() & fs::perms::mask,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(keys.path()).permissions() & fs::perms::mask, fs::perms::owner_all);
}

// Rotation with overlap: the previous key, renamed, still verifies the tokens it signed.
TEST(AuthServerRestart, PublishesRetiredKeysButSignsWithTheNewOne) {
  const TempDir keys;
  std::string old_kid;
  {
    const RunningAuthServer before(test_settings(keys.path()));
    old_kid = before.server().signing_key().kid();
  }
  fs::rename(keys.path() / token::kSigningKeyFileName, keys.path() / "retired-1.pem");
  RunningAuthServer after(test_settings(keys.path()));

  const auto result = after.client().Get("/oauth2/jwks");
  ASSERT_TRUE(result);
  const auto body = body_of(result);
  std::vector<std::string> kids;
  for (const auto& key : body["keys"]) {
    kids.push_back(key["kid"].get<std::string>());
  }
  const std::string new_kid = after.server().signing_key().kid();
  EXPECT_NE(new_kid, old_kid);
  EXPECT_EQ(kids, (std::vector<std::string>{new_kid, old_kid}));
}

}  // namespace
}  // namespace claimcheck::auth
