#pragma once

/// Layered service configuration.
///
/// A value is looked up, highest precedence first, in: `--set key=value` overrides given on the
/// command line, the environment, the YAML file, and finally the caller's default. Keys are
/// dotted paths into the YAML document (`broker.port`); the environment variable for a key is
/// the prefix plus the key upper-cased with '.' and '-' turned into '_'
/// (`CLAIMCHECK_BROKER_PORT`). Values of the wrong type raise ConfigError naming the key and
/// where the value came from. A Config is immutable after load and safe to read from any thread.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace claimcheck {

/// Invalid or unreadable configuration; the message names the key or file at fault.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Config {
 public:
  /// Reads `file` (if given; it must exist) and remembers `overrides` of the form key=value.
  /// Throws ConfigError for an unreadable file, malformed YAML or a malformed override.
  static Config load(const std::optional<std::filesystem::path>& file, std::string env_prefix,
                     const std::vector<std::string>& overrides);

  /// A configuration with no file and no overrides; only the environment and defaults apply.
  static Config empty(std::string env_prefix);

  [[nodiscard]] std::string get_string(std::string_view key, std::string_view fallback) const;
  [[nodiscard]] std::int64_t get_int(std::string_view key, std::int64_t fallback) const;
  [[nodiscard]] bool get_bool(std::string_view key, bool fallback) const;
  /// Durations are written as a number with a unit suffix: 500ms, 30s, 5m, 2h (bare = seconds).
  [[nodiscard]] std::chrono::milliseconds get_duration(std::string_view key,
                                                       std::chrono::milliseconds fallback) const;
  /// A YAML sequence, or a comma-separated string from the environment or an override.
  [[nodiscard]] std::vector<std::string> get_list(std::string_view key,
                                                  const std::vector<std::string>& fallback) const;
  /// The raw YAML node at `key` (undefined node when absent); for structured sections such as
  /// lists of clients. Environment and overrides do not apply to structured sections.
  [[nodiscard]] YAML::Node node(std::string_view key) const;

  /// Where the YAML came from, for error messages ("<none>" without a file).
  [[nodiscard]] std::string source_name() const;

  /// The environment variable name consulted for `key`.
  [[nodiscard]] std::string env_name(std::string_view key) const;

 private:
  Config(const YAML::Node& root, std::string env_prefix,
         std::map<std::string, std::string, std::less<>> overrides,
         std::optional<std::filesystem::path> file);

  /// The scalar text for `key` and a description of its origin, if set anywhere.
  [[nodiscard]] std::optional<std::pair<std::string, std::string>> lookup(
      std::string_view key) const;

  YAML::Node root_;
  std::string env_prefix_;
  std::map<std::string, std::string, std::less<>> overrides_;
  std::optional<std::filesystem::path> file_;
};

/// Parses "250ms", "30s", "5m", "2h", "7d" or a bare number of seconds; std::nullopt when
/// malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace claimcheck
