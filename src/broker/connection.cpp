#include "claimcheck/broker/connection.hpp"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "amqp_properties.hpp"

namespace claimcheck::broker {
namespace {

using Clock = std::chrono::steady_clock;

// Each kind of traffic has its own channel, so that a broker refusal closing one of them (a
// failed declaration, a publish to a missing exchange) leaves the others running.
constexpr amqp_channel_t kDeclareChannel = 1;
constexpr amqp_channel_t kPublishChannel = 2;
constexpr amqp_channel_t kConsumeChannel = 3;
constexpr std::size_t kChannelCount = 4;

constexpr int kFrameMax = 131072;
constexpr int kReplyPreconditionFailed = AMQP_PRECONDITION_FAILED;
// Bounds the frames keep_alive() handles in one call, so a flood of deliveries cannot keep it
// from returning.
constexpr int kKeepAliveMaxFrames = 1000;

struct ConnectionStateDeleter {
  void operator()(amqp_connection_state_t state) const noexcept { amqp_destroy_connection(state); }
};
using ConnectionStatePtr =
    std::unique_ptr<std::remove_pointer_t<amqp_connection_state_t>, ConnectionStateDeleter>;

timeval to_timeval(std::chrono::milliseconds duration) {
  if (duration < std::chrono::milliseconds::zero()) {
    duration = std::chrono::milliseconds::zero();
  }
  timeval value{};
  value.tv_sec = static_cast<time_t>(duration.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return value;
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

std::string quoted(const std::string& name) { return "'" + name + "'"; }

// An owned socket descriptor until it is handed to rabbitmq-c.
class SocketFd {
 public:
  explicit SocketFd(int fd = -1) noexcept : fd_(fd) {}
  ~SocketFd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  SocketFd(SocketFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  SocketFd& operator=(SocketFd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  SocketFd(const SocketFd&) = delete;
  SocketFd& operator=(const SocketFd&) = delete;

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

struct AddressInfoDeleter {
  void operator()(addrinfo* info) const noexcept { freeaddrinfo(info); }
};

// "connection refused" for ECONNREFUSED, to read well after a colon.
std::string system_reason(int error_number) {
  std::string text = std::system_category().message(error_number);
  if (!text.empty()) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

// One non-blocking connect attempt; the system's reason on failure.
SocketFd connect_address(const addrinfo& address, Clock::time_point deadline,
                         std::string& failure) {
  SocketFd fd(::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       address.ai_protocol));
  if (!fd.valid()) {
    failure = system_reason(errno);
    return SocketFd();
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);

  if (::connect(fd.get(), address.ai_addr, address.ai_addrlen) == 0) {
    return fd;
  }
  if (errno != EINPROGRESS) {
    failure = system_reason(errno);
    return SocketFd();
  }

  pollfd wait{fd.get(), POLLOUT, 0};
  int ready = 0;
  do {
    ready =
        ::poll(&wait, 1, static_cast<int>(std::max<std::int64_t>(0, remaining(deadline).count())));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) {
    failure = "connection timed out";
    return SocketFd();
  }
  int error = 0;
  socklen_t length = sizeof error;
  if (ready < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    failure = system_reason(errno);
    return SocketFd();
  }
  if (error != 0) {
    failure = system_reason(error);
    return SocketFd();
  }
  return fd;
}

// rabbitmq-c reports every connect failure as "a socket error occurred"; connecting here keeps
// the system's reason (connection refused, no route to host) for the error message. The
// socket is left non-blocking, as rabbitmq-c's own connect leaves it.
// Name resolution is bounded by the resolver's own timeouts (resolv.conf), not by `deadline`.
SocketFd connect_tcp(const std::string& host, int port, Clock::time_point deadline,
                     std::string& failure) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int status = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (status != 0) {
    failure = std::string("cannot resolve host name: ") + ::gai_strerror(status);
    return SocketFd();
  }
  const std::unique_ptr<addrinfo, AddressInfoDeleter> addresses(found);

  for (const addrinfo* address = addresses.get(); address != nullptr; address = address->ai_next) {
    SocketFd fd = connect_address(*address, deadline, failure);
    if (fd.valid()) {
      return fd;
    }
  }
  return SocketFd();
}

// What the broker said when it closed a channel or the connection.
struct Refusal {
  int reply_code = 0;
  std::string reply_text;
};

struct ChannelState {
  bool open = false;
  std::optional<Refusal> refusal;
};

// The publish awaiting its confirm. Confirms are numbered per channel from 1 in publish order.
struct PendingPublish {
  std::uint64_t last_tag = 0;
  std::uint64_t awaited_tag = 0;
  bool returned = false;
  std::optional<PublishOutcome> outcome;
};

// A message whose method frame arrived and whose header and body frames are still coming.
struct IncomingContent {
  bool is_return = false;
  Delivery delivery;
  std::uint64_t body_size = 0;
  bool header_seen = false;
};

// Releases rabbitmq-c's buffers for a channel once a frame from it has been copied out,
// whether handling the frame succeeded or threw.
class ReleaseBuffersOnExit {
 public:
  ReleaseBuffersOnExit(amqp_connection_state_t state, amqp_channel_t channel) noexcept
      : state_(state), channel_(channel) {}
  ~ReleaseBuffersOnExit() { amqp_maybe_release_buffers_on_channel(state_, channel_); }
  ReleaseBuffersOnExit(const ReleaseBuffersOnExit&) = delete;
  ReleaseBuffersOnExit& operator=(const ReleaseBuffersOnExit&) = delete;

 private:
  amqp_connection_state_t state_;
  amqp_channel_t channel_;
};

}  // namespace

// rabbitmq-c 0.11 writes a publish without a deadline: a broker that stops reading (frozen, or
// blocking publishers during a resource alarm) would block it forever once the socket's send
// buffer is full. The watchdog bounds such a write from a thread of its own, shutting the
// socket down when the write outlives its deadline, so that the write fails and the connection
// counts as lost.
class WriteWatchdog {
 public:
  explicit WriteWatchdog(int socket_fd)
      : socket_fd_(socket_fd), thread_([this](const std::stop_token& stop) { run(stop); }) {}
  WriteWatchdog(const WriteWatchdog&) = delete;
  WriteWatchdog& operator=(const WriteWatchdog&) = delete;

  void arm(Clock::time_point deadline) {
    {
      const std::lock_guard lock(mutex_);
      deadline_ = deadline;
    }
    wake_.notify_all();
  }

  void disarm() {
    const std::lock_guard lock(mutex_);
    deadline_.reset();
  }

  /// True once it had to shut the socket down.
  [[nodiscard]] bool fired() const { return fired_.load(); }

 private:
  void run(const std::stop_token& stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      if (!deadline_) {
        wake_.wait(lock, stop, [this] { return deadline_.has_value(); });
        continue;
      }
      const Clock::time_point deadline = *deadline_;
      if (wake_.wait_until(lock, stop, deadline, [&] { return deadline_ != deadline; })) {
        continue;  // disarmed or re-armed in time
      }
      if (deadline_ == deadline) {
        fired_ = true;
        ::shutdown(socket_fd_, SHUT_RDWR);
        deadline_.reset();
      }
    }
  }

  int socket_fd_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::optional<Clock::time_point> deadline_;
  std::atomic<bool> fired_{false};
  // Last: starts once the members it uses exist, and is stopped (which ends its waits) and
  // joined first.
  std::jthread thread_;
};

class Connection::Impl {
 public:
  Impl(std::string address, ConnectionStatePtr state)
      : address_(std::move(address)), state_(std::move(state)) {}

  static std::unique_ptr<Impl> open(const BrokerSettings& settings);

  const std::string& address() const noexcept { return address_; }

  void declare_exchange(const std::string& name, const std::string& type);
  void declare_queue(const QueueSpec& spec);
  void bind_queue(const std::string& queue, const std::string& exchange,
                  const std::string& routing_key);
  PublishOutcome publish(const std::string& exchange, const std::string& routing_key,
                         const OutgoingMessage& message, std::chrono::milliseconds confirm_timeout,
                         bool mandatory);
  void start_consuming(const std::string& queue, std::uint16_t prefetch);
  std::optional<Delivery> next_delivery(std::chrono::milliseconds timeout);
  void ack(std::uint64_t delivery_tag);
  void reject(std::uint64_t delivery_tag, bool requeue);
  void keep_alive();
  void close();

 private:
  // Translation of rabbitmq-c results into BrokerError: every failure goes through here.
  BrokerError error(std::string_view action, std::string_view detail, int reply_code = 0) const;
  BrokerError library_error(std::string_view action, int status) const;
  BrokerError refusal_error(std::string_view action, const Refusal& refusal,
                            std::string_view precondition_hint = {}) const;
  void check_status(std::string_view action, int status);
  void check_reply(std::string_view action, amqp_channel_t channel, const amqp_rpc_reply_t& reply,
                   std::string_view precondition_hint = {});
  [[noreturn]] void fail_connection(BrokerError error);
  void on_channel_close(amqp_channel_t channel, const amqp_channel_close_t& close);
  void on_connection_close(const amqp_connection_close_t& close);

  void throw_if_broken() const;
  void throw_if_consumer_channel_closed(std::string_view action) const;
  void ensure_channel(amqp_channel_t channel);

  bool pump_one(Clock::time_point deadline);
  void handle_frame(const amqp_frame_t& frame);
  void handle_method(amqp_channel_t channel, const amqp_method_t& method);
  void handle_header(amqp_channel_t channel, const amqp_frame_t& frame);
  void handle_body(amqp_channel_t channel, amqp_bytes_t fragment);
  void complete_content(amqp_channel_t channel);
  void on_confirm(std::uint64_t tag, bool multiple, bool acked);

  std::string address_;
  ConnectionStatePtr state_;
  std::optional<BrokerError> broken_;
  bool closed_ = false;
  std::array<ChannelState, kChannelCount> channels_{};
  PendingPublish publish_;
  std::map<amqp_channel_t, IncomingContent> incoming_;
  std::deque<Delivery> deliveries_;
  bool consuming_ = false;
  std::unique_ptr<WriteWatchdog> write_watchdog_;  // created by the first publish
};

BrokerError Connection::Impl::error(std::string_view action, std::string_view detail,
                                    int reply_code) const {
  return BrokerError(fmt::format("cannot {} RabbitMQ at {}: {}", action, address_, detail),
                     reply_code);
}

BrokerError Connection::Impl::library_error(std::string_view action, int status) const {
  return error(action, amqp_error_string2(status));
}

BrokerError Connection::Impl::refusal_error(std::string_view action, const Refusal& refusal,
                                            std::string_view precondition_hint) const {
  std::string detail = refusal.reply_text;
  if (refusal.reply_code == kReplyPreconditionFailed && !precondition_hint.empty()) {
    detail = fmt::format("{} ({})", precondition_hint, refusal.reply_text);
  }
  return error(action, fmt::format("{} [reply code {}]", detail, refusal.reply_code),
               refusal.reply_code);
}

void Connection::Impl::fail_connection(BrokerError error) {
  broken_ = error;
  throw error;
}

void Connection::Impl::check_status(std::string_view action, int status) {
  if (status != AMQP_STATUS_OK) {
    fail_connection(library_error(action, status));
  }
}

void Connection::Impl::check_reply(std::string_view action, amqp_channel_t channel,
                                   const amqp_rpc_reply_t& reply,
                                   std::string_view precondition_hint) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return;
    case AMQP_RESPONSE_NONE:
      fail_connection(error(action, "the broker sent no reply"));
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      // A timed-out or failed round-trip leaves the protocol state unknown: the connection is
      // not used again.
      fail_connection(library_error(action, reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      break;
  }

  if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    on_channel_close(channel, *static_cast<const amqp_channel_close_t*>(reply.reply.decoded));
    const Refusal refusal = *channels_.at(channel).refusal;
    amqp_maybe_release_buffers_on_channel(state_.get(), channel);
    throw refusal_error(action, refusal, precondition_hint);
  }
  if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto& close = *static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
    const Refusal refusal{close.reply_code, to_string(close.reply_text)};
    on_connection_close(close);
    fail_connection(refusal_error(action, refusal, precondition_hint));
  }
  fail_connection(error(
      action, fmt::format("unexpected method 0x{:08x} in the broker's reply", reply.reply.id)));
}

void Connection::Impl::on_channel_close(amqp_channel_t channel, const amqp_channel_close_t& close) {
  ChannelState& state = channels_.at(channel);
  if (!state.open) {
    // RabbitMQ may close a channel twice before it reads our close-ok (a consumer timeout is
    // checked on every channel tick); a second close-ok for a closed channel is a connection
    // error, so the repeat is ignored.
    return;
  }
  state.open = false;
  state.refusal = Refusal{close.reply_code, to_string(close.reply_text)};
  incoming_.erase(channel);
  if (channel == kConsumeChannel) {
    // The broker requeues whatever this channel had not acknowledged; the buffered deliveries'
    // tags are void now.
    deliveries_.clear();
    consuming_ = false;
  }

  amqp_channel_close_ok_t close_ok{};
  const int status =
      amqp_send_method(state_.get(), channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
  if (status != AMQP_STATUS_OK) {
    fail_connection(library_error("acknowledge a channel close from", status));
  }
}

void Connection::Impl::on_connection_close(const amqp_connection_close_t& close) {
  broken_ = error("keep the connection to",
                  fmt::format("the broker closed it: {} [reply code {}]",
                              to_string(close.reply_text), close.reply_code),
                  close.reply_code);
  amqp_connection_close_ok_t close_ok{};
  // Best effort: the broker closes the socket next anyway.
  amqp_send_method(state_.get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
}

void Connection::Impl::throw_if_broken() const {
  if (broken_) {
    throw *broken_;
  }
  if (closed_) {
    throw error("use", "the connection was closed");
  }
}

std::unique_ptr<Connection::Impl> Connection::Impl::open(const BrokerSettings& settings) {
  const std::string address = settings.address();
  const auto deadline = Clock::now() + settings.connect_timeout;

  ConnectionStatePtr state(amqp_new_connection());
  if (!state) {
    throw BrokerError("cannot connect to RabbitMQ at " + address + ": out of memory");
  }
  auto impl = std::make_unique<Impl>(address, std::move(state));
  amqp_connection_state_t raw = impl->state_.get();

  amqp_socket_t* socket = amqp_tcp_socket_new(raw);
  if (socket == nullptr) {
    throw impl->error("connect to", "cannot create a socket");
  }
  std::string failure;
  SocketFd fd = connect_tcp(settings.host, settings.port, deadline, failure);
  if (!fd.valid()) {
    throw impl->error("connect to", failure);
  }
  // From here on rabbitmq-c owns the descriptor and closes it with the connection state.
  amqp_tcp_socket_set_sockfd(socket, fd.release());

  timeval handshake_timeout = to_timeval(remaining(deadline));
  timeval rpc_timeout = to_timeval(settings.rpc_timeout);
  if (amqp_set_handshake_timeout(raw, &handshake_timeout) != AMQP_STATUS_OK ||
      amqp_set_rpc_timeout(raw, &rpc_timeout) != AMQP_STATUS_OK) {
    throw impl->error("connect to", "cannot set the network timeouts");
  }

  const auto heartbeat_seconds = static_cast<int>(settings.heartbeat.count());
  const amqp_rpc_reply_t reply =
      amqp_login(raw, settings.vhost.c_str(), /*channel_max=*/0, kFrameMax, heartbeat_seconds,
                 AMQP_SASL_METHOD_PLAIN, settings.user.c_str(), settings.password.c_str());
  impl->check_reply(fmt::format("log in as user {} to vhost {} on", quoted(settings.user),
                                quoted(settings.vhost)),
                    0, reply);
  return impl;
}

void Connection::Impl::ensure_channel(amqp_channel_t channel) {
  throw_if_broken();
  ChannelState& state = channels_.at(channel);
  if (state.open) {
    return;
  }

  amqp_channel_open(state_.get(), channel);
  check_reply("open a channel on", channel, amqp_get_rpc_reply(state_.get()));
  state.open = true;
  state.refusal.reset();

  if (channel == kPublishChannel) {
    amqp_confirm_select(state_.get(), channel);
    check_reply("enable publisher confirms on", channel, amqp_get_rpc_reply(state_.get()));
    publish_ = PendingPublish{};
  }
  amqp_maybe_release_buffers_on_channel(state_.get(), channel);
}

void Connection::Impl::declare_exchange(const std::string& name, const std::string& type) {
  ensure_channel(kDeclareChannel);
  amqp_exchange_declare(state_.get(), kDeclareChannel, as_bytes(name), as_bytes(type),
                        /*passive=*/0, /*durable=*/1,
                        /*auto_delete=*/0, /*internal=*/0, amqp_empty_table);
  check_reply("declare exchange " + quoted(name) + " on", kDeclareChannel,
              amqp_get_rpc_reply(state_.get()),
              "an exchange with this name already exists with another type or durability");
  amqp_maybe_release_buffers_on_channel(state_.get(), kDeclareChannel);
}

void Connection::Impl::declare_queue(const QueueSpec& spec) {
  ensure_channel(kDeclareChannel);

  // Spring Cloud Stream sends no x-queue-type for classic queues; sending "classic" would make
  // the declaration differ from a queue a Spring service declared first.
  std::vector<amqp_table_entry_t> arguments;
  if (!spec.queue_type.empty() && spec.queue_type != "classic") {
    arguments.push_back(string_entry("x-queue-type", spec.queue_type));
  }
  if (spec.expires) {
    arguments.push_back(integer_entry("x-expires", spec.expires->count()));
  }
  if (spec.dead_letter_exchange) {
    arguments.push_back(string_entry("x-dead-letter-exchange", *spec.dead_letter_exchange));
    if (!spec.dead_letter_routing_key.empty()) {
      arguments.push_back(string_entry("x-dead-letter-routing-key", spec.dead_letter_routing_key));
    }
  }
  if (spec.delivery_limit) {
    arguments.push_back(integer_entry("x-delivery-limit", *spec.delivery_limit));
  }
  amqp_table_t table{};
  table.num_entries = static_cast<int>(arguments.size());
  table.entries = arguments.data();

  amqp_queue_declare(state_.get(), kDeclareChannel, as_bytes(spec.name), /*passive=*/0,
                     spec.durable ? 1 : 0, /*exclusive=*/0, /*auto_delete=*/0, table);
  check_reply("declare queue " + quoted(spec.name) + " on", kDeclareChannel,
              amqp_get_rpc_reply(state_.get()),
              "the queue already exists with different arguments than configured");
  amqp_maybe_release_buffers_on_channel(state_.get(), kDeclareChannel);
}

void Connection::Impl::bind_queue(const std::string& queue, const std::string& exchange,
                                  const std::string& routing_key) {
  ensure_channel(kDeclareChannel);
  amqp_queue_bind(state_.get(), kDeclareChannel, as_bytes(queue), as_bytes(exchange),
                  as_bytes(routing_key), amqp_empty_table);
  check_reply(fmt::format("bind queue {} to exchange {} with routing key {} on", quoted(queue),
                          quoted(exchange), quoted(routing_key)),
              kDeclareChannel, amqp_get_rpc_reply(state_.get()));
  amqp_maybe_release_buffers_on_channel(state_.get(), kDeclareChannel);
}

PublishOutcome Connection::Impl::publish(const std::string& exchange,
                                         const std::string& routing_key,
                                         const OutgoingMessage& message,
                                         std::chrono::milliseconds confirm_timeout,
                                         bool mandatory) {
  const std::string action = "publish to exchange " + quoted(exchange) + " on";
  ensure_channel(kPublishChannel);

  const EncodedProperties properties(message.properties);
  if (!write_watchdog_) {
    write_watchdog_ = std::make_unique<WriteWatchdog>(amqp_get_sockfd(state_.get()));
  }
  write_watchdog_->arm(Clock::now() + confirm_timeout);
  const int status = amqp_basic_publish(state_.get(), kPublishChannel, as_bytes(exchange),
                                        as_bytes(routing_key), mandatory ? 1 : 0, /*immediate=*/0,
                                        properties.get(), as_bytes(message.body));
  write_watchdog_->disarm();
  if (status != AMQP_STATUS_OK && write_watchdog_->fired()) {
    fail_connection(
        error(action, fmt::format("the broker took no data for {} ms", confirm_timeout.count())));
  }
  check_status(action, status);
  publish_.awaited_tag = ++publish_.last_tag;
  publish_.returned = false;
  publish_.outcome.reset();

  const auto deadline = Clock::now() + confirm_timeout;
  while (!publish_.outcome) {
    if (const auto& refusal = channels_.at(kPublishChannel).refusal) {
      throw refusal_error(action, *refusal);
    }
    if (!pump_one(deadline)) {
      return PublishOutcome::kTimedOut;
    }
  }
  return *publish_.outcome;
}

void Connection::Impl::start_consuming(const std::string& queue, std::uint16_t prefetch) {
  ensure_channel(kConsumeChannel);
  const std::string action = "consume from queue " + quoted(queue) + " on";

  amqp_basic_qos(state_.get(), kConsumeChannel, /*prefetch_size=*/0, prefetch,
                 /*global=*/0);
  check_reply(action, kConsumeChannel, amqp_get_rpc_reply(state_.get()));
  amqp_basic_consume(state_.get(), kConsumeChannel, as_bytes(queue), amqp_empty_bytes,
                     /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  check_reply(action, kConsumeChannel, amqp_get_rpc_reply(state_.get()));
  amqp_maybe_release_buffers_on_channel(state_.get(), kConsumeChannel);
  // A cancellation by the broker leaves the channel open; a new consumer supersedes it.
  channels_.at(kConsumeChannel).refusal.reset();
  consuming_ = true;
}

std::optional<Delivery> Connection::Impl::next_delivery(std::chrono::milliseconds timeout) {
  throw_if_broken();
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (!deliveries_.empty()) {
      Delivery delivery = std::move(deliveries_.front());
      deliveries_.pop_front();
      return delivery;
    }
    if (const auto& refusal = channels_.at(kConsumeChannel).refusal) {
      throw refusal_error("consume from", *refusal);
    }
    if (!consuming_) {
      throw error("receive from", "no consumer was started (call start_consuming first)");
    }
    if (!pump_one(deadline)) {
      return std::nullopt;
    }
  }
}

void Connection::Impl::ack(std::uint64_t delivery_tag) {
  throw_if_consumer_channel_closed(fmt::format("acknowledge delivery {} on", delivery_tag));
  check_status(fmt::format("acknowledge delivery {} on", delivery_tag),
               amqp_basic_ack(state_.get(), kConsumeChannel, delivery_tag, /*multiple=*/0));
}

void Connection::Impl::reject(std::uint64_t delivery_tag, bool requeue) {
  throw_if_consumer_channel_closed(fmt::format("reject delivery {} on", delivery_tag));
  check_status(fmt::format("reject delivery {} on", delivery_tag),
               amqp_basic_reject(state_.get(), kConsumeChannel, delivery_tag, requeue ? 1 : 0));
}

void Connection::Impl::throw_if_consumer_channel_closed(std::string_view action) const {
  throw_if_broken();
  const ChannelState& consume = channels_.at(kConsumeChannel);
  if (!consume.open && consume.refusal) {
    // Its deliveries went back to the queue when the broker closed it (for instance after a
    // consumer timeout); acknowledging on the closed channel would be a connection error.
    // Reply code 0: the connection is fine and a new one recovers; the broker's own code (406
    // after a consumer timeout) would read as a configuration clash.
    throw error(action, fmt::format("the broker closed the consuming channel: {} [reply code {}]",
                                    consume.refusal->reply_text, consume.refusal->reply_code));
  }
}

void Connection::Impl::keep_alive() {
  throw_if_broken();
  const auto now = Clock::now();
  for (int frames = 0; frames < kKeepAliveMaxFrames && pump_one(now); ++frames) {
  }
}

void Connection::Impl::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (broken_) {
    return;
  }
  check_reply("close the connection to", 0,
              amqp_connection_close(state_.get(), AMQP_REPLY_SUCCESS));
}

// Reads at most one frame, waiting until `deadline`; false when none arrived in time.
bool Connection::Impl::pump_one(Clock::time_point deadline) {
  timeval timeout = to_timeval(remaining(deadline));
  amqp_frame_t frame{};
  const int status = amqp_simple_wait_frame_noblock(state_.get(), &frame, &timeout);
  if (status == AMQP_STATUS_TIMEOUT) {
    return false;
  }
  check_status("receive from", status);

  const ReleaseBuffersOnExit release(state_.get(), frame.channel);
  handle_frame(frame);
  return true;
}

void Connection::Impl::handle_frame(const amqp_frame_t& frame) {
  switch (frame.frame_type) {
    case AMQP_FRAME_METHOD:
      handle_method(frame.channel, frame.payload.method);
      break;
    case AMQP_FRAME_HEADER:
      handle_header(frame.channel, frame);
      break;
    case AMQP_FRAME_BODY:
      handle_body(frame.channel, frame.payload.body_fragment);
      break;
    default:
      break;
  }
}

void Connection::Impl::handle_method(amqp_channel_t channel, const amqp_method_t& method) {
  switch (method.id) {
    case AMQP_BASIC_DELIVER_METHOD: {
      const auto& deliver = *static_cast<const amqp_basic_deliver_t*>(method.decoded);
      IncomingContent content;
      content.delivery.delivery_tag = deliver.delivery_tag;
      content.delivery.redelivered = deliver.redelivered != 0;
      content.delivery.exchange = to_string(deliver.exchange);
      content.delivery.routing_key = to_string(deliver.routing_key);
      incoming_[channel] = std::move(content);
      break;
    }
    case AMQP_BASIC_RETURN_METHOD: {
      const auto& returned = *static_cast<const amqp_basic_return_t*>(method.decoded);
      spdlog::debug("RabbitMQ at {} returned a message for exchange '{}', routing key '{}': {}",
                    address_, to_string(returned.exchange), to_string(returned.routing_key),
                    to_string(returned.reply_text));
      IncomingContent content;
      content.is_return = true;
      incoming_[channel] = std::move(content);
      break;
    }
    case AMQP_BASIC_ACK_METHOD: {
      const auto& confirm = *static_cast<const amqp_basic_ack_t*>(method.decoded);
      on_confirm(confirm.delivery_tag, confirm.multiple != 0, /*acked=*/true);
      break;
    }
    case AMQP_BASIC_NACK_METHOD: {
      const auto& confirm = *static_cast<const amqp_basic_nack_t*>(method.decoded);
      on_confirm(confirm.delivery_tag, confirm.multiple != 0, /*acked=*/false);
      break;
    }
    case AMQP_BASIC_CANCEL_METHOD:
      // The broker cancels a consumer whose queue was deleted or whose node went away.
      channels_.at(kConsumeChannel).refusal =
          Refusal{0, "the broker cancelled the consumer (queue deleted or unavailable)"};
      consuming_ = false;
      break;
    case AMQP_CHANNEL_CLOSE_METHOD:
      on_channel_close(channel, *static_cast<const amqp_channel_close_t*>(method.decoded));
      break;
    case AMQP_CONNECTION_CLOSE_METHOD:
      on_connection_close(*static_cast<const amqp_connection_close_t*>(method.decoded));
      throw *broken_;
    case AMQP_CONNECTION_BLOCKED_METHOD:
      spdlog::warn("RabbitMQ at {} blocks publishing (resource alarm); publishes will wait",
                   address_);
      break;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
      spdlog::info("RabbitMQ at {} accepts publishing again", address_);
      break;
    default:
      spdlog::debug("RabbitMQ at {} sent unexpected method 0x{:08x} on channel {}; ignored",
                    address_, method.id, channel);
      break;
  }
}

void Connection::Impl::handle_header(amqp_channel_t channel, const amqp_frame_t& frame) {
  const auto found = incoming_.find(channel);
  if (found == incoming_.end()) {
    fail_connection(error("receive from", "a content header arrived without its method"));
  }
  IncomingContent& content = found->second;
  content.header_seen = true;
  content.body_size = frame.payload.properties.body_size;
  content.delivery.properties = decode_properties(
      *static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded));
  content.delivery.body.reserve(content.body_size);
  if (content.body_size == 0) {
    complete_content(channel);
  }
}

void Connection::Impl::handle_body(amqp_channel_t channel, amqp_bytes_t fragment) {
  const auto found = incoming_.find(channel);
  if (found == incoming_.end() || !found->second.header_seen) {
    fail_connection(error("receive from", "a content body arrived without its header"));
  }
  IncomingContent& content = found->second;
  content.delivery.body.append(static_cast<const char*>(fragment.bytes), fragment.len);
  if (content.delivery.body.size() > content.body_size) {
    fail_connection(error("receive from", "a message body is longer than its header says"));
  }
  if (content.delivery.body.size() == content.body_size) {
    complete_content(channel);
  }
}

void Connection::Impl::complete_content(amqp_channel_t channel) {
  auto node = incoming_.extract(channel);
  if (node.mapped().is_return) {
    publish_.returned = true;
  } else {
    node.mapped().delivery.received_at = std::chrono::system_clock::now();
    deliveries_.push_back(std::move(node.mapped().delivery));
  }
}

void Connection::Impl::on_confirm(std::uint64_t tag, bool multiple, bool acked) {
  if (publish_.awaited_tag == 0) {
    return;
  }
  const bool covers_awaited =
      tag == publish_.awaited_tag || (multiple && tag > publish_.awaited_tag);
  if (!covers_awaited) {
    // A late confirm for an earlier publish that timed out; a return seen before it was for
    // that earlier message too, since the broker sends a return just before its confirm.
    publish_.returned = false;
    return;
  }
  if (!acked) {
    publish_.outcome = PublishOutcome::kNacked;
  } else {
    publish_.outcome = publish_.returned ? PublishOutcome::kReturned : PublishOutcome::kConfirmed;
  }
  publish_.awaited_tag = 0;
}

std::unique_ptr<Connection> Connection::open(const BrokerSettings& settings) {
  return std::unique_ptr<Connection>(new Connection(Impl::open(settings)));
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
  try {
    impl_->close();
  } catch (const BrokerError& error) {
    spdlog::warn("{}; the broker drops the connection itself", error.what());
  }
}

const std::string& Connection::address() const noexcept { return impl_->address(); }

void Connection::declare_topic_exchange(const std::string& name) {
  impl_->declare_exchange(name, "topic");
}

void Connection::declare_exchange(const std::string& name, const std::string& type) {
  impl_->declare_exchange(name, type);
}

void Connection::declare_queue(const QueueSpec& spec) { impl_->declare_queue(spec); }

void Connection::bind_queue(const std::string& queue, const std::string& exchange,
                            const std::string& routing_key) {
  impl_->bind_queue(queue, exchange, routing_key);
}

PublishOutcome Connection::publish(const std::string& exchange, const std::string& routing_key,
                                   const OutgoingMessage& message,
                                   std::chrono::milliseconds confirm_timeout, bool mandatory) {
  return impl_->publish(exchange, routing_key, message, confirm_timeout, mandatory);
}

void Connection::start_consuming(const std::string& queue, std::uint16_t prefetch) {
  impl_->start_consuming(queue, prefetch);
}

std::optional<Delivery> Connection::next_delivery(std::chrono::milliseconds timeout) {
  return impl_->next_delivery(timeout);
}

void Connection::ack(std::uint64_t delivery_tag) { impl_->ack(delivery_tag); }

void Connection::reject(std::uint64_t delivery_tag, bool requeue) {
  impl_->reject(delivery_tag, requeue);
}

void Connection::keep_alive() { impl_->keep_alive(); }

void Connection::close() { impl_->close(); }

}  // namespace claimcheck::broker
