// The parts of Eureka's protocol beyond register/heartbeat/cancel: XML, status overrides,
// metadata, lookups by id and VIP, the hash code and version, and self-preservation.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "eureka_requests.hpp"
#include "running_registry.hpp"

namespace claimcheck::registry {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::eureka_registration;
using testing::eventually;
using testing::get;
using testing::kAcceptJson;
using testing::post;
using testing::RunningRegistry;

const httplib::Headers kAcceptXml = {{"Accept", "application/xml"}};

// A registration as Eureka's XStream codec writes it (the Netflix client's default format).
constexpr const char* kXmlRegistration = R"(<instance>
  <instanceId>billing-1</instanceId>
  <hostName>10.1.2.4</hostName>
  <app>BILLING</app>
  <ipAddr>10.1.2.4</ipAddr>
  <status>UP</status>
  <overriddenstatus>UNKNOWN</overriddenstatus>
  <port enabled="true">8081</port>
  <securePort enabled="false">443</securePort>
  <countryId>1</countryId>
  <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
    <name>MyOwn</name>
  </dataCenterInfo>
  <leaseInfo>
    <renewalIntervalInSecs>30</renewalIntervalInSecs>
    <durationInSecs>90</durationInSecs>
  </leaseInfo>
  <metadata><zone>b</zone></metadata>
  <homePageUrl>http://10.1.2.4:8081/</homePageUrl>
  <vipAddress>billing</vipAddress>
  <secureVipAddress>billing-secure</secureVipAddress>
  <lastDirtyTimestamp>1700000000000</lastDirtyTimestamp>
</instance>)";

int put(httplib::Client& client, const std::string& path) {
  auto result = client.Put(path, kAcceptJson, "", "");
  return result ? result->status : 0;
}

int del(httplib::Client& client, const std::string& path) {
  auto result = client.Delete(path, kAcceptJson);
  return result ? result->status : 0;
}

json instance_of(httplib::Client& client, const std::string& path) {
  return get(client, path).second["instance"];
}

TEST(RegistryProtocol, XmlRegistrationIsServedInXmlAndJson) {
  RunningRegistry registry;
  auto client = registry.client();
  auto posted =
      client.Post("/eureka/apps/BILLING", kAcceptXml, kXmlRegistration, "application/xml");
  ASSERT_TRUE(posted);
  ASSERT_EQ(posted->status, 204) << posted->body;

  auto xml = client.Get("/eureka/apps/BILLING/billing-1", kAcceptXml);
  ASSERT_TRUE(xml);
  ASSERT_EQ(xml->status, 200);
  EXPECT_NE(xml->get_header_value("Content-Type").find("application/xml"), std::string::npos);
  pugi::xml_document document;
  ASSERT_TRUE(document.load_string(xml->body.c_str())) << xml->body;
  const pugi::xml_node instance = document.child("instance");
  EXPECT_STREQ(instance.child_value("app"), "BILLING");
  EXPECT_STREQ(instance.child_value("status"), "UP");
  EXPECT_STREQ(instance.child_value("overriddenstatus"), "UNKNOWN");
  EXPECT_STREQ(instance.child_value("port"), "8081");
  EXPECT_STREQ(instance.child("port").attribute("enabled").value(), "true");
  EXPECT_STREQ(instance.child("dataCenterInfo").attribute("class").value(),
               "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo");
  EXPECT_STREQ(instance.child("dataCenterInfo").child_value("name"), "MyOwn");
  EXPECT_STREQ(instance.child("leaseInfo").child_value("durationInSecs"), "90");
  EXPECT_STREQ(instance.child("metadata").child_value("zone"), "b");
  EXPECT_STREQ(instance.child_value("lastDirtyTimestamp"), "1700000000000");

  const json served = instance_of(client, "/eureka/apps/BILLING/billing-1");
  EXPECT_EQ(served["port"], (json{{"$", 8081}, {"@enabled", "true"}}));
  EXPECT_EQ(served["metadata"], (json{{"zone", "b"}}));

  auto all = client.Get("/eureka/apps", kAcceptXml);
  ASSERT_TRUE(all);
  pugi::xml_document apps;
  ASSERT_TRUE(apps.load_string(all->body.c_str())) << all->body;
  EXPECT_STREQ(apps.child("applications").child_value("apps__hashcode"), "UP_1_");
  EXPECT_STREQ(apps.child("applications").child("application").child_value("name"), "BILLING");
}

