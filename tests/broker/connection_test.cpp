#include "claimcheck/broker/connection.hpp"

#include <gtest/gtest.h>

#include <set>

#include "broker_test_support.hpp"

namespace claimcheck::broker {
namespace {

using testing::kConfirmTimeout;
using testing::kDeliveryTimeout;
using testing::kQuietPeriod;
using testing::node_settings;
using testing::text_message;
using testing::unique_name;

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { connection_ = Connection::open(node_settings()); }

  // A fresh durable queue bound to a fresh topic exchange with "#".
  std::pair<std::string, std::string> exchange_with_queue(const QueueSpec& base = {}) {
    const std::string exchange = unique_name("exchange");
    QueueSpec spec = base;
    spec.name = unique_name("queue");
    connection_->declare_topic_exchange(exchange);
    connection_->declare_queue(spec);
    connection_->bind_queue(spec.name, exchange, "#");
    return {exchange, spec.name};
  }

  std::unique_ptr<Connection> connection_;
};

TEST_F(ConnectionTest, ConfirmedMessageArrivesWithAllProperties) {
  const auto [exchange, queue] = exchange_with_queue();
  OutgoingMessage message;
  message.body = R"({"fileId":"f-1"})";
  message.properties.message_id = "m-1";
  message.properties.correlation_id = "c-1";
  message.properties.type = "process";
  message.properties.reply_to = "files-in.client-a";
  message.properties.timestamp = 1'700'000'000;
  message.properties.headers = {{"operation", "checksum"}, {"attempt", "1"}};

  ASSERT_EQ(connection_->publish(exchange, "files", message, kConfirmTimeout),
            PublishOutcome::kConfirmed);

  auto consumer = Connection::open(node_settings());
  consumer->start_consuming(queue, 10);
  const auto delivery = consumer->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->body, message.body);
  EXPECT_EQ(delivery->exchange, exchange);
  EXPECT_EQ(delivery->routing_key, "files");
  EXPECT_FALSE(delivery->redelivered);
  const MessageProperties& received = delivery->properties;
  EXPECT_EQ(received.content_type, "application/json");
  EXPECT_EQ(received.message_id, "m-1");
  EXPECT_EQ(received.correlation_id, "c-1");
  EXPECT_EQ(received.type, "process");
  EXPECT_EQ(received.reply_to, "files-in.client-a");
  EXPECT_EQ(received.timestamp, 1'700'000'000);
  EXPECT_TRUE(received.persistent);
  EXPECT_EQ(received.headers, message.properties.headers);

  consumer->ack(delivery->delivery_tag);
  EXPECT_FALSE(consumer->next_delivery(kQuietPeriod).has_value());
}

TEST_F(ConnectionTest, TransientMessageArrivesAsTransient) {
  const auto [exchange, queue] = exchange_with_queue();
  OutgoingMessage message = text_message("{}", "m-transient");
  message.properties.persistent = false;
  ASSERT_EQ(connection_->publish(exchange, "x", message, kConfirmTimeout),
            PublishOutcome::kConfirmed);

  connection_->start_consuming(queue, 1);
  const auto delivery = connection_->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(delivery.has_value());
  EXPECT_FALSE(delivery->properties.persistent);
  connection_->ack(delivery->delivery_tag);
}

TEST_F(ConnectionTest, DeliveriesArrivingWhilePublishingAreKeptInOrder) {
  // Consuming and publishing on one connection: deliveries for the consumer reach the socket
  // while publish() waits for its confirms and must be buffered, not lost.
  const auto [exchange, queue] = exchange_with_queue();
  connection_->start_consuming(queue, 100);

  constexpr int kCount = 50;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(
        connection_->publish(exchange, "k", text_message("{}", std::to_string(i)), kConfirmTimeout),
        PublishOutcome::kConfirmed);
  }
  for (int i = 0; i < kCount; ++i) {
    const auto delivery = connection_->next_delivery(kDeliveryTimeout);
    ASSERT_TRUE(delivery.has_value()) << "delivery " << i << " missing";
    EXPECT_EQ(delivery->properties.message_id, std::to_string(i));
    connection_->ack(delivery->delivery_tag);
  }
  EXPECT_FALSE(connection_->next_delivery(kQuietPeriod).has_value());
}

TEST_F(ConnectionTest, LargeBodySpanningManyFramesArrivesWhole) {
  const auto [exchange, queue] = exchange_with_queue();
  std::string body(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>(i * 31 % 251);
  }
  ASSERT_EQ(connection_->publish(exchange, "big", text_message(body, "big"), kConfirmTimeout),
            PublishOutcome::kConfirmed);

  connection_->start_consuming(queue, 1);
  const auto delivery = connection_->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->body.size(), body.size());
  EXPECT_TRUE(delivery->body == body);
  connection_->ack(delivery->delivery_tag);
}

