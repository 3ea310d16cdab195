#include "claimcheck/auth/auth_server.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <thread>

#include "auth_fixture.hpp"
#include "claimcheck/auth/client_file.hpp"
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

// A remembered good secret must not let a wrong one through.
TEST_F(AuthServerTest, WrongSecretAfterARightOneIsStillRefused) {
  auto right = auth_.client();
  right.set_basic_auth("sender", kSenderSecret);
  auto wrong = auth_.client();
  wrong.set_basic_auth("sender", "sender-secreT");

  const auto first = right.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));
  const auto refused = wrong.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));
  const auto again = right.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));

  ASSERT_TRUE(first && refused && again);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(again->status, 200);
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

// A Content-Type that merely starts with the form type is not the form type.
TEST_F(AuthServerTest, ContentTypeIsMatchedWholeNotByPrefix) {
  auto client = auth_.client();
  client.set_basic_auth("sender", kSenderSecret);

  const auto lookalike = client.Post("/oauth2/token", "grant_type=client_credentials",
                                     "application/x-www-form-urlencodedX");
  const auto with_charset = client.Post("/oauth2/token", "grant_type=client_credentials",
                                        "application/x-www-form-urlencoded; charset=UTF-8");

  ASSERT_TRUE(lookalike && with_charset);
  EXPECT_EQ(lookalike->status, 400);
  EXPECT_EQ(body_of(lookalike)["error"], "invalid_request");
  EXPECT_EQ(with_charset->status, 200) << with_charset->body;
}

TEST_F(AuthServerTest, TokenBoundToAFileAuthorizesThatFileOnly) {
  auto client = auth_.client();
  client.set_basic_auth("sender", kSenderSecret);
  const std::string sha256(64, 'c');
  const auto bound = client.Post(
      "/oauth2/token",
      form({{"grant_type", "client_credentials"}, {"file_id", "file-7"}, {"file_sha256", sha256}}));
  const auto half = client.Post(
      "/oauth2/token", form({{"grant_type", "client_credentials"}, {"file_id", "file-7"}}));
  const auto bad_digest = client.Post(
      "/oauth2/token",
      form({{"grant_type", "client_credentials"}, {"file_id", "file-7"}, {"file_sha256", "ABC"}}));

  ASSERT_TRUE(bound && half && bad_digest);
  ASSERT_EQ(bound->status, 200) << bound->body;
  EXPECT_EQ(half->status, 400);
  EXPECT_EQ(bad_digest->status, 400);
  EXPECT_EQ(body_of(bad_digest)["error"], "invalid_request");
  token::VerifierSettings settings{.issuer = kIssuer, .audience = "claimcheck"};
  settings.require_file_binding = true;
  token::TokenVerifier verifier(
      settings, token::http_jwks_fetcher(auth_.url("/oauth2/jwks"), std::chrono::seconds(5)));
  const std::string token = body_of(bound)["access_token"];
  EXPECT_TRUE(verifier.verify(token, "files.send", token::FileBinding{"file-7", sha256}).ok());
  EXPECT_EQ(verifier.verify(token, "files.send", token::FileBinding{"file-8", sha256}).status,
            token::TokenStatus::kWrongFile);
}

TEST_F(AuthServerTest, PerClientTokenLifetime) {
  TempDir keys;
  auto settings = test_settings(keys.path());
  settings.clients[0].token_lifetime = std::chrono::seconds(42);
  RunningAuthServer auth(std::move(settings));
  auto client = auth.client();
  client.set_basic_auth("sender", kSenderSecret);

  const auto result = client.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));

  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(body_of(result)["expires_in"], 42);
}