TEST(RegistryProtocol, XmlRegistrationMissingDataCenterInfoIsRefused) {
  RunningRegistry registry;
  auto client = registry.client();
  std::string body = kXmlRegistration;
  const auto start = body.find("  <dataCenterInfo");
  body.erase(start, body.find("</dataCenterInfo>") + 18 - start);
  auto posted = client.Post("/eureka/apps/BILLING", kAcceptXml, body, "text/xml");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 400);
  EXPECT_EQ(posted->body, "Missing dataCenterInfo");
}

TEST(RegistryProtocol, StatusOverrideWinsUntilRemoved) {
  RunningRegistry registry;
  auto client = registry.client();
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  const std::string path = "/eureka/apps/ORDERS/orders-1";

  EXPECT_EQ(put(client, path + "/status?value=OUT_OF_SERVICE"), 200);
  json instance = instance_of(client, path);
  EXPECT_EQ(instance["status"], "OUT_OF_SERVICE");
  EXPECT_EQ(instance["overriddenStatus"], "OUT_OF_SERVICE");
  EXPECT_EQ(get(client, "/eureka/apps").second["applications"]["apps__hashcode"],
            "OUT_OF_SERVICE_1_");

  // The instance re-registers as UP (a restart): the override still wins.
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  EXPECT_EQ(instance_of(client, path)["status"], "OUT_OF_SERVICE");
  EXPECT_EQ(put(client, path), 200);

  EXPECT_EQ(del(client, path + "/status?value=UP"), 200);
  instance = instance_of(client, path);
  EXPECT_EQ(instance["status"], "UP");
  EXPECT_EQ(instance["overriddenStatus"], "UNKNOWN");

  // Removed without a new status, the instance is UNKNOWN until it registers again, which its
  // next heartbeat's 404 makes it do.
  EXPECT_EQ(put(client, path + "/status?value=DOWN"), 200);
  EXPECT_EQ(del(client, path + "/status"), 200);
  EXPECT_EQ(instance_of(client, path)["status"], "UNKNOWN");
  EXPECT_EQ(put(client, path), 404);
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  EXPECT_EQ(instance_of(client, path)["status"], "UP");
  EXPECT_EQ(put(client, path), 200);
}

TEST(RegistryProtocol, StatusOverrideOfUnknownOrWithBadValue) {
  RunningRegistry registry;
  auto client = registry.client();
  EXPECT_EQ(put(client, "/eureka/apps/ORDERS/nobody/status?value=DOWN"), 404);
  EXPECT_EQ(del(client, "/eureka/apps/ORDERS/nobody/status"), 404);
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  auto bad = client.Put("/eureka/apps/ORDERS/orders-1/status?value=SLEEPY", kAcceptJson, "", "");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("OUT_OF_SERVICE"), std::string::npos) << bad->body;
}

TEST(RegistryProtocol, MetadataUpdateMergesIntoTheInstance) {
  RunningRegistry registry;
  auto client = registry.client();
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  EXPECT_EQ(put(client, "/eureka/apps/ORDERS/orders-1/metadata?zone=c&weight=3"), 200);
  EXPECT_EQ(instance_of(client, "/eureka/apps/ORDERS/orders-1")["metadata"],
            (json{{"zone", "c"}, {"weight", "3"}, {"management.port", "8081"}}));
  EXPECT_EQ(put(client, "/eureka/apps/ORDERS/nobody/metadata?zone=c"), 404);
  EXPECT_EQ(put(client, "/eureka/apps/ORDERS/orders-1/metadata"), 400);
}