TEST_F(ConnectionTest, PublishToMissingExchangeFailsNamingItAndConnectionStaysUsable) {
  const std::string missing = unique_name("missing");
  try {
    connection_->publish(missing, "k", text_message("{}", "m"), kConfirmTimeout);
    FAIL() << "publishing to a missing exchange succeeded";
  } catch (const BrokerError& error) {
    const std::string message = error.what();
    EXPECT_EQ(error.reply_code(), 404) << message;
    EXPECT_NE(message.find(missing), std::string::npos) << message;
    EXPECT_NE(message.find(connection_->address()), std::string::npos) << message;
  }

  const auto [exchange, queue] = exchange_with_queue();
  EXPECT_EQ(connection_->publish(exchange, "k", text_message("{}", "after"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
}

TEST_F(ConnectionTest, UnroutableMandatoryMessageIsReturned) {
  const std::string exchange = unique_name("unbound");
  connection_->declare_topic_exchange(exchange);

  EXPECT_EQ(connection_->publish(exchange, "nobody", text_message("{}", "m1"), kConfirmTimeout),
            PublishOutcome::kReturned);
  EXPECT_EQ(connection_->publish(exchange, "nobody", text_message("{}", "m2"), kConfirmTimeout,
                                 /*mandatory=*/false),
            PublishOutcome::kConfirmed);

  // A routable message after a return is confirmed, not mistaken for a return.
  QueueSpec spec;
  spec.name = unique_name("late-queue");
  connection_->declare_queue(spec);
  connection_->bind_queue(spec.name, exchange, "somebody");
  EXPECT_EQ(connection_->publish(exchange, "somebody", text_message("{}", "m3"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
}

TEST_F(ConnectionTest, RejectWithRequeueRedeliversAndWithoutRequeueDrops) {
  const auto [exchange, queue] = exchange_with_queue();
  ASSERT_EQ(connection_->publish(exchange, "k", text_message("{}", "again"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
  connection_->start_consuming(queue, 1);

  const auto first = connection_->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->redelivered);
  connection_->reject(first->delivery_tag, /*requeue=*/true);

  const auto second = connection_->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->properties.message_id, "again");
  EXPECT_TRUE(second->redelivered);
  connection_->reject(second->delivery_tag, /*requeue=*/false);

  EXPECT_FALSE(connection_->next_delivery(kQuietPeriod).has_value());
}

TEST_F(ConnectionTest, RejectedWithoutRequeueGoesToDeadLetterExchange) {
  const std::string dead_letters = unique_name("dlx");
  connection_->declare_topic_exchange(dead_letters);
  QueueSpec parking;
  parking.name = unique_name("parking");
  connection_->declare_queue(parking);
  connection_->bind_queue(parking.name, dead_letters, "#");

  QueueSpec work;
  work.dead_letter_exchange = dead_letters;
  const auto [exchange, queue] = exchange_with_queue(work);
  ASSERT_EQ(connection_->publish(exchange, "k", text_message("{}", "doomed"), kConfirmTimeout),
            PublishOutcome::kConfirmed);

  connection_->start_consuming(queue, 1);
  const auto delivery = connection_->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(delivery.has_value());
  connection_->reject(delivery->delivery_tag, /*requeue=*/false);

  auto parking_consumer = Connection::open(node_settings());
  parking_consumer->start_consuming(parking.name, 1);
  const auto parked = parking_consumer->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(parked.has_value());
  EXPECT_EQ(parked->properties.message_id, "doomed");
  parking_consumer->ack(parked->delivery_tag);
}

TEST_F(ConnectionTest, PrefetchBoundsUnacknowledgedDeliveries) {
  const auto [exchange, queue] = exchange_with_queue();
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        connection_->publish(exchange, "k", text_message("{}", std::to_string(i)), kConfirmTimeout),
        PublishOutcome::kConfirmed);
  }

  auto consumer = Connection::open(node_settings());
  consumer->start_consuming(queue, 2);
  const auto first = consumer->next_delivery(kDeliveryTimeout);
  const auto second = consumer->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(consumer->next_delivery(kQuietPeriod).has_value())
      << "a third delivery arrived with prefetch 2 and nothing acknowledged";

  consumer->ack(first->delivery_tag);
  const auto third = consumer->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->properties.message_id, "2");
  EXPECT_FALSE(consumer->next_delivery(kQuietPeriod).has_value());
}

TEST_F(ConnectionTest, UnacknowledgedDeliveriesReturnToTheQueueWhenTheConsumerCloses) {
  const auto [exchange, queue] = exchange_with_queue();
  ASSERT_EQ(connection_->publish(exchange, "k", text_message("{}", "kept"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
  {
    auto consumer = Connection::open(node_settings());
    consumer->start_consuming(queue, 1);
    ASSERT_TRUE(consumer->next_delivery(kDeliveryTimeout).has_value());
  }

  connection_->start_consuming(queue, 1);
  const auto again = connection_->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->properties.message_id, "kept");
  EXPECT_TRUE(again->redelivered);
  connection_->ack(again->delivery_tag);
}

TEST_F(ConnectionTest, QueueRedeclaredWithOtherArgumentsNamesQueueAndDifference) {
  // Field case B4: the request queue exists without dead-lettering, the configuration asks
  // for it.
  QueueSpec existing;
  existing.name = unique_name("requests");
  connection_->declare_queue(existing);

  QueueSpec configured = existing;
  configured.dead_letter_exchange = "requests.dlx";
  try {
    connection_->declare_queue(configured);
    FAIL() << "redeclaring with another x-dead-letter-exchange succeeded";
  } catch (const BrokerError& error) {
    const std::string message = error.what();
    EXPECT_EQ(error.reply_code(), 406) << message;
    EXPECT_NE(message.find("'" + existing.name + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("x-dead-letter-exchange"), std::string::npos) << message;
    EXPECT_NE(message.find("different arguments"), std::string::npos) << message;
    EXPECT_NE(message.find(connection_->address()), std::string::npos) << message;
  }

  // The declaring channel is reopened: the connection keeps working, the same declaration as
  // before still succeeds.
  EXPECT_NO_THROW(connection_->declare_queue(existing));
}

TEST_F(ConnectionTest, QueueRedeclaredWithOtherTypeFails) {
  QueueSpec classic;
  classic.name = unique_name("typed");
  connection_->declare_queue(classic);

  QueueSpec quorum = classic;
  quorum.queue_type = "quorum";
  try {
    connection_->declare_queue(quorum);
    FAIL() << "redeclaring a classic queue as quorum succeeded";
  } catch (const BrokerError& error) {
    EXPECT_EQ(error.reply_code(), 406) << error.what();
    EXPECT_NE(std::string(error.what()).find(classic.name), std::string::npos) << error.what();
  }
}

TEST_F(ConnectionTest, QuorumQueueCarriesMessages) {
  QueueSpec spec;
  spec.queue_type = "quorum";
  const auto [exchange, queue] = exchange_with_queue(spec);
  ASSERT_EQ(connection_->publish(exchange, "k", text_message("{}", "q1"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
  connection_->start_consuming(queue, 1);
  const auto delivery = connection_->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->properties.message_id, "q1");
  connection_->ack(delivery->delivery_tag);
}

TEST_F(ConnectionTest, ConsumingFromMissingQueueFailsNamingIt) {
  const std::string missing = unique_name("absent");
  try {
    connection_->start_consuming(missing, 1);
    FAIL() << "consuming from a missing queue succeeded";
  } catch (const BrokerError& error) {
    EXPECT_EQ(error.reply_code(), 404) << error.what();
    EXPECT_NE(std::string(error.what()).find(missing), std::string::npos) << error.what();
  }
}

TEST_F(ConnectionTest, NextDeliveryWithoutConsumerFails) {
  EXPECT_THROW(connection_->next_delivery(kQuietPeriod), BrokerError);
}

TEST_F(ConnectionTest, KeepAliveBuffersDeliveries) {
  const auto [exchange, queue] = exchange_with_queue();
  connection_->start_consuming(queue, 5);
  ASSERT_EQ(connection_->publish(exchange, "k", text_message("{}", "held"), kConfirmTimeout),
            PublishOutcome::kConfirmed);
  connection_->keep_alive();
  const auto delivery = connection_->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->properties.message_id, "held");
  connection_->ack(delivery->delivery_tag);
}

TEST(ConnectionLoginTest, WrongPasswordFailsNamingUserAndBroker) {
  BrokerSettings settings = node_settings();
  settings.password = "not-the-password";
  try {
    Connection::open(settings);
    FAIL() << "logged in with a wrong password";
  } catch (const BrokerError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("'guest'"), std::string::npos) << message;
    EXPECT_NE(message.find(settings.address()), std::string::npos) << message;
    EXPECT_EQ(message.find("not-the-password"), std::string::npos) << message;
  }
}

TEST(ConnectionLoginTest, MissingVhostFailsNamingIt) {
  BrokerSettings settings = node_settings();
  settings.vhost = "no-such-vhost";
  try {
    Connection::open(settings);
    FAIL() << "opened a missing vhost";
  } catch (const BrokerError& error) {
    EXPECT_NE(std::string(error.what()).find("no-such-vhost"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace claimcheck::broker