// The metadata names the configured issuer's endpoints; a forged Host header changes nothing.
TEST_F(AuthServerTest, MetadataComesFromTheConfiguredIssuerNotTheHostHeader) {
  for (const char* path :
       {"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}) {
    const auto result = auth_.client().Get(path, {{"Host", "evil.example:666"}});

    ASSERT_TRUE(result);
    ASSERT_EQ(result->status, 200) << path;
    const auto metadata = body_of(result);
    EXPECT_EQ(metadata["issuer"], kIssuer);
    EXPECT_EQ(metadata["token_endpoint"], std::string(kIssuer) + "/oauth2/token");
    EXPECT_EQ(metadata["jwks_uri"], std::string(kIssuer) + "/oauth2/jwks");
    EXPECT_EQ(metadata["introspection_endpoint"], std::string(kIssuer) + "/oauth2/introspect");
    EXPECT_EQ(metadata["revocation_endpoint"], std::string(kIssuer) + "/oauth2/revoke");
    EXPECT_EQ(result->body.find("evil"), std::string::npos);
  }
}

TEST(AuthServerSettings, IssuerThatIsNoUrlNeedsAPublicUrl) {
  const TempDir keys;
  auto settings = test_settings(keys.path());
  settings.issuer = "claimcheck-auth";
  MetricsRegistry metrics;
  ServiceHttp http(metrics);
  EXPECT_THROW(AuthServer(http, metrics, settings), ConfigError);

  settings.public_url = "http://127.0.0.1:9000/";
  const RunningAuthServer auth(settings);
  const auto metadata = body_of(auth.client().Get("/.well-known/oauth-authorization-server"));
  EXPECT_EQ(metadata["issuer"], "claimcheck-auth");
  EXPECT_EQ(metadata["jwks_uri"], "http://127.0.0.1:9000/oauth2/jwks");
}

std::string token_for(const RunningAuthServer& auth, const char* id, const char* secret) {
  auto client = auth.client();
  client.set_basic_auth(id, httplib::detail::encode_query_param(secret));
  const auto result = client.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));
  EXPECT_TRUE(result && result->status == 200);
  return result ? body_of(result).value("access_token", "") : "";
}

httplib::Result post_as(const RunningAuthServer& auth, const char* id, const char* secret,
                        const std::string& path, const httplib::Params& fields) {
  auto client = auth.client();
  client.set_basic_auth(id, httplib::detail::encode_query_param(secret));
  return client.Post(path, fields);
}

TEST_F(AuthServerTest, IntrospectionDescribesAnActiveToken) {
  const std::string token = token_for(auth_, "sender", kSenderSecret);

  const auto result = post_as(auth_, "worker", kWorkerSecret, "/oauth2/introspect",
                              form({{"token", token}, {"token_type_hint", "access_token"}}));

  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Cache-Control"), "no-store");
  const auto body = body_of(result);
  EXPECT_EQ(body["active"], true);
  EXPECT_EQ(body["client_id"], "sender");
  EXPECT_EQ(body["sub"], "sender");
  EXPECT_EQ(body["scope"], "files.send files.read");
  EXPECT_EQ(body["iss"], kIssuer);
  EXPECT_EQ(body["aud"], "claimcheck");
  EXPECT_EQ(body["token_type"], "Bearer");
  EXPECT_TRUE(body["exp"].is_number());
  EXPECT_EQ(body["jti"].get<std::string>().size(), 32u);
  EXPECT_EQ(auth_.counter("claimcheck_auth_introspections_active_total"), 1u);
}

TEST_F(AuthServerTest, IntrospectionOfAnythingElseIsInactive) {
  const std::string token = token_for(auth_, "sender", kSenderSecret);
  const std::string tampered = token.substr(0, token.size() - 4) + "AAAA";
  const auto stranger = token::SigningKey::generate_rs256();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string foreign = token::sign_jwt({{"iss", kIssuer},
                                               {"aud", "claimcheck"},
                                               {"exp", now + 300},
                                               {"jti", "x"},
                                               {"client_id", "sender"}},
                                              stranger);

  for (const std::string& candidate : {tampered, foreign, std::string("not-a-token")}) {
    const auto result =
        post_as(auth_, "worker", kWorkerSecret, "/oauth2/introspect", form({{"token", candidate}}));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->body, R"({"active":false})");
  }
  EXPECT_EQ(auth_.counter("claimcheck_auth_introspections_total"), 3u);
  EXPECT_EQ(auth_.counter("claimcheck_auth_introspections_active_total"), 0u);
}

TEST_F(AuthServerTest, IntrospectionAndRevocationNeedAnAuthenticatedClient) {
  const std::string token = token_for(auth_, "sender", kSenderSecret);
  for (const char* path : {"/oauth2/introspect", "/oauth2/revoke"}) {
    const auto anonymous = auth_.client().Post(path, form({{"token", token}}));
    const auto wrong = post_as(auth_, "sender", "wrong", path, form({{"token", token}}));
    const auto no_token = post_as(auth_, "sender", kSenderSecret, path, form({}));

    ASSERT_TRUE(anonymous && wrong && no_token);
    EXPECT_EQ(anonymous->status, 401) << path;
    EXPECT_EQ(body_of(anonymous)["error"], "invalid_client");
    EXPECT_EQ(wrong->status, 401) << path;
    EXPECT_EQ(no_token->status, 400) << path;
    EXPECT_EQ(body_of(no_token)["error"], "invalid_request");
  }
}

