#include "eureka_codec.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <stdexcept>

namespace claimcheck::registry::eureka {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 5> kStatuses = {"UP", "DOWN", "STARTING", "OUT_OF_SERVICE",
                                                       "UNKNOWN"};

// Fields the server computes itself; whatever a registrant sends for them is dropped.
constexpr std::array<const char*, 7> kServerFields = {
    "leaseInfo", "lastUpdatedTimestamp", "lastDirtyTimestamp", "actionType",
    "status",    "overriddenStatus",     "overriddenstatus"};

const json* member(const json& object, std::string_view key) {
  const auto found = object.find(key);
  return found == object.end() || found->is_null() ? nullptr : &*found;
}

std::string nonblank_text(const json& object, std::string_view key) {
  const json* value = member(object, key);
  if (value == nullptr || !value->is_string()) {
    return {};
  }
  const auto& text = value->get_ref<const std::string&>();
  return text.find_first_not_of(" \t\r\n") == std::string::npos ? std::string() : text;
}

std::optional<std::int64_t> parse_integer(const json& value) {
  if (value.is_number_integer()) {
    return value.get<std::int64_t>();
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    std::int64_t number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error == std::errc() && end == text.data() + text.size() && !text.empty()) {
      return number;
    }
  }
  return std::nullopt;
}

std::optional<bool> parse_flag(const json& value) {
  if (value.is_boolean()) {
    return value.get<bool>();
  }
  if (value.is_string()) {
    const std::string text = lower_case(value.get_ref<const std::string&>());
    if (text == "true" || text == "false") {
      return text == "true";
    }
  }
  return std::nullopt;
}

// A normalized field, or the reason why it is invalid (then `error` is not empty).
struct Field {
  json value;
  std::string error;
};

// Eureka writes a port as {"$": 8080, "@enabled": "true"}; some clients send a plain number or a
// numeric string instead (case R1), which is accepted with the field's usual enabled flag.
Field normalize_port(const json& value, std::string_view field, bool default_enabled) {
  const std::string invalid = "Invalid " + std::string(field) +
                              ": expected {\"$\": <0-65535>, \"@enabled\": \"true\"} or a number";
  std::optional<std::int64_t> port;
  bool enabled = default_enabled;
  if (value.is_object()) {
    if (const json* number = member(value, "$")) {
      port = parse_integer(*number);
    }
    if (const json* flag = member(value, "@enabled")) {
      const auto parsed = parse_flag(*flag);
      if (!parsed) {
        return {{}, invalid};
      }
      enabled = *parsed;
    }
  } else {
    port = parse_integer(value);
  }
  if (!port || *port < 0 || *port > 65535) {
    return {{}, invalid};
  }
  return {json{{"$", *port}, {"@enabled", enabled ? "true" : "false"}}, {}};
}

// Eureka clients hold lease seconds in a Java int; anything larger is no lease a client meant,
// and would overflow the registry's clock arithmetic.
constexpr std::int64_t kMaxLeaseSeconds = 2'147'483'647;

