#pragma once

// A TCP proxy on 127.0.0.1 between a client and the test broker, to cut or silence the
// connection the way a network failure would.

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

namespace claimcheck::broker::testing {

class TcpProxy {
 public:
  /// Listens on a free port and forwards every connection to 127.0.0.1:`target_port`.
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  [[nodiscard]] int port() const noexcept { return port_; }

  /// Closes every forwarded connection, as a broker crash or a reset would.
  void sever() noexcept { sever_requested_ = true; }

  /// Stops forwarding in both directions while keeping the sockets open: a silent peer.
  void freeze() noexcept { frozen_ = true; }

 private:
  void run();
  void accept_one();
  void close_all();

  int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::vector<std::pair<int, int>> pairs_;  // client side, broker side
  std::atomic<bool> stop_{false};
  std::atomic<bool> sever_requested_{false};
  std::atomic<bool> frozen_{false};
  std::thread thread_;
};

}  // namespace claimcheck::broker::testing
