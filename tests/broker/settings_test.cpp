#include <gtest/gtest.h>
#include <stdlib.h>

#include "claimcheck/broker/connection.hpp"

namespace claimcheck::broker {
namespace {

TEST(BrokerSettingsTest, DefaultsApplyWithoutConfiguration) {
  const auto settings = BrokerSettings::from_config(Config::empty("CCTEST_UNSET_"));
  EXPECT_EQ(settings.host, "127.0.0.1");
  EXPECT_EQ(settings.port, 5672);
  EXPECT_EQ(settings.vhost, "/");
  EXPECT_EQ(settings.heartbeat, std::chrono::seconds(30));
  EXPECT_EQ(settings.address(), "127.0.0.1:5672");
}

TEST(BrokerSettingsTest, ReadsEveryKeyUnderThePrefix) {
  const auto config = Config::load(
      std::nullopt, "CCTEST_BROKER_",
      {"bus.host=rabbit.example", "bus.port=5673", "bus.vhost=claims", "bus.user=svc",
       "bus.password=pw", "bus.heartbeat=10s", "bus.connect-timeout=1500ms", "bus.rpc-timeout=3s"});
  const auto settings = BrokerSettings::from_config(config, "bus");
  EXPECT_EQ(settings.address(), "rabbit.example:5673");
  EXPECT_EQ(settings.vhost, "claims");
  EXPECT_EQ(settings.user, "svc");
  EXPECT_EQ(settings.password, "pw");
  EXPECT_EQ(settings.heartbeat, std::chrono::seconds(10));
  EXPECT_EQ(settings.connect_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(settings.rpc_timeout, std::chrono::seconds(3));
}

TEST(BrokerSettingsTest, EnvironmentOverridesTheDefault) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the test runs on one thread.
  ::setenv("CCTEST_ENV_BROKER_PORT", "5999", 1);
  const auto settings = BrokerSettings::from_config(Config::empty("CCTEST_ENV_"));
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the test runs on one thread.
  ::unsetenv("CCTEST_ENV_BROKER_PORT");
  EXPECT_EQ(settings.port, 5999);
}

TEST(BrokerSettingsTest, RejectsPortOutOfRangeNamingTheKey) {
  const auto config = Config::load(std::nullopt, "CCTEST_BROKER_", {"broker.port=70000"});
  try {
    BrokerSettings::from_config(config);
    FAIL() << "a port of 70000 was accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("broker.port"), std::string::npos) << error.what();
  }
}

TEST(BrokerSettingsTest, RejectsZeroHeartbeat) {
  const auto config = Config::load(std::nullopt, "CCTEST_BROKER_", {"broker.heartbeat=0s"});
  EXPECT_THROW(BrokerSettings::from_config(config), ConfigError);
}

}  // namespace
}  // namespace claimcheck::broker
