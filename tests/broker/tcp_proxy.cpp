#include "tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <stdexcept>

namespace claimcheck::broker::testing {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  return address;
}

bool write_all(int fd, const char* data, ssize_t size) {
  while (size > 0) {
    const ssize_t written = ::send(fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    if (written <= 0) {
      return false;
    }
    data += written;
    size -= written;
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) ||
      ::listen(listener_, 16) != 0) {
    throw std::runtime_error("cannot set up the test proxy's listening socket");
  }
  socklen_t length = sizeof address;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  thread_.join();
  close_all();
  ::close(listener_);
}

void TcpProxy::run() {
  std::array<char, 65536> buffer{};
  while (!stop_) {
    if (sever_requested_.exchange(false)) {
      close_all();
    }
    std::vector<pollfd> watched{{listener_, POLLIN, 0}};
    if (!frozen_) {
      for (const auto& [client, broker] : pairs_) {
        watched.push_back({client, POLLIN, 0});
        watched.push_back({broker, POLLIN, 0});
      }
    }
    if (::poll(watched.data(), watched.size(), 50) <= 0) {
      continue;
    }
    if ((watched[0].revents & POLLIN) != 0) {
      accept_one();
    }
    for (std::size_t i = 1; i < watched.size(); ++i) {
      if (watched[i].revents == 0) {
        continue;
      }
      const auto& [client, broker] = pairs_[(i - 1) / 2];
      const int from = watched[i].fd;
      const int to = from == client ? broker : client;
      const ssize_t received = ::recv(from, buffer.data(), buffer.size(), 0);
      if (received <= 0 || !write_all(to, buffer.data(), received)) {
        ::shutdown(client, SHUT_RDWR);
        ::shutdown(broker, SHUT_RDWR);
      }
    }
  }
}

void TcpProxy::accept_one() {
  const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) {
    return;
  }
  const int broker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in target = loopback(target_port_);
  if (broker < 0 ||
      ::connect(broker, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
    ::close(client);
    if (broker >= 0) {
      ::close(broker);
    }
    return;
  }
  pairs_.emplace_back(client, broker);
}

void TcpProxy::close_all() {
  for (const auto& [client, broker] : pairs_) {
    ::shutdown(client, SHUT_RDWR);
    ::shutdown(broker, SHUT_RDWR);
    ::close(client);
    ::close(broker);
  }
  pairs_.clear();
}

}  // namespace claimcheck::broker::testing
