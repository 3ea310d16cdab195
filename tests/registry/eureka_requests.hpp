#pragma once

// Eureka requests as Spring Cloud's client sends them, for the registry server tests.

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace claimcheck::registry::testing {

using nlohmann::json;

inline const httplib::Headers kAcceptJson = {{"Accept", "application/json"}};
inline constexpr const char* kJsonType = "application/json";

// A registration as Spring Cloud Netflix's Eureka client sends it.
inline json eureka_registration(const std::string& app, const std::string& id,
                                int lease_seconds = 90) {
  return {
      {"instance",
       {{"instanceId", id},
        {"hostName", "10.1.2.3"},
        {"app", app},
        {"ipAddr", "10.1.2.3"},
        {"status", "UP"},
        {"overriddenStatus", "UNKNOWN"},
        {"port", {{"$", 8080}, {"@enabled", "true"}}},
        {"securePort", {{"$", 8443}, {"@enabled", "false"}}},
        {"countryId", 1},
        {"dataCenterInfo",
         {{"@class", "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"}, {"name", "MyOwn"}}},
        {"leaseInfo", {{"renewalIntervalInSecs", 30}, {"durationInSecs", lease_seconds}}},
        {"metadata", {{"zone", "a"}, {"management.port", "8081"}}},
        {"homePageUrl", "http://10.1.2.3:8080/"},
        {"statusPageUrl", "http://10.1.2.3:8080/actuator/info"},
        {"healthCheckUrl", "http://10.1.2.3:8080/actuator/health"},
        {"vipAddress", "orders"},
        {"secureVipAddress", "orders"},
        {"isCoordinatingDiscoveryServer", "false"},
        {"lastUpdatedTimestamp", "1700000000000"},
        {"lastDirtyTimestamp", "1700000000000"}}}};
}

inline int post(httplib::Client& client, const std::string& app, const json& body,
                std::string* reply = nullptr, std::string* content_type = nullptr) {
  auto result = client.Post("/eureka/apps/" + app, kAcceptJson, body.dump(), "application/json");
  if (!result) {
    ADD_FAILURE() << "POST failed: " << httplib::to_string(result.error());
    return 0;
  }
  if (reply != nullptr) {
    *reply = result->body;
  }
  if (content_type != nullptr) {
    *content_type = result->get_header_value("Content-Type");
  }
  return result->status;
}

// Status and parsed JSON body (null when the body is not JSON) of a GET.
inline std::pair<int, json> get(httplib::Client& client, const std::string& path) {
  auto result = client.Get(path, kAcceptJson);
  if (!result) {
    ADD_FAILURE() << "GET " << path << " failed: " << httplib::to_string(result.error());
    return {0, nullptr};
  }
  return {result->status, json::parse(result->body, nullptr, false)};
}

}  // namespace claimcheck::registry::testing
