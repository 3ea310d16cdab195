#pragma once

/// The command-line options every claimcheck service takes, and the start-up step that turns
/// them into a Config and a logger.
///
///   --config FILE       YAML configuration file
///   --set key=value     override one key (repeatable)
///   --host HOST         shorthand for --set server.host=HOST
///   --port PORT         shorthand for --set server.port=PORT
///
/// The log level is the configuration key logging.level (default info).

#include <CLI/CLI.hpp>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/common/config.hpp"

namespace claimcheck {

struct ServiceOptions {
  std::optional<std::filesystem::path> config_file;
  std::vector<std::string> overrides;
  std::string host;
  std::optional<int> port;
};

/// Adds the options above to `app`, storing into `options` (which must outlive parsing).
void add_service_options(CLI::App& app, ServiceOptions& options);

/// Loads the configuration the options name, with --host and --port applied as overrides, and
/// sets up logging for `service_name`. Throws ConfigError.
Config load_service_config(const ServiceOptions& options, std::string_view service_name,
                           std::string env_prefix);

}  // namespace claimcheck
