#include "claimcheck/common/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "claimcheck/common/config.hpp"

namespace claimcheck {

void init_logging(std::string_view service_name, std::string_view level) {
  const auto parsed = spdlog::level::from_str(std::string(level));
  // from_str maps anything unknown to "off"; only an explicit "off" may mean that.
  if (parsed == spdlog::level::off && level != "off") {
    throw ConfigError("unknown log level '" + std::string(level) +
                      "' (use trace, debug, info, warn, error or off)");
  }
  auto logger = spdlog::stderr_color_mt(std::string(service_name));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace claimcheck
