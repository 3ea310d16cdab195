#include "claimcheck/common/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace claimcheck {
namespace {

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

// yaml-cpp nodes are reference-like: walking with operator[] on a non-const node would insert
// keys, so the walk goes over const copies.
YAML::Node find_node(const YAML::Node& root, std::string_view key) {
  YAML::Node current = YAML::Clone(root);
  for (const auto& part : split(key, '.')) {
    if (!current.IsMap()) {
      return YAML::Node(YAML::NodeType::Undefined);
    }
    const YAML::Node& const_current = current;
    YAML::Node next = const_current[part];
    if (!next.IsDefined()) {
      // A missing key yields an "invalid" node that throws on most queries; hand out a plain
      // undefined node instead.
      return YAML::Node(YAML::NodeType::Undefined);
    }
    current = next;
  }
  return current;
}

}  // namespace

Config::Config(const YAML::Node& root, std::string env_prefix,
               std::map<std::string, std::string, std::less<>> overrides,
               std::optional<std::filesystem::path> file)
    : root_(root),
      env_prefix_(std::move(env_prefix)),
      overrides_(std::move(overrides)),
      file_(std::move(file)) {}

Config Config::load(const std::optional<std::filesystem::path>& file, std::string env_prefix,
                    const std::vector<std::string>& overrides) {
  YAML::Node root(YAML::NodeType::Map);
  if (file) {
    if (!std::filesystem::is_regular_file(*file)) {
      throw ConfigError("configuration file '" + file->string() + "' does not exist");
    }
    try {
      root = YAML::LoadFile(file->string());
    } catch (const YAML::Exception& error) {
      throw ConfigError("configuration file '" + file->string() +
                        "' is not valid YAML: " + error.what());
    }
    if (root.IsNull()) {
      root = YAML::Node(YAML::NodeType::Map);
    }
    if (!root.IsMap()) {
      throw ConfigError("configuration file '" + file->string() + "' must hold a YAML mapping");
    }
  }
  std::map<std::string, std::string, std::less<>> parsed;
  for (const auto& item : overrides) {
    const auto equals = item.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw ConfigError("override '" + item + "' must have the form key=value");
    }
    parsed[item.substr(0, equals)] = item.substr(equals + 1);
  }
  return Config(root, std::move(env_prefix), std::move(parsed), file);
}

Config Config::empty(std::string env_prefix) {
  return load(std::nullopt, std::move(env_prefix), {});
}

std::string Config::source_name() const { return file_ ? file_->string() : "<none>"; }

std::string Config::env_name(std::string_view key) const {
  std::string name = env_prefix_;
  for (const char c : key) {
    name.push_back(c == '.' || c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  }
  return name;
}

std::optional<std::pair<std::string, std::string>> Config::lookup(std::string_view key) const {
  if (const auto found = overrides_.find(key); found != overrides_.end()) {
    return std::pair{found->second, "override --set " + std::string(key)};
  }
  const std::string variable = env_name(key);
  // getenv is read-only here and the services never call setenv, so the race the check warns
  // about cannot happen.
  if (const char* value = std::getenv(variable.c_str())) {  // NOLINT(concurrency-mt-unsafe)
    return std::pair{std::string(value), "environment variable " + variable};
  }
  const YAML::Node found = find_node(root_, key);
  if (!found.IsDefined() || found.IsNull()) {
    return std::nullopt;
  }
  if (!found.IsScalar()) {
    throw ConfigError("configuration key '" + std::string(key) + "' in " + source_name() +
                      " must be a single value");
  }
  return std::pair{found.Scalar(), "key '" + std::string(key) + "' in " + source_name()};
}

std::string Config::get_string(std::string_view key, std::string_view fallback) const {
  const auto value = lookup(key);
  return value ? value->first : std::string(fallback);
}

std::int64_t Config::get_int(std::string_view key, std::int64_t fallback) const {
  const auto value = lookup(key);
  if (!value) {
    return fallback;
  }
  const std::string text = trim(value->first);
  std::int64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw ConfigError(value->second + " must be an integer, not '" + value->first + "'");
  }
  return number;
}

bool Config::get_bool(std::string_view key, bool fallback) const {
  const auto value = lookup(key);
  if (!value) {
    return fallback;
  }
  std::string text = trim(value->first);
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (text == "true" || text == "yes" || text == "on" || text == "1") {
    return true;
  }
  if (text == "false" || text == "no" || text == "off" || text == "0") {
    return false;
  }
  throw ConfigError(value->second + " must be true or false, not '" + value->first + "'");
}

std::chrono::milliseconds Config::get_duration(std::string_view key,
                                               std::chrono::milliseconds fallback) const {
  const auto value = lookup(key);
  if (!value) {
    return fallback;
  }
  const auto duration = parse_duration(trim(value->first));
  if (!duration) {
    throw ConfigError(value->second + " must be a duration such as 500ms, 30s or 5m, not '" +
                      value->first + "'");
  }
  return *duration;
}

std::vector<std::string> Config::get_list(std::string_view key,
                                          const std::vector<std::string>& fallback) const {
  if (const YAML::Node found = find_node(root_, key);
      found.IsSequence() && !overrides_.contains(key) &&
      !std::getenv(env_name(key).c_str())) {  // NOLINT(concurrency-mt-unsafe): see lookup()
    std::vector<std::string> items;
    for (const auto& item : found) {
      // yaml-cpp's own message for a nested list or a map names neither the key nor the file.
      if (!item.IsScalar()) {
        throw ConfigError("configuration key '" + std::string(key) + "' in " + source_name() +
                          " must be a list of plain values; item " +
                          std::to_string(items.size() + 1) + " is a " +
                          (item.IsSequence() ? "list" : "map"));
      }
      items.push_back(item.as<std::string>());
    }
    return items;
  }
  const auto value = lookup(key);
  if (!value) {
    return fallback;
  }
  std::vector<std::string> items;
  for (const auto& part : split(value->first, ',')) {
    if (auto item = trim(part); !item.empty()) {
      items.push_back(std::move(item));
    }
  }
  return items;
}

YAML::Node Config::node(std::string_view key) const { return find_node(root_, key); }

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || !std::isfinite(number) || number < 0) {
    return std::nullopt;
  }
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else if (unit == "d") {
    scale = 86'400'000;
  } else {
    return std::nullopt;
  }
  // Past about 30 years a duration is a typo, and far past it the conversion overflows.
  constexpr double kMaxMilliseconds = 1e12;
  if (number * scale > kMaxMilliseconds) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(number * scale));
}

}  // namespace claimcheck
