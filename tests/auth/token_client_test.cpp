#include "claimcheck/token/token_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "auth_fixture.hpp"

namespace claimcheck::token {
namespace {

using namespace auth::testing;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A TCP port that accepts connections (the kernel completes them from the backlog) but never
// answers: what a hung server looks like to a client.
class SilentServer {
 public:
  SilentServer() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot open a silent test socket");
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

class TokenClientTest : public ::testing::Test {
 protected:
  TempDir keys_;
  RunningAuthServer auth_{test_settings(keys_.path())};
};

TEST_F(TokenClientTest, CachesTheTokenAcrossCalls) {
  std::atomic<int> resolutions{0};
  TokenClient client(
      [&] {
        ++resolutions;
        return auth_.url("/oauth2/token");
      },
      "sender", kSenderSecret, "files.send", milliseconds(5000));

  const std::string first = client.access_token();
  const std::string second = client.access_token();

  EXPECT_EQ(first, second);
  EXPECT_EQ(auth_.tokens_issued(), 1u);
  EXPECT_EQ(resolutions, 1);

  client.invalidate();
  EXPECT_NE(client.access_token(), first);
  EXPECT_EQ(auth_.tokens_issued(), 2u);
}

TEST_F(TokenClientTest, BoundTokensAreFreshAndCarryTheFile) {
  TokenClient client([&] { return auth_.url("/oauth2/token"); }, "sender", kSenderSecret,
                     "files.send", milliseconds(5000));
  const FileBinding file{.file_id = "file-1", .sha256 = std::string(64, 'e')};

  const auto claims_of = [](const std::string& token) {
    const auto first_dot = token.find('.');
    const auto payload =
        base64url_decode(token.substr(first_dot + 1, token.rfind('.') - first_dot - 1));
    return payload ? nlohmann::json::parse(*payload) : nlohmann::json();
  };

  const std::string first = client.access_token_for(file);
  const std::string second = client.access_token_for(file);

  EXPECT_NE(first, second) << "a bound token is minted per message, never cached";
  EXPECT_EQ(claims_of(first)[kFileIdClaim], "file-1");
  EXPECT_EQ(claims_of(first)[kFileSha256Claim], file.sha256);
  EXPECT_FALSE(claims_of(client.access_token()).contains(kFileIdClaim))
      << "the cached token stays unbound";
  EXPECT_EQ(claims_of(client.access_token())["sub"], "sender");
}

TEST_F(TokenClientTest, SecretsWithReservedCharactersWork) {
  TokenClient client([&] { return auth_.url("/oauth2/token"); }, "worker", kWorkerSecret, "",
                     milliseconds(5000));
  EXPECT_FALSE(client.access_token().empty());
}

TEST_F(TokenClientTest, WrongSecretThrowsInvalidClientNamingTheEndpoint) {
  const std::string endpoint = auth_.url("/oauth2/token");
  TokenClient client([&] { return endpoint; }, "sender", "wrong-secret", "", milliseconds(5000));
  try {
    (void)client.access_token();
    FAIL() << "expected TokenClientError";
  } catch (const TokenClientError& error) {
    const std::string message = error.what();
    EXPECT_EQ(error.error_code(), "invalid_client");
    EXPECT_NE(message.find(endpoint), std::string::npos) << message;
    EXPECT_NE(message.find("invalid_client"), std::string::npos) << message;
    EXPECT_EQ(message.find("wrong-secret"), std::string::npos) << message;
  }
}

TEST_F(TokenClientTest, ForbiddenScopeThrowsInvalidScope) {
  TokenClient client([&] { return auth_.url("/oauth2/token"); }, "sender", kSenderSecret,
                     "files.reply", milliseconds(5000));
  try {
    (void)client.access_token();
    FAIL() << "expected TokenClientError";
  } catch (const TokenClientError& error) {
    EXPECT_EQ(error.error_code(), "invalid_scope");
  }
}

TEST(TokenClientUnreachable, HungEndpointFailsWithinTheTimeout) {
  const SilentServer silent;
  const std::string endpoint =
      "http://127.0.0.1:" + std::to_string(silent.port()) + "/oauth2/token";
  TokenClient client([&] { return endpoint; }, "sender", "secret", "", milliseconds(300));

  const auto started = steady_clock::now();
  try {
    (void)client.access_token();
    FAIL() << "expected TokenClientError";
  } catch (const TokenClientError& error) {
    EXPECT_EQ(error.error_code(), "unreachable");
    EXPECT_NE(std::string(error.what()).find(endpoint), std::string::npos) << error.what();
  }
  EXPECT_LT(steady_clock::now() - started, std::chrono::seconds(3));
}

TEST(TokenClientUnreachable, ClosedPortFailsAtOnce) {
  int port = 0;
  {
    httplib::Server probe;
    port = probe.bind_to_any_port("127.0.0.1");
  }
  TokenClient client([&] { return "http://127.0.0.1:" + std::to_string(port) + "/oauth2/token"; },
                     "sender", "secret", "", milliseconds(300));

  const auto started = steady_clock::now();
  EXPECT_THROW((void)client.access_token(), TokenClientError);
  EXPECT_LT(steady_clock::now() - started, std::chrono::seconds(3));
}

TEST(TokenClientUnreachable, BadUrlIsNoEndpoint) {
  TokenClient client([] { return std::string("auth-without-scheme:9000"); }, "sender", "secret", "",
                     milliseconds(300));
  try {
    (void)client.access_token();
    FAIL() << "expected TokenClientError";
  } catch (const TokenClientError& error) {
    EXPECT_EQ(error.error_code(), "no_endpoint");
  }
}

}  // namespace
}  // namespace claimcheck::token
