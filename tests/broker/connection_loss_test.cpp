// What a caller sees when the network or the broker fails under an open connection: a
// BrokerError naming the broker within a bounded time, never a hang.

#include <gtest/gtest.h>

#include <thread>

#include "broker_test_support.hpp"
#include "claimcheck/broker/connection.hpp"
#include "tcp_proxy.hpp"

namespace claimcheck::broker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::kConfirmTimeout;
using testing::kDeliveryTimeout;
using testing::node_settings;
using testing::TcpProxy;
using testing::text_message;
using testing::unique_name;

// The message of the BrokerError that next_delivery() raised, or an empty string if it
// returned.
std::string delivery_failure(Connection& connection, std::chrono::milliseconds timeout) {
  try {
    connection.next_delivery(timeout);
  } catch (const BrokerError& error) {
    return error.what();
  }
  return {};
}

class ConnectionLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    direct_ = Connection::open(node_settings());
    queue_.name = unique_name("loss");
    direct_->declare_queue(queue_);

    proxy_ = std::make_unique<TcpProxy>(node_settings().port);
    proxied_settings_ = node_settings();
    proxied_settings_.port = proxy_->port();
    proxied_settings_.heartbeat = seconds(1);
  }

  std::unique_ptr<Connection> direct_;
  QueueSpec queue_;
  std::unique_ptr<TcpProxy> proxy_;
  BrokerSettings proxied_settings_;
};

TEST_F(ConnectionLossTest, SeveredConnectionFailsTheWaitingConsumerAndEveryLaterCall) {
  auto consumer = Connection::open(proxied_settings_);
  consumer->start_consuming(queue_.name, 1);
  proxy_->sever();

  const auto started = std::chrono::steady_clock::now();
  const std::string message = delivery_failure(*consumer, seconds(10));
  const auto elapsed = std::chrono::steady_clock::now() - started;

  EXPECT_NE(message.find(proxied_settings_.address()), std::string::npos) << message;
  EXPECT_LT(elapsed, seconds(5));
  EXPECT_THROW(consumer->next_delivery(milliseconds(100)), BrokerError);
  EXPECT_THROW(consumer->publish("", queue_.name, text_message("{}", "m"), kConfirmTimeout),
               BrokerError);
}

TEST_F(ConnectionLossTest, SilentBrokerIsDetectedByMissingHeartbeats) {
  auto consumer = Connection::open(proxied_settings_);
  consumer->start_consuming(queue_.name, 1);
  proxy_->freeze();

  const auto started = std::chrono::steady_clock::now();
  const std::string message = delivery_failure(*consumer, seconds(30));
  const auto elapsed = std::chrono::steady_clock::now() - started;

  EXPECT_NE(message.find(proxied_settings_.address()), std::string::npos) << message;
  // rabbitmq-c gives up after two missed heartbeats of 1 s.
  EXPECT_LT(elapsed, seconds(6));
}

TEST_F(ConnectionLossTest, PublishToSilentBrokerTimesOut) {
  auto publisher = Connection::open(proxied_settings_);
  publisher->declare_queue(queue_);  // opens the channels before the broker goes silent
  ASSERT_EQ(publisher->publish("", queue_.name, text_message("{}", "before"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
  proxy_->freeze();

  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(publisher->publish("", queue_.name, text_message("{}", "lost"), milliseconds(500)),
            PublishOutcome::kTimedOut);
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(2));
}

// Found by the bad-input review: against a frozen broker the client hung for good inside
// rabbitmq-c's write once the socket's buffers were full. Writes are now bounded too.
TEST_F(ConnectionLossTest, PublishThatCannotBeWrittenFailsWithinItsTimeout) {
  auto publisher = Connection::open(proxied_settings_);
  publisher->declare_queue(queue_);  // opens the channels before the broker goes silent
  ASSERT_EQ(publisher->publish("", queue_.name, text_message("{}", "before"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
  proxy_->freeze();

  // Far more than the socket buffers on both sides of the proxy hold.
  const std::string body(64 * 1024 * 1024, 'x');
  const auto started = std::chrono::steady_clock::now();
  try {
    (void)publisher->publish("", queue_.name, text_message(body, "stuck"), milliseconds(1000));
    ADD_FAILURE() << "64 MiB were written to a broker that reads nothing";
  } catch (const BrokerError& error) {
    EXPECT_NE(std::string(error.what()).find("took no data"), std::string::npos) << error.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(5));
}

TEST_F(ConnectionLossTest, BusyCallerStaysConnectedWithKeepAlive) {
  // A consumer busy for several heartbeat intervals (a large file being processed) keeps its
  // connection by calling keep_alive(); the broker would otherwise close it after two missed
  // heartbeats.
  BrokerSettings settings = node_settings();
  settings.heartbeat = seconds(1);
  auto consumer = Connection::open(settings);
  consumer->start_consuming(queue_.name, 1);
  ASSERT_EQ(direct_->publish("", queue_.name, text_message("{}", "work"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
  const auto delivery = consumer->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(delivery.has_value());

  const auto busy_until = std::chrono::steady_clock::now() + seconds(4);
  while (std::chrono::steady_clock::now() < busy_until) {
    std::this_thread::sleep_for(milliseconds(250));
    consumer->keep_alive();
  }

  EXPECT_NO_THROW(consumer->ack(delivery->delivery_tag));
  ASSERT_EQ(direct_->publish("", queue_.name, text_message("{}", "next"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
  const auto next = consumer->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->properties.message_id, "next");
  EXPECT_FALSE(next->redelivered) << "the first delivery was requeued: the connection dropped";
  consumer->ack(next->delivery_tag);
}

}  // namespace
}  // namespace claimcheck::broker
