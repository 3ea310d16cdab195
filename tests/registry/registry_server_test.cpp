#include "claimcheck/registry/registry_server.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "eureka_requests.hpp"
#include "running_registry.hpp"

namespace claimcheck::registry {
namespace {

using nlohmann::json;
using testing::eureka_registration;
using testing::eventually;
using testing::get;
using testing::kAcceptJson;
using testing::kJsonType;
using testing::post;
using testing::RunningRegistry;

void expect_served_instance(const json& instance, std::int64_t before_ms) {
  EXPECT_EQ(instance["instanceId"], "orders-1");
  EXPECT_EQ(instance["hostName"], "10.1.2.3");
  EXPECT_EQ(instance["app"], "ORDERS");
  EXPECT_EQ(instance["ipAddr"], "10.1.2.3");
  EXPECT_EQ(instance["status"], "UP");
  EXPECT_EQ(instance["overriddenStatus"], "UNKNOWN");
  EXPECT_EQ(instance["port"], (json{{"$", 8080}, {"@enabled", "true"}}));
  EXPECT_EQ(instance["securePort"], (json{{"$", 8443}, {"@enabled", "false"}}));
  EXPECT_EQ(instance["countryId"], 1);
  EXPECT_EQ(instance["dataCenterInfo"]["@class"],
            "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo");
  EXPECT_EQ(instance["dataCenterInfo"]["name"], "MyOwn");
  EXPECT_EQ(instance["metadata"], (json{{"zone", "a"}, {"management.port", "8081"}}));
  EXPECT_EQ(instance["homePageUrl"], "http://10.1.2.3:8080/");
  EXPECT_EQ(instance["statusPageUrl"], "http://10.1.2.3:8080/actuator/info");
  EXPECT_EQ(instance["healthCheckUrl"], "http://10.1.2.3:8080/actuator/health");
  EXPECT_EQ(instance["vipAddress"], "orders");
  EXPECT_EQ(instance["secureVipAddress"], "orders");
  EXPECT_EQ(instance["isCoordinatingDiscoveryServer"], "false");
  EXPECT_EQ(instance["actionType"], "ADDED");

  const json& lease = instance["leaseInfo"];
  EXPECT_EQ(lease["renewalIntervalInSecs"], 30);
  EXPECT_EQ(lease["durationInSecs"], 90);
  ASSERT_TRUE(lease["registrationTimestamp"].is_number_integer());
  EXPECT_GE(lease["registrationTimestamp"].get<std::int64_t>(), before_ms);
  EXPECT_GE(lease["lastRenewalTimestamp"].get<std::int64_t>(),
            lease["registrationTimestamp"].get<std::int64_t>());
  EXPECT_EQ(lease["evictionTimestamp"], 0);
  EXPECT_GE(lease["serviceUpTimestamp"].get<std::int64_t>(), before_ms);
  // Eureka writes these two as strings; Spring's codec expects them so.
  ASSERT_TRUE(instance["lastUpdatedTimestamp"].is_string());
  EXPECT_GE(std::stoll(instance["lastUpdatedTimestamp"].get<std::string>()), before_ms);
  EXPECT_EQ(instance["lastDirtyTimestamp"], "1700000000000");
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(RegistryServer, RegisterHeartbeatListGetCancelRoundTrip) {
  RunningRegistry registry;
  auto client = registry.client();
  const std::int64_t before = now_ms();

  EXPECT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);

  auto heartbeat = client.Put("/eureka/apps/ORDERS/orders-1?status=UP", kAcceptJson, "", "");
  ASSERT_TRUE(heartbeat);
  EXPECT_EQ(heartbeat->status, 200);

  const auto [all_status, all] = get(client, "/eureka/apps");
  ASSERT_EQ(all_status, 200);
  const json& applications = all["applications"];
  EXPECT_EQ(applications["versions__delta"], "1");
  EXPECT_EQ(applications["apps__hashcode"], "UP_1_");
  ASSERT_EQ(applications["application"].size(), 1U);
  EXPECT_EQ(applications["application"][0]["name"], "ORDERS");
  ASSERT_EQ(applications["application"][0]["instance"].size(), 1U);
  expect_served_instance(applications["application"][0]["instance"][0], before);

  const auto [app_status, app] = get(client, "/eureka/apps/ORDERS");
  ASSERT_EQ(app_status, 200);
  EXPECT_EQ(app["application"]["name"], "ORDERS");
  ASSERT_EQ(app["application"]["instance"].size(), 1U);
  expect_served_instance(app["application"]["instance"][0], before);

  const auto [instance_status, instance] = get(client, "/eureka/apps/ORDERS/orders-1");
  ASSERT_EQ(instance_status, 200);
  expect_served_instance(instance["instance"], before);

  auto cancel = client.Delete("/eureka/apps/ORDERS/orders-1", kAcceptJson);
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 200);
  EXPECT_EQ(get(client, "/eureka/apps/ORDERS").first, 404);
  EXPECT_EQ(get(client, "/eureka/apps/ORDERS/orders-1").first, 404);
  EXPECT_EQ(get(client, "/eureka/apps").second["applications"]["application"].size(), 0U);

