#pragma once

// Shared set-up for tests against the private RabbitMQ node started by the CTest fixture
// "rabbitmq" (see tests/CMakeLists.txt).

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "claimcheck/broker/connection.hpp"
#include "claimcheck/common/encoding.hpp"

namespace claimcheck::broker::testing {

/// Settings for the fixture's node; fails the test when the fixture's port is not set.
inline BrokerSettings node_settings() {
  BrokerSettings settings;
  const char* port = std::getenv("CLAIMCHECK_TEST_AMQP_PORT");
  if (port == nullptr) {
    ADD_FAILURE() << "CLAIMCHECK_TEST_AMQP_PORT is not set: run through ctest -L broker";
    return settings;
  }
  settings.port = std::stoi(port);
  settings.connect_timeout = std::chrono::milliseconds(5000);
  return settings;
}

/// A name no other test (or earlier run) uses.
inline std::string unique_name(const std::string& stem) {
  return "cctest-" + stem + "-" + random_hex(4);
}

inline OutgoingMessage text_message(const std::string& body, const std::string& message_id) {
  OutgoingMessage message;
  message.body = body;
  message.properties.message_id = message_id;
  return message;
}

constexpr std::chrono::milliseconds kConfirmTimeout{5000};
constexpr std::chrono::milliseconds kDeliveryTimeout{5000};
// How long to wait to be sure that nothing (more) arrives.
constexpr std::chrono::milliseconds kQuietPeriod{500};

}  // namespace claimcheck::broker::testing