TEST_F(AuthServerTest, RevokedTokenIsInactiveAndRefusedByAVerifierThatAsks) {
  const std::string token = token_for(auth_, "sender", kSenderSecret);
  token::VerifierSettings settings{.issuer = kIssuer, .audience = "claimcheck"};
  settings.revocation_check = token::http_introspection_check(
      auth_.url("/oauth2/introspect"), "worker", kWorkerSecret, std::chrono::seconds(5));
  token::TokenVerifier verifier(
      settings, token::http_jwks_fetcher(auth_.url("/oauth2/jwks"), std::chrono::seconds(5)));
  ASSERT_TRUE(verifier.verify(token, "files.send").ok());

  const auto revoked = post_as(auth_, "sender", kSenderSecret, "/oauth2/revoke",
                               form({{"token", token}, {"token_type_hint", "access_token"}}));
  const auto again =
      post_as(auth_, "sender", kSenderSecret, "/oauth2/revoke", form({{"token", token}}));

  ASSERT_TRUE(revoked && again);
  EXPECT_EQ(revoked->status, 200) << revoked->body;
  EXPECT_EQ(again->status, 200) << "revoking twice is not an error";
  const auto introspected =
      post_as(auth_, "worker", kWorkerSecret, "/oauth2/introspect", form({{"token", token}}));
  EXPECT_EQ(body_of(introspected)["active"], false);
  const auto refused = verifier.verify(token, "files.send");
  EXPECT_EQ(refused.status, token::TokenStatus::kRevoked) << refused.reason;
  EXPECT_EQ(token::error_category(refused.status), "unauthorized");
  EXPECT_EQ(auth_.counter("claimcheck_auth_tokens_revoked_total"), 1u);
  EXPECT_NE(auth_.metrics_text().find("claimcheck_auth_tokens_revoked_total 1"), std::string::npos);
  EXPECT_TRUE(verifier.verify(token_for(auth_, "sender", kSenderSecret), "files.send").ok())
      << "only the revoked token is refused";
}

TEST_F(AuthServerTest, OnlyTheOwnerMayRevokeAndGarbageIsAccepted) {
  const std::string token = token_for(auth_, "sender", kSenderSecret);

  const auto foreign =
      post_as(auth_, "worker", kWorkerSecret, "/oauth2/revoke", form({{"token", token}}));
  const auto garbage =
      post_as(auth_, "worker", kWorkerSecret, "/oauth2/revoke", form({{"token", "garbage"}}));

  ASSERT_TRUE(foreign && garbage);
  EXPECT_EQ(foreign->status, 400);
  EXPECT_EQ(body_of(foreign)["error"], "unauthorized_client");
  EXPECT_EQ(garbage->status, 200) << "RFC 7009: an invalid token is not an error";
  const auto introspected =
      post_as(auth_, "worker", kWorkerSecret, "/oauth2/introspect", form({{"token", token}}));
  EXPECT_EQ(body_of(introspected)["active"], true);
}

// Captures what the process logs while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  [[nodiscard]] std::string text() const { return text_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream text_;
};

TEST_F(AuthServerTest, AuditLinesNameClientAndJtiButNeverTheTokenOrSecret) {
  const LogCapture capture;
  const std::string token = token_for(auth_, "sender", kSenderSecret);
  const std::string jti = body_of(post_as(auth_, "worker", kWorkerSecret, "/oauth2/introspect",
                                          form({{"token", token}})))["jti"];
  ASSERT_EQ(
      post_as(auth_, "sender", kSenderSecret, "/oauth2/revoke", form({{"token", token}}))->status,
      200);
  ASSERT_EQ(post_as(auth_, "sender", "guessed-secret", "/oauth2/revoke", form({{"token", token}}))
                ->status,
            401);

  const std::string log = capture.text();
  EXPECT_NE(log.find("audit: token issued client=sender jti=" + jti), std::string::npos) << log;
  EXPECT_NE(log.find("audit: token revoked client=sender jti=" + jti), std::string::npos) << log;
  EXPECT_NE(log.find("audit: client authentication failed client=sender"), std::string::npos);
  EXPECT_EQ(log.find(token.substr(token.rfind('.') + 1)), std::string::npos) << "no signature";
  EXPECT_EQ(log.find(token.substr(0, token.rfind('.'))), std::string::npos) << "no token";
  EXPECT_EQ(log.find(kSenderSecret), std::string::npos);
  EXPECT_EQ(log.find("guessed-secret"), std::string::npos);
}

