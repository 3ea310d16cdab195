#include "claimcheck/common/service_options.hpp"

#include "claimcheck/common/logging.hpp"

namespace claimcheck {

void add_service_options(CLI::App& app, ServiceOptions& options) {
  app.add_option_function<std::string>(
         "-c,--config", [&options](const std::string& path) { options.config_file = path; },
         "YAML configuration file")
      ->check(CLI::ExistingFile);
  // One value per --set, so that a following subcommand or file name is not taken as another.
  app.add_option("--set", options.overrides,
                 "Override a configuration key, e.g. --set server.port=8080 (repeatable)")
      ->expected(1)
      ->take_all();
  app.add_option("--host", options.host, "Address to listen on (server.host)");
  app.add_option("--port", options.port, "HTTP port to listen on, 0 for any (server.port)")
      ->check(CLI::Range(0, 65535));
}

Config load_service_config(const ServiceOptions& options, std::string_view service_name,
                           std::string env_prefix) {
  std::vector<std::string> overrides = options.overrides;
  if (!options.host.empty()) {
    overrides.push_back("server.host=" + options.host);
  }
  if (options.port) {
    overrides.push_back("server.port=" + std::to_string(*options.port));
  }
  Config config = Config::load(options.config_file, std::move(env_prefix), overrides);
  init_logging(service_name, config.get_string("logging.level", "info"));
  return config;
}

}  // namespace claimcheck