// Found by the bad-input review: a metadata value that is not UTF-8 made every JSON view of the
// registry answer 500 until the instance was cancelled.
TEST(RegistryProtocol, MetadataThatIsNotUtf8KeepsTheJsonViewsUp) {
  RunningRegistry registry;
  auto client = registry.client();
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  put(client, "/eureka/apps/ORDERS/orders-1/metadata?zone=%FF");
  for (const char* path : {"/eureka/apps", "/eureka/apps/ORDERS", "/eureka/apps/delta"}) {
    const auto reply = client.Get(path, kAcceptJson);
    ASSERT_TRUE(reply) << path;
    EXPECT_EQ(reply->status, 200) << path;
    EXPECT_TRUE(json::accept(reply->body)) << path;
  }
}

TEST(RegistryProtocol, InstanceByIdAndVipLookups) {
  RunningRegistry registry;
  auto client = registry.client();
  json orders = eureka_registration("ORDERS", "orders-1");
  orders["instance"]["vipAddress"] = "orders,shop";
  orders["instance"]["secureVipAddress"] = "orders-secure";
  ASSERT_EQ(post(client, "ORDERS", orders), 204);
  json billing = eureka_registration("BILLING", "billing-1");
  billing["instance"]["vipAddress"] = "shop";
  ASSERT_EQ(post(client, "BILLING", billing), 204);

  const auto [status, by_id] = get(client, "/eureka/instances/billing-1");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(by_id["instance"]["app"], "BILLING");
  EXPECT_EQ(get(client, "/eureka/instances/nobody").first, 404);

  const auto [shop_status, shop] = get(client, "/eureka/vips/shop");
  ASSERT_EQ(shop_status, 200);
  const json& shop_apps = shop["applications"]["application"];
  ASSERT_EQ(shop_apps.size(), 2U);
  EXPECT_EQ(shop_apps[0]["name"], "BILLING");
  EXPECT_EQ(shop_apps[1]["name"], "ORDERS");

  const json secure = get(client, "/eureka/svips/orders-secure").second;
  ASSERT_EQ(secure["applications"]["application"].size(), 1U);
  EXPECT_EQ(secure["applications"]["application"][0]["instance"][0]["instanceId"], "orders-1");
  EXPECT_EQ(get(client, "/eureka/vips/orders-secure").second["applications"]["application"].size(),
            0U);
}

TEST(RegistryProtocol, VersionDeltaCountsChangesNotHeartbeats) {
  RunningRegistry registry;
  auto client = registry.client();
  const auto version = [&] {
    return std::stoll(
        get(client, "/eureka/apps").second["applications"]["versions__delta"].get<std::string>());
  };
  const auto before = version();
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  EXPECT_EQ(version(), before + 1);
  EXPECT_EQ(put(client, "/eureka/apps/ORDERS/orders-1"), 200);
  EXPECT_EQ(version(), before + 1);
  EXPECT_EQ(put(client, "/eureka/apps/ORDERS/orders-1/status?value=DOWN"), 200);
  EXPECT_EQ(version(), before + 2);

  const json delta = get(client, "/eureka/apps/delta").second["applications"];
  EXPECT_EQ(delta["versions__delta"], std::to_string(before + 2));
  EXPECT_EQ(delta["apps__hashcode"], "DOWN_1_");
  const json& changes = delta["application"][0]["instance"];
  ASSERT_EQ(changes.size(), 2U);
  EXPECT_EQ(changes[1]["actionType"], "MODIFIED");
  EXPECT_EQ(changes[1]["status"], "DOWN");
}

// Sends raw HTTP on a fresh connection and returns how long the reply took and its first line.
std::pair<milliseconds, std::string> raw_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval limit{15, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  const auto start = std::chrono::steady_clock::now();
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buffer[512];
    const ssize_t got = ::recv(fd, buffer, sizeof(buffer), 0);
    reply.assign(buffer, got > 0 ? static_cast<std::size_t>(got) : 0);
  }
  ::close(fd);
  return {std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start),
          reply.substr(0, reply.find("\r\n"))};
}

