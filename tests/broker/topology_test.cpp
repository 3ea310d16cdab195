#include "claimcheck/broker/topology.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "broker_test_support.hpp"

namespace claimcheck::broker {
namespace {

using testing::kConfirmTimeout;
using testing::kDeliveryTimeout;
using testing::kQuietPeriod;
using testing::node_settings;
using testing::text_message;
using testing::unique_name;

TEST(TopologyTest, DestinationQueueIsNamedAfterDestinationAndGroupAndGetsEverything) {
  auto connection = Connection::open(node_settings());
  const std::string destination = unique_name("files-out");
  declare_destination_queue(*connection, destination, "workers", QueueSpec{});
  // Idempotent: a second service declaring the same topology does not fail.
  declare_destination_queue(*connection, destination, "workers", QueueSpec{});

  ASSERT_EQ(connection->publish(destination, "any.routing.key", text_message("{}", "r1"),
                                kConfirmTimeout),
            PublishOutcome::kConfirmed);

  connection->start_consuming(destination + ".workers", 1);
  const auto delivery = connection->next_delivery(kDeliveryTimeout);
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->properties.message_id, "r1");
  connection->ack(delivery->delivery_tag);
}

TEST(TopologyTest, ReplyQueuesDeliverOnlyTheirOwnClientsReplies) {
  auto server = Connection::open(node_settings());
  auto client_a = Connection::open(node_settings());
  auto client_b = Connection::open(node_settings());
  const std::string destination = unique_name("files-in");

  const std::string queue_a =
      declare_reply_queue(*client_a, destination, "client-a", std::chrono::minutes(5));
  const std::string queue_b =
      declare_reply_queue(*client_b, destination, "client-b", std::chrono::minutes(5));
  EXPECT_EQ(queue_a, destination + ".client-a");
  EXPECT_EQ(queue_b, destination + ".client-b");

  for (const auto& [client, id] :
       {std::pair{"client-a", "a1"}, std::pair{"client-b", "b1"}, std::pair{"client-a", "a2"}}) {
    ASSERT_EQ(server->publish(destination, client, text_message("{}", id), kConfirmTimeout),
              PublishOutcome::kConfirmed);
  }
  // A reply for a client that never bound a queue is not silently lost.
  EXPECT_EQ(server->publish(destination, "client-gone", text_message("{}", "x"), kConfirmTimeout),
            PublishOutcome::kReturned);

  client_a->start_consuming(queue_a, 10);
  client_b->start_consuming(queue_b, 10);
  std::vector<std::string> received_a;
  while (auto delivery = client_a->next_delivery(kQuietPeriod)) {
    received_a.push_back(delivery->properties.message_id);
    client_a->ack(delivery->delivery_tag);
  }
  std::vector<std::string> received_b;
  while (auto delivery = client_b->next_delivery(kQuietPeriod)) {
    received_b.push_back(delivery->properties.message_id);
    client_b->ack(delivery->delivery_tag);
  }
  EXPECT_EQ(received_a, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(received_b, (std::vector<std::string>{"b1"}));
}

TEST(TopologyTest, ReplyQueueExpiresWhenItsOwnerStaysAway) {
  auto connection = Connection::open(node_settings());
  const std::string destination = unique_name("files-in");
  declare_reply_queue(*connection, destination, "short-lived", std::chrono::milliseconds(300));

  // RabbitMQ checks expiry on a timer; give it a few rounds.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(
      connection->publish(destination, "short-lived", text_message("{}", "late"), kConfirmTimeout),
      PublishOutcome::kReturned);
}

TEST(TopologyTest, ReplyQueueWithAnotherExpiryIsAConfigurationError) {
  auto connection = Connection::open(node_settings());
  const std::string destination = unique_name("files-in");
  declare_reply_queue(*connection, destination, "client", std::chrono::minutes(5));
  try {
    declare_reply_queue(*connection, destination, "client", std::chrono::minutes(10));
    FAIL() << "redeclaring a reply queue with another x-expires succeeded";
  } catch (const BrokerError& error) {
    EXPECT_EQ(error.reply_code(), 406) << error.what();
    EXPECT_NE(std::string(error.what()).find("x-expires"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace claimcheck::broker
