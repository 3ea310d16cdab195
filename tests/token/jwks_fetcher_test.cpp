#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "claimcheck/token/signing_key.hpp"
#include "claimcheck/token/verifier.hpp"

namespace claimcheck::token {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A real HTTP server standing in for the auth server's key endpoint.
class JwksServer {
 public:
  JwksServer() {
    server_.Get("/oauth2/jwks", [this](const httplib::Request&, httplib::Response& response) {
      ++requests_;
      if (failing_) {
        response.status = 500;
        response.set_content("internal error", "text/plain");
        return;
      }
      response.set_content(document_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the server runs, so wait for that before a test may end.
    while (!server_.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~JwksServer() {
    server_.stop();
    thread_.join();
  }
  JwksServer(const JwksServer&) = delete;
  JwksServer& operator=(const JwksServer&) = delete;

  void serve(std::string document) { document_ = std::move(document); }
  void fail() { failing_ = true; }
  [[nodiscard]] int requests() const { return requests_; }
  [[nodiscard]] std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/oauth2/jwks";
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::string document_;
  std::atomic<bool> failing_{false};
  std::atomic<int> requests_{0};
};

nlohmann::json claims_for(const std::string& subject) {
  const auto now =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return {{"iss", "http://auth.test"},
          {"aud", "claimcheck"},
          {"sub", subject},
          {"iat", now},
          {"exp", now + 300}};
}

TEST(HttpJwksFetcher, FetchesTheDocument) {
  JwksServer server;
  server.serve(R"({"keys":[]})");
  EXPECT_EQ(http_jwks_fetcher(server.url(), milliseconds(2000))(), R"({"keys":[]})");
}

// T2: the key endpoint answering 500 never empties the verifier's cache.
TEST(HttpJwksFetcher, ServerErrorKeepsTheVerifierCache) {
  const SigningKey key = SigningKey::generate_rs256();
  const SigningKey unknown = SigningKey::generate_rs256();
  JwksServer server;
  server.serve(nlohmann::json{{"keys", {key.public_jwk()}}}.dump());
  TokenVerifier verifier(VerifierSettings{.issuer = "http://auth.test",
                                          .audience = "claimcheck",
                                          .jwks_min_refresh_interval = seconds(1)},
                         http_jwks_fetcher(server.url(), milliseconds(2000)));
  const std::string token = sign_jwt(claims_for("demo-client"), key);
  ASSERT_TRUE(verifier.verify(token, "").ok());

  server.fail();
  EXPECT_EQ(http_jwks_fetcher(server.url(), milliseconds(2000))(), std::nullopt);
  std::this_thread::sleep_for(milliseconds(1100));
  const int requests_before = server.requests();
  EXPECT_EQ(verifier.verify(sign_jwt(claims_for("x"), unknown), "").status,
            TokenStatus::kUnknownKey);
  EXPECT_EQ(server.requests(), requests_before + 1);

  const VerifyResult cached = verifier.verify(token, "");
  EXPECT_TRUE(cached.ok()) << cached.reason;
}

TEST(HttpJwksFetcher, UnreachableEndpointGivesNulloptWithinTheTimeout) {
  int port = 0;
  {
    httplib::Server probe;
    port = probe.bind_to_any_port("127.0.0.1");
  }
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(
      http_jwks_fetcher("http://127.0.0.1:" + std::to_string(port) + "/jwks", milliseconds(500))(),
      std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(3));
}

TEST(HttpJwksFetcher, RefusesANonHttpUrl) {
  EXPECT_THROW(http_jwks_fetcher("ftp://auth/jwks", milliseconds(100)), std::invalid_argument);
  EXPECT_THROW(http_jwks_fetcher("auth:9000/jwks", milliseconds(100)), std::invalid_argument);
}

}  // namespace
}  // namespace claimcheck::token