  auto second_cancel = client.Delete("/eureka/apps/ORDERS/orders-1", kAcceptJson);
  ASSERT_TRUE(second_cancel);
  EXPECT_EQ(second_cancel->status, 404);
}

TEST(RegistryServer, AppNamesAreCaseInsensitive) {
  RunningRegistry registry;
  auto client = registry.client();
  EXPECT_EQ(post(client, "orders", eureka_registration("Orders", "orders-1")), 204);
  const auto [status, app] = get(client, "/eureka/apps/oRdErS");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(app["application"]["name"], "ORDERS");
  EXPECT_EQ(app["application"]["instance"][0]["app"], "ORDERS");
}

// Case R1, first half: a plain-number port is accepted and served in Eureka's object form.
TEST(RegistryServer, PlainNumberPortIsAccepted) {
  RunningRegistry registry;
  auto client = registry.client();
  json body = eureka_registration("ORDERS", "orders-1");
  body["instance"]["port"] = 8080;
  body["instance"]["securePort"] = 8443;

  EXPECT_EQ(post(client, "ORDERS", body), 204);
  const auto [status, instance] = get(client, "/eureka/apps/ORDERS/orders-1");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(instance["instance"]["port"], (json{{"$", 8080}, {"@enabled", "true"}}));
  EXPECT_EQ(instance["instance"]["securePort"], (json{{"$", 8443}, {"@enabled", "false"}}));
}

// Case R1, second half, and the same for every other field Eureka requires.
TEST(RegistryServer, MissingRequiredFieldIsRefusedWithPlainTextReason) {
  RunningRegistry registry;
  auto client = registry.client();
  for (const std::string field :
       {"dataCenterInfo", "hostName", "app", "ipAddr", "vipAddress", "port"}) {
    SCOPED_TRACE(field);
    json body = eureka_registration("ORDERS", "orders-1");
    body["instance"].erase(field);
    std::string reason;
    std::string content_type;
    EXPECT_EQ(post(client, "ORDERS", body, &reason, &content_type), 400);
    EXPECT_NE(content_type.find("text/plain"), std::string::npos) << content_type;
    EXPECT_NE(reason.find(field), std::string::npos) << reason;
  }
  EXPECT_EQ(get(client, "/eureka/apps/ORDERS").first, 404);
  EXPECT_EQ(registry.server().instance_count(), 0U);
}

TEST(RegistryServer, EveryMissingFieldIsNamedAtOnce) {
  RunningRegistry registry;
  auto client = registry.client();
  json body = eureka_registration("ORDERS", "orders-1");
  for (const std::string field : {"ipAddr", "vipAddress", "dataCenterInfo"}) {
    body["instance"].erase(field);
  }
  std::string reason;
  EXPECT_EQ(post(client, "ORDERS", body, &reason), 400);
  EXPECT_EQ(reason, "Missing ipAddr, vipAddress, dataCenterInfo");
}

// Found by the bad-input review: a lease above ~9.2e9 s overflowed the expiry time, so the
// instance was evicted at once (or never).
TEST(RegistryServer, LeaseLongerThanAJavaIntIsRefused) {
  RunningRegistry registry;
  auto client = registry.client();
  json body = eureka_registration("ORDERS", "orders-1");
  body["instance"]["leaseInfo"]["durationInSecs"] = 10'000'000'000LL;
  std::string reason;
  EXPECT_EQ(post(client, "ORDERS", body, &reason), 400);
  EXPECT_NE(reason.find("leaseInfo.durationInSecs"), std::string::npos) << reason;

  body["instance"]["leaseInfo"]["durationInSecs"] = 2'147'483'647;
  EXPECT_EQ(post(client, "ORDERS", body), 204);
  EXPECT_EQ(registry.server().evict_expired(), 0U);
  EXPECT_EQ(get(client, "/eureka/apps/ORDERS/orders-1").first, 200);
}

TEST(RegistryServer, MalformedRegistrationsAreRefused) {
  RunningRegistry registry;
  auto client = registry.client();

  json bad_port = eureka_registration("ORDERS", "orders-1");
  bad_port["instance"]["port"] = {{"$", "eighty"}};
  std::string reason;
  EXPECT_EQ(post(client, "ORDERS", bad_port, &reason), 400);
  EXPECT_NE(reason.find("port"), std::string::npos) << reason;

  EXPECT_EQ(post(client, "BILLING", eureka_registration("ORDERS", "orders-1"), &reason), 400);
  EXPECT_NE(reason.find("BILLING"), std::string::npos) << reason;

  EXPECT_EQ(post(client, "ORDERS", json{{"something", "else"}}, &reason), 400);
  EXPECT_NE(reason.find("instance"), std::string::npos) << reason;

  auto not_json = client.Post("/eureka/apps/ORDERS", kAcceptJson, "{\"instance\":", kJsonType);
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  EXPECT_NE(not_json->body.find("not JSON"), std::string::npos) << not_json->body;

  auto not_xml = client.Post("/eureka/apps/ORDERS", kAcceptJson, "<instance><app>", "text/xml");
  ASSERT_TRUE(not_xml);
  EXPECT_EQ(not_xml->status, 400);
  EXPECT_NE(not_xml->body.find("XML"), std::string::npos) << not_xml->body;
}

TEST(RegistryServer, HeartbeatForUnknownInstanceIs404) {
  RunningRegistry registry;
  auto client = registry.client();
  auto unknown = client.Put("/eureka/apps/ORDERS/nobody", kAcceptJson, "", "");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);

  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  // A client whose copy is newer than the registry's must register again.
  auto newer = client.Put("/eureka/apps/ORDERS/orders-1?lastDirtyTimestamp=1800000000000",
                          kAcceptJson, "", "");
  ASSERT_TRUE(newer);
  EXPECT_EQ(newer->status, 404);
}

