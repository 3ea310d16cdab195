#include <string>

#include "claimcheck/broker/connection.hpp"

namespace claimcheck::broker {
namespace {

std::chrono::milliseconds positive_duration(const Config& config, const std::string& key,
                                            std::chrono::milliseconds fallback) {
  const auto value = config.get_duration(key, fallback);
  if (value <= std::chrono::milliseconds::zero()) {
    throw ConfigError("configuration key '" + key + "' must be a positive duration");
  }
  return value;
}

}  // namespace

BrokerSettings BrokerSettings::from_config(const Config& config, std::string_view prefix) {
  const std::string base(prefix);
  BrokerSettings settings;

  settings.host = config.get_string(base + ".host", settings.host);
  const auto port = config.get_int(base + ".port", settings.port);
  if (port < 1 || port > 65535) {
    throw ConfigError("configuration key '" + base + ".port' must be between 1 and 65535, not " +
                      std::to_string(port));
  }
  settings.port = static_cast<int>(port);
  settings.vhost = config.get_string(base + ".vhost", settings.vhost);
  settings.user = config.get_string(base + ".user", settings.user);
  settings.password = config.get_string(base + ".password", settings.password);

  // AMQP negotiates the heartbeat in whole seconds; 0 would switch heartbeats off, which would
  // leave a dead peer undetected, so it is refused.
  const auto heartbeat = std::chrono::duration_cast<std::chrono::seconds>(
      positive_duration(config, base + ".heartbeat", settings.heartbeat));
  if (heartbeat < std::chrono::seconds(1)) {
    throw ConfigError("configuration key '" + base + ".heartbeat' must be at least 1s");
  }
  settings.heartbeat = heartbeat;
  settings.connect_timeout =
      positive_duration(config, base + ".connect-timeout", settings.connect_timeout);
  settings.rpc_timeout = positive_duration(config, base + ".rpc-timeout", settings.rpc_timeout);
  return settings;
}

std::string BrokerSettings::address() const { return host + ":" + std::to_string(port); }

}  // namespace claimcheck::broker