// A service loads keys only from an auth server that claims the issuer it expects.
TEST_F(AuthServerTest, IssuerCheckedFetcherLoadsKeysOnlyFromTheExpectedIssuer) {
  const auto base = [this] { return std::optional(auth_.url("")); };
  const auto right = token::issuer_checked_jwks_fetcher(base, kIssuer, std::chrono::seconds(5))();
  const auto wrong =
      token::issuer_checked_jwks_fetcher(base, "http://other.test", std::chrono::seconds(5))();
  const auto nowhere = token::issuer_checked_jwks_fetcher(
      [] { return std::optional<std::string>(); }, kIssuer, std::chrono::seconds(5))();

  ASSERT_TRUE(right);
  EXPECT_EQ(nlohmann::json::parse(*right)["keys"][0]["kid"], auth_.server().signing_key().kid());
  EXPECT_FALSE(wrong);
  EXPECT_FALSE(nowhere);
}

TEST(AuthServerRestart, RevocationSurvivesARestart) {
  const TempDir keys;
  std::string token;
  {
    const RunningAuthServer first(test_settings(keys.path()));
    token = token_for(first, "sender", kSenderSecret);
    const auto revoked =
        post_as(first, "sender", kSenderSecret, "/oauth2/revoke", form({{"token", token}}));
    ASSERT_TRUE(revoked);
    ASSERT_EQ(revoked->status, 200);
  }
  const RunningAuthServer second(test_settings(keys.path()));

  const auto introspected =
      post_as(second, "worker", kWorkerSecret, "/oauth2/introspect", form({{"token", token}}));

  ASSERT_TRUE(introspected);
  EXPECT_EQ(body_of(introspected)["active"], false);
  EXPECT_EQ(fs::status(keys.path() / "revoked-tokens").permissions() & fs::perms::mask,
            fs::perms::owner_read | fs::perms::owner_write);
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

TEST(AuthServerClients, ClientAddedToTheFileGetsTokensWithoutARestart) {
  const TempDir keys;
  const auto settings = test_settings(keys.path());
  RunningAuthServer auth(settings);
  const RegisteredClient operator_client{.id = "ops",
                                         .secret_hash = worker_hash(),
                                         .scopes = {"files.operate"},
                                         .audience = "operations",
                                         .token_lifetime = std::chrono::seconds(60)};

  add_client_to_file(settings.clients_file, operator_client, settings.clients);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the server looks once a second
  auto client = auth.client();
  client.set_basic_auth("ops", httplib::detail::encode_query_param(kWorkerSecret));
  const auto result = client.Post("/oauth2/token", form({{"grant_type", "client_credentials"}}));

  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const auto body = body_of(result);
  EXPECT_EQ(body["scope"], "files.operate");
  EXPECT_EQ(body["expires_in"], 60);
  const auto introspected = post_as(auth, "sender", kSenderSecret, "/oauth2/introspect",
                                    form({{"token", body["access_token"].get<std::string>()}}));
  EXPECT_EQ(body_of(introspected)["active"], true);
  EXPECT_EQ(body_of(introspected)["aud"], "operations");
  EXPECT_EQ(fs::status(settings.clients_file).permissions() & fs::perms::mask,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(load_client_file(settings.clients_file).at(0).scopes,
            std::vector<std::string>{"files.operate"});
}

TEST(AuthServerClients, AddingAnExistingIdIsRefused) {
  const TempDir keys;
  const auto settings = test_settings(keys.path());
  const RegisteredClient again{.id = "sender", .secret_hash = worker_hash()};
  const RegisteredClient fresh{.id = "fresh", .secret_hash = worker_hash()};

  EXPECT_THROW(add_client_to_file(settings.clients_file, again, settings.clients), ConfigError);
  add_client_to_file(settings.clients_file, fresh, settings.clients);
  EXPECT_THROW(add_client_to_file(settings.clients_file, fresh, settings.clients), ConfigError);
  const RegisteredClient unhashed{.id = "plain", .secret_hash = "secret"};
  EXPECT_THROW(add_client_to_file(settings.clients_file, unhashed, settings.clients), ConfigError);
  EXPECT_EQ(load_client_file(settings.clients_file).size(), 1u);
}

}  // namespace
}  // namespace claimcheck::auth
