#pragma once

// The Eureka JSON wire format, shared by the registry server and the registry client: validating
// an incoming registration, building the canonical registration payload, and reading instances
// out of an application document.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "claimcheck/registry/registry_client.hpp"

namespace claimcheck::registry::eureka {

inline constexpr std::string_view kDataCenterClass =
    "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";

/// A registration that passed validation.
struct ValidRegistration {
  std::string app;  ///< upper-case
  std::string instance_id;
  /// The status the instance reports (UP when it sends none).
  std::string status;
  /// A status override the registration carries (UNKNOWN for none); replicas carry the one set
  /// on their origin node.
  std::string overridden_status;
  std::chrono::seconds renewal_interval{30};
  std::chrono::seconds lease_duration{90};
  /// The registrant's lastDirtyTimestamp (milliseconds), 0 when it sent none.
  std::int64_t last_dirty_timestamp = 0;
  /// The instance object normalized to the shape Eureka serves (port objects, upper-case app,
  /// defaults filled in); status, lease and timestamps are added by the server when it serves
  /// it.
  nlohmann::json instance;
};

/// Validates a {"instance": {...}} registration body for application `path_app`. On failure
/// returns a reason that names every missing required field, or the malformed one.
std::variant<ValidRegistration, std::string> parse_registration(const nlohmann::json& body,
                                                                std::string_view path_app,
                                                                std::chrono::seconds default_lease);

/// The canonical Eureka registration body for `registration` (whose instance id is filled in).
nlohmann::json registration_body(const InstanceRegistration& registration,
                                 std::int64_t last_dirty_timestamp);

/// The instances of an {"application": {...}} document; throws nlohmann::json::exception or
/// std::invalid_argument when the document does not have that shape.
std::vector<Instance> parse_application(const nlohmann::json& document);

/// One of Eureka's instance statuses (UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN), upper-cased;
/// nothing for any other text.
std::optional<std::string> parse_status(std::string_view text);

/// ASCII upper-case, as Eureka normalizes application names.
std::string upper_case(std::string_view text);
std::string lower_case(std::string_view text);

}  // namespace claimcheck::registry::eureka
