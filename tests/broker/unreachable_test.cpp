// Connecting to a broker that is not there must fail fast and name host:port; no RabbitMQ is
// needed for these tests.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "claimcheck/broker/connection.hpp"

namespace claimcheck::broker {
namespace {

using std::chrono::milliseconds;

// A TCP socket on 127.0.0.1 with a kernel-chosen port; listening or merely bound.
class LocalSocket {
 public:
  explicit LocalSocket(bool listen) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        (listen && ::listen(fd_, 8) != 0)) {
      throw std::runtime_error("cannot set up a local test socket");
    }
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~LocalSocket() { ::close(fd_); }
  LocalSocket(const LocalSocket&) = delete;
  LocalSocket& operator=(const LocalSocket&) = delete;

  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// The message of the BrokerError that open() raised, or an empty string if it connected.
std::string open_failure(const BrokerSettings& settings) {
  try {
    Connection::open(settings);
  } catch (const BrokerError& error) {
    return error.what();
  }
  return {};
}

BrokerSettings settings_for(int port, milliseconds connect_timeout) {
  BrokerSettings settings;
  settings.port = port;
  settings.connect_timeout = connect_timeout;
  return settings;
}

TEST(UnreachableBrokerTest, ClosedPortFailsNamingHostAndPort) {
  // Bound but not listening: connecting is refused.
  const LocalSocket closed(/*listen=*/false);
  const auto settings = settings_for(closed.port(), milliseconds(2000));

  const auto started = std::chrono::steady_clock::now();
  const std::string message = open_failure(settings);
  const auto elapsed = std::chrono::steady_clock::now() - started;

  EXPECT_NE(
      message.find("cannot connect to RabbitMQ at " + settings.address() + ": connection refused"),
      std::string::npos)
      << message;
  EXPECT_LT(elapsed, milliseconds(2000));
}

TEST(UnreachableBrokerTest, SilentPeerTimesOutWithinConnectTimeout) {
  // Listening but never speaking AMQP: TCP connects, the handshake must time out.
  const LocalSocket silent(/*listen=*/true);
  const auto settings = settings_for(silent.port(), milliseconds(800));

  const auto started = std::chrono::steady_clock::now();
  const std::string message = open_failure(settings);
  const auto elapsed = std::chrono::steady_clock::now() - started;

  EXPECT_NE(message.find(settings.address()), std::string::npos) << message;
  EXPECT_GE(elapsed, milliseconds(700));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(UnreachableBrokerTest, UnresolvableHostFailsNamingIt) {
  BrokerSettings settings = settings_for(5672, milliseconds(2000));
  settings.host = "no-such-host.invalid";
  const std::string message = open_failure(settings);
  EXPECT_NE(message.find("no-such-host.invalid:5672"), std::string::npos) << message;
}

}  // namespace
}  // namespace claimcheck::broker