std::optional<std::string> positive_seconds(const json& lease_info, std::string_view key,
                                            std::chrono::seconds& target) {
  const json* value = member(lease_info, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  const auto seconds = parse_integer(*value);
  if (!seconds || *seconds <= 0 || *seconds > kMaxLeaseSeconds) {
    return "Invalid leaseInfo." + std::string(key) + ": expected 1 to " +
           std::to_string(kMaxLeaseSeconds) + " seconds";
  }
  target = std::chrono::seconds(*seconds);
  return std::nullopt;
}

// The name of a missing or unusable dataCenterInfo part, or nothing when it is complete.
std::optional<std::string> missing_data_center(const json& instance) {
  const json* info = member(instance, "dataCenterInfo");
  if (info == nullptr) {
    return "dataCenterInfo";
  }
  if (!info->is_object() || nonblank_text(*info, "name").empty()) {
    return "dataCenterInfo name";
  }
  return std::nullopt;
}

Field normalize_metadata(const json& instance) {
  const json* metadata = member(instance, "metadata");
  if (metadata == nullptr) {
    return {json::object(), {}};
  }
  // An empty XML <metadata/> element reads as empty text.
  if (metadata->is_string() && metadata->get_ref<const std::string&>().empty()) {
    return {json::object(), {}};
  }
  if (!metadata->is_object()) {
    return {{}, "Invalid metadata: expected an object of strings"};
  }
  json normalized = json::object();
  for (const auto& [key, value] : metadata->items()) {
    // Eureka marks an empty map with its Java class rather than sending no member.
    if (key != "@class") {
      normalized[key] = value.is_string()
                            ? value.get<std::string>()
                            : value.dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  return {std::move(normalized), {}};
}

std::string normalize_status(const json& instance, std::string_view key,
                             std::string_view when_absent) {
  const std::string status = nonblank_text(instance, key);
  if (status.empty()) {
    return std::string(when_absent);
  }
  return parse_status(status).value_or("UNKNOWN");
}

int port_of(const json& value) {
  if (value.is_object()) {
    return static_cast<int>(parse_integer(value.at("$")).value_or(0));
  }
  return static_cast<int>(parse_integer(value).value_or(0));
}

std::string string_or_empty(const json& object, std::string_view key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

Instance instance_from(const json& item) {
  Instance instance;
  instance.app = string_or_empty(item, "app");
  instance.instance_id = string_or_empty(item, "instanceId");
  instance.host = string_or_empty(item, "hostName");
  instance.status = string_or_empty(item, "status");
  instance.home_page_url = string_or_empty(item, "homePageUrl");
  if (const json* port = member(item, "port")) {
    instance.port = port_of(*port);
  }
  if (instance.host.empty() || instance.port <= 0) {
    throw std::invalid_argument("instance '" + instance.instance_id + "' has no hostName or port");
  }
  if (const json* metadata = member(item, "metadata"); metadata && metadata->is_object()) {
    for (const auto& [key, value] : metadata->items()) {
      // Eureka marks an empty map with a Java class name rather than leaving it empty.
      if (key != "@class") {
        instance.metadata[key] = value.is_string()
                                     ? value.get<std::string>()
                                     : value.dump(-1, ' ', false, json::error_handler_t::replace);
      }
    }
  }
  return instance;
}

}  // namespace

std::optional<std::string> parse_status(std::string_view text) {
  const std::string status = upper_case(text);
  if (std::find(kStatuses.begin(), kStatuses.end(), status) == kStatuses.end()) {
    return std::nullopt;
  }
  return status;
}

std::string upper_case(std::string_view text) {
  std::string result(text);
  std::transform(result.begin(), result.end(), result.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return result;
}

std::string lower_case(std::string_view text) {
  std::string result(text);
  std::transform(result.begin(), result.end(), result.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return result;
}

std::variant<ValidRegistration, std::string> parse_registration(
    const json& body, std::string_view path_app, std::chrono::seconds default_lease) {
  const json* instance = body.is_object() ? member(body, "instance") : nullptr;
  if (instance == nullptr || !instance->is_object()) {
    return "Missing instance: expected {\"instance\": {...}}";
  }

  ValidRegistration registration;
  registration.lease_duration = default_lease;
  const std::string host = nonblank_text(*instance, "hostName");
  // Eureka's InstanceInfo falls back to the host name when no instanceId is given.
  registration.instance_id = nonblank_text(*instance, "instanceId");
  if (registration.instance_id.empty()) {
    registration.instance_id = host;
  }
  registration.app = upper_case(nonblank_text(*instance, "app"));

  // Every missing field is named at once, so that a registrant fixes them in one go.
  std::vector<std::string> missing;
  if (registration.instance_id.empty()) {
    missing.emplace_back("instanceId");
  }
  for (const char* field : {"hostName", "ipAddr", "app", "vipAddress"}) {
    if (nonblank_text(*instance, field).empty()) {
      missing.emplace_back(field);
    }
  }
  if (auto data_center = missing_data_center(*instance)) {
    missing.push_back(*data_center);
  }
  if (member(*instance, "port") == nullptr) {
    missing.emplace_back("port");
  }
  if (!missing.empty()) {
    std::string reason = "Missing ";
    for (std::size_t index = 0; index < missing.size(); ++index) {
      reason += (index == 0 ? "" : ", ") + missing[index];
    }
    return reason;
  }
  if (registration.app != upper_case(path_app)) {
    return "Mismatched app: the URL names " + upper_case(path_app) + " but the instance names " +
           registration.app;
  }

  Field normalized_port = normalize_port(*member(*instance, "port"), "port", true);
  if (!normalized_port.error.empty()) {
    return normalized_port.error;
  }
  Field normalized_secure_port{{{"$", 443}, {"@enabled", "false"}}, {}};
  if (const json* secure_port = member(*instance, "securePort")) {
    normalized_secure_port = normalize_port(*secure_port, "securePort", false);
    if (!normalized_secure_port.error.empty()) {
      return normalized_secure_port.error;
    }
  }

  if (const json* lease_info = member(*instance, "leaseInfo")) {
    if (!lease_info->is_object()) {
      return "Invalid leaseInfo: expected an object";
    }
    if (auto error =
            positive_seconds(*lease_info, "renewalIntervalInSecs", registration.renewal_interval)) {
      return *error;
    }
    if (auto error = positive_seconds(*lease_info, "durationInSecs", registration.lease_duration)) {
      return *error;
    }
  }
  Field metadata = normalize_metadata(*instance);
  if (!metadata.error.empty()) {
    return metadata.error;
  }
  if (const json* dirty = member(*instance, "lastDirtyTimestamp")) {
    registration.last_dirty_timestamp = parse_integer(*dirty).value_or(0);
  }

  registration.status = normalize_status(*instance, "status", "UP");
  registration.overridden_status = normalize_status(*instance, "overriddenStatus", "UNKNOWN");
  registration.instance = *instance;
  for (const char* field : kServerFields) {
    registration.instance.erase(field);
  }
  registration.instance["instanceId"] = registration.instance_id;
  registration.instance["app"] = registration.app;
  registration.instance["port"] = std::move(normalized_port.value);
  registration.instance["securePort"] = std::move(normalized_secure_port.value);
  registration.instance["metadata"] = std::move(metadata.value);
  if (!registration.instance.contains("countryId")) {
    registration.instance["countryId"] = 1;
  }
  registration.instance["isCoordinatingDiscoveryServer"] = "false";
  return registration;
}

json registration_body(const InstanceRegistration& registration,
                       std::int64_t last_dirty_timestamp) {
  Instance self;
  self.host = registration.host;
  self.port = registration.port;
  const std::string base = self.base_url();
  const std::string vip_address = lower_case(registration.app);
  json metadata = json::object();
  for (const auto& [key, value] : registration.metadata) {
    metadata[key] = value;
  }
  return {{"instance",
           {{"instanceId", registration.instance_id},
            {"hostName", registration.host},
            {"app", upper_case(registration.app)},
            {"ipAddr", registration.host},
            {"status", "UP"},
            {"overriddenStatus", "UNKNOWN"},
            {"port", {{"$", registration.port}, {"@enabled", "true"}}},
            {"securePort", {{"$", 443}, {"@enabled", "false"}}},
            {"countryId", 1},
            {"dataCenterInfo", {{"@class", kDataCenterClass}, {"name", "MyOwn"}}},
            {"leaseInfo",
             {{"renewalIntervalInSecs", registration.renewal_interval.count()},
              {"durationInSecs", registration.lease_duration.count()}}},
            {"metadata", std::move(metadata)},
            {"homePageUrl", base + "/"},
            {"statusPageUrl", base + "/health"},
            {"healthCheckUrl", base + "/health"},
            {"vipAddress", vip_address},
            {"secureVipAddress", vip_address},
            {"isCoordinatingDiscoveryServer", "false"},
            {"lastUpdatedTimestamp", std::to_string(last_dirty_timestamp)},
            {"lastDirtyTimestamp", std::to_string(last_dirty_timestamp)}}}};
}

std::vector<Instance> parse_application(const json& document) {
  const json& items = document.at("application").at("instance");
  std::vector<Instance> instances;
  // One unusable registration (no host, port 0) must not hide the app's good instances, so it
  // is skipped rather than failing the whole document.
  const auto add = [&instances](const json& item) {
    try {
      instances.push_back(instance_from(item));
    } catch (const std::invalid_argument& error) {
      spdlog::warn("ignoring a registry entry: {}", error.what());
    }
  };
  // Older Eureka JSON writes a single instance as an object rather than a one-element array.
  if (items.is_object()) {
    add(items);
  } else {
    for (const auto& item : items) {
      add(item);
    }
  }
  return instances;
}

}  // namespace claimcheck::registry::eureka