// Found by the review: a heartbeat without Content-Length (as some HTTP clients send a PUT
// without a body) waited 10 s for a body that HTTP/1.1 says is not there.
TEST(RegistryProtocol, BodylessRequestsWithoutContentLengthAnswerAtOnce) {
  RunningRegistry registry;
  auto client = registry.client();
  ASSERT_EQ(post(client, "ORDERS", eureka_registration("ORDERS", "orders-1")), 204);
  for (const std::string line :
       {"PUT /eureka/apps/ORDERS/orders-1 HTTP/1.1", "PUT /eureka/apps/ORDERS/nobody HTTP/1.1",
        "PUT /eureka/apps/ORDERS/orders-1/status?value=DOWN HTTP/1.1",
        "DELETE /eureka/apps/ORDERS/orders-1 HTTP/1.1"}) {
    SCOPED_TRACE(line);
    const auto [took, status_line] = raw_exchange(
        registry.port(), line + "\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n");
    EXPECT_LT(took, milliseconds(2000));
    EXPECT_NE(status_line.find(line.find("nobody") == std::string::npos ? " 200" : " 404"),
              std::string::npos)
        << status_line;
  }
  EXPECT_EQ(registry.server().instance_count(), 0U);
}

RegistryServerOptions fast_self_preservation(bool enabled) {
  RegistryServerOptions options;
  options.eviction_interval = milliseconds(100);
  options.self_preservation = enabled;
  options.renewal_measurement_window = milliseconds(1000);
  options.expected_client_renewal_interval = std::chrono::seconds(1);
  return options;
}

// Four instances renew, then all fall silent at once: what a network split looks like.
void register_then_fall_silent(RunningRegistry& registry) {
  auto client = registry.client();
  for (int index = 0; index < 4; ++index) {
    ASSERT_EQ(
        post(client, "ORDERS", eureka_registration("ORDERS", "orders-" + std::to_string(index), 2)),
        204);
  }
  const auto until = std::chrono::steady_clock::now() + milliseconds(2500);
  while (std::chrono::steady_clock::now() < until) {
    for (int index = 0; index < 4; ++index) {
      ASSERT_EQ(put(client, "/eureka/apps/ORDERS/orders-" + std::to_string(index)), 200);
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
}

TEST(RegistryProtocol, SelfPreservationKeepsLeasesWhenMostRenewalsStop) {
  RunningRegistry registry(fast_self_preservation(true));
  register_then_fall_silent(registry);
  auto client = registry.client();
  // Leases of 2 s run out; the 1 s windows since then saw no renewal, below the threshold of
  // 4 clients x 1 renewal per window x 0.85 = 3.
  std::this_thread::sleep_for(milliseconds(3500));
  EXPECT_EQ(registry.server().instance_count(), 4U);
  const json status = get(client, "/dashboard/status").second["selfPreservation"];
  EXPECT_EQ(status["active"], true);
  EXPECT_EQ(status["renewsThreshold"], 3);
  EXPECT_EQ(status["renewsLastWindow"], 0);
  EXPECT_NE(status["reason"].get<std::string>().find("threshold of 3"), std::string::npos)
      << status["reason"];
  EXPECT_NE(registry.metrics().render().find("claimcheck_registry_self_preservation_active 1"),
            std::string::npos);
}

TEST(RegistryProtocol, WithoutSelfPreservationSilentLeasesAreEvicted) {
  RunningRegistry registry(fast_self_preservation(false));
  register_then_fall_silent(registry);
  EXPECT_TRUE(
      eventually([&] { return registry.server().instance_count() == 0; }, milliseconds(4000)));
  auto client = registry.client();
  EXPECT_EQ(get(client, "/dashboard/status").second["selfPreservation"]["active"], false);
}

TEST(RegistryProtocol, DashboardPageIsServedAtRoot) {
  RunningRegistry registry;
  auto client = registry.client();
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("/eureka/apps"), std::string::npos);
}

}  // namespace
}  // namespace claimcheck::registry