TEST(RegistryServer, ExpiredLeaseIsEvictedWhenHeartbeatsStop) {
  RegistryServerOptions options;
  options.eviction_interval = std::chrono::milliseconds(100);
  options.self_preservation = false;
  RunningRegistry registry(options);
  auto client = registry.client();
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "short-lived", 1)), 204);
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "long-lived", 90)), 204);
  ASSERT_EQ(get(client, "/eureka/apps/ORDERS/short-lived").first, 200);

  EXPECT_TRUE(
      eventually([&] { return get(client, "/eureka/apps/ORDERS/short-lived").first == 404; },
                 std::chrono::seconds(4)));
  EXPECT_EQ(get(client, "/eureka/apps/ORDERS/long-lived").first, 200);
  EXPECT_NE(registry.metrics().render().find("claimcheck_registry_evictions_total 1"),
            std::string::npos);
}

TEST(RegistryServer, HeartbeatsKeepAShortLeaseAlive) {
  RegistryServerOptions options;
  options.eviction_interval = std::chrono::milliseconds(100);
  RunningRegistry registry(options);
  auto client = registry.client();
  // Six beats half a second apart span 1.5 leases of 2 s.
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1", 2)), 204);
  for (int beat = 0; beat < 6; ++beat) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto renewed = client.Put("/eureka/apps/ORDERS/orders-1", kAcceptJson, "", "");
    ASSERT_TRUE(renewed);
    ASSERT_EQ(renewed->status, 200) << "evicted after " << beat << " heartbeats";
  }
}

TEST(RegistryServer, MetricsCountRegistryActivity) {
  RunningRegistry registry;
  auto client = registry.client();
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-2")), 204);
  ASSERT_TRUE(client.Put("/eureka/apps/ORDERS/orders-1", kAcceptJson, "", ""));
  ASSERT_TRUE(client.Delete("/eureka/apps/ORDERS/orders-2", kAcceptJson));

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("claimcheck_registry_instances 1\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("claimcheck_registry_registrations_total 2\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("claimcheck_registry_heartbeats_total 1\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("claimcheck_registry_cancels_total 1\n"), std::string::npos);
}

TEST(RegistryServer, InstanceLimitPerAppIsEnforced) {
  RegistryServerOptions options;
  options.max_instances_per_app = 2;
  RunningRegistry registry(options);
  auto client = registry.client();
  EXPECT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  EXPECT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-2")), 204);
  std::string reason;
  EXPECT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-3"), &reason), 429);
  EXPECT_NE(reason.find("ORDERS"), std::string::npos) << reason;
  // Re-registering a known instance is not a new one.
  EXPECT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-2")), 204);
}

TEST(RegistryServer, DeltaListsRecentChanges) {
  RunningRegistry registry;
  auto client = registry.client();
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-2")), 204);
  ASSERT_TRUE(client.Delete("/eureka/apps/ORDERS/orders-2", kAcceptJson));

  const auto [status, delta] = get(client, "/eureka/apps/delta");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(delta["applications"]["apps__hashcode"], "UP_1_");
  const json& changes = delta["applications"]["application"][0]["instance"];
  ASSERT_EQ(changes.size(), 3U);
  EXPECT_EQ(changes[2]["instanceId"], "orders-2");
  EXPECT_EQ(changes[2]["actionType"], "DELETED");
}

}  // namespace
}  // namespace claimcheck::registry
