// What every service does with the auth server (runtime module), against a real AuthServer.

#include <gtest/gtest.h>

#include "auth_fixture.hpp"
#include "claimcheck/runtime/service.hpp"

namespace claimcheck::auth {
namespace {

using namespace testing;

Config service_config(const RunningAuthServer& auth, const std::string& issuer) {
  return Config::load(std::nullopt, "CCRUNTIMETEST_",
                      {"auth.url=" + auth.url(""), "auth.issuer=" + issuer, "auth.client-id=sender",
                       std::string("auth.client-secret=") + kSenderSecret,
                       "registry.urls=http://127.0.0.1:1/eureka", "registry.timeout=5s"});
}

class RuntimeAuthTest : public ::testing::Test {
 protected:
  TempDir keys_;
  RunningAuthServer auth_{test_settings(keys_.path())};
};

TEST_F(RuntimeAuthTest, TokensAndKeysComeFromTheExpectedIssuer) {
  const Config config = service_config(auth_, kIssuer);
  const auto registry = runtime::make_registry_client(config);
  const auto tokens = runtime::make_token_client(config, *registry);
  const auto verifier = runtime::make_token_verifier(config, *registry);

  const auto verified = verifier->verify(tokens->access_token(), "files.send");

  EXPECT_TRUE(verified.ok()) << verified.reason;
}

// A server that claims another issuer (a stale or mistaken registration) gets neither the
// client's secret nor the chance to hand out keys.
TEST_F(RuntimeAuthTest, AServerClaimingAnotherIssuerGetsNoSecretAndServesNoKeys) {
  const Config config = service_config(auth_, "http://the-real-issuer.test");
  const auto registry = runtime::make_registry_client(config);
  const auto tokens = runtime::make_token_client(config, *registry);
  const auto verifier = runtime::make_token_verifier(config, *registry);

  try {
    (void)tokens->access_token();
    FAIL() << "expected TokenClientError";
  } catch (const token::TokenClientError& error) {
    EXPECT_EQ(error.error_code(), "no_endpoint");
    EXPECT_NE(std::string(error.what()).find("not sending credentials"), std::string::npos)
        << error.what();
  }
  EXPECT_EQ(auth_.authentication_failures(), 0u);
  EXPECT_EQ(auth_.tokens_issued(), 0u);

  const Config right = service_config(auth_, kIssuer);
  const auto right_registry = runtime::make_registry_client(right);
  const std::string token = runtime::make_token_client(right, *right_registry)->access_token();
  EXPECT_EQ(verifier->verify(token, "").status, token::TokenStatus::kUnknownKey);
}

}  // namespace
}  // namespace claimcheck::auth
