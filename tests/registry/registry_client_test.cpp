#include "claimcheck/registry/registry_client.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "running_registry.hpp"

namespace claimcheck::registry {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::eventually;
using testing::RunningRegistry;

constexpr milliseconds kTimeout{1000};
constexpr milliseconds kNoCache{0};

InstanceRegistration orders_instance(int port = 9001) {
  InstanceRegistration registration;
  registration.app = "orders";
  registration.instance_id = "orders-" + std::to_string(port);
  registration.port = port;
  registration.metadata = {{"zone", "a"}};
  return registration;
}

// A TCP port on loopback that accepts connections into its backlog but never answers: the
// worst case for a client without read timeouts.
class SilentPort {
 public:
  SilentPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot open a silent loopback port");
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentPort() { ::close(fd_); }
  SilentPort(const SilentPort&) = delete;
  SilentPort& operator=(const SilentPort&) = delete;

  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// A loopback port with nothing listening: bound once to learn a free number, then closed.
int closed_port() {
  const SilentPort probe;
  return probe.port();
}

template <typename Call>
milliseconds elapsed(Call call) {
  const auto start = std::chrono::steady_clock::now();
  call();
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
}

TEST(RegistryClient, SendsTheCanonicalEurekaPayload) {
  std::mutex mutex;
  json received;
  std::string accept;
  std::string path;
  httplib::Server fake;
  fake.Post(R"(/eureka/apps/(.+))",
            [&](const httplib::Request& request, httplib::Response& response) {
              const std::scoped_lock lock(mutex);
              received = json::parse(request.body);
              accept = request.get_header_value("Accept");
              path = request.path;
              response.status = 204;
            });
  const int port = fake.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { fake.listen_after_bind(); });

  {
    RegistryClient client({"http://127.0.0.1:" + std::to_string(port) + "/eureka/"}, kTimeout);
    client.start(orders_instance(9001));
  }
  fake.stop();
  serving.join();

  const std::scoped_lock lock(mutex);
  EXPECT_EQ(path, "/eureka/apps/ORDERS");
  EXPECT_EQ(accept, "application/json");
  const json& instance = received["instance"];
  EXPECT_EQ(instance["instanceId"], "orders-9001");
  EXPECT_EQ(instance["app"], "ORDERS");
  EXPECT_EQ(instance["hostName"], "127.0.0.1");
  EXPECT_EQ(instance["ipAddr"], "127.0.0.1");
  EXPECT_EQ(instance["status"], "UP");
  EXPECT_EQ(instance["port"], (json{{"$", 9001}, {"@enabled", "true"}}));
  EXPECT_EQ(instance["dataCenterInfo"],
            (json{{"@class", "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"},
                  {"name", "MyOwn"}}));
  EXPECT_EQ(instance["leaseInfo"], (json{{"renewalIntervalInSecs", 30}, {"durationInSecs", 90}}));
  EXPECT_EQ(instance["vipAddress"], "orders");
  EXPECT_EQ(instance["homePageUrl"], "http://127.0.0.1:9001/");
  EXPECT_EQ(instance["healthCheckUrl"], "http://127.0.0.1:9001/health");
  EXPECT_EQ(instance["statusPageUrl"], "http://127.0.0.1:9001/health");
  EXPECT_EQ(instance["metadata"], (json{{"zone", "a"}}));
}

TEST(RegistryClient, ResolveReturnsTheRegisteredBaseUrl) {
  RunningRegistry registry;
  RegistryClient client({registry.eureka_url()}, kTimeout);
  client.start(orders_instance(9001));

  EXPECT_EQ(client.resolve("orders"), "http://127.0.0.1:9001");
  const auto found = client.instances("ORDERS");
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].instance_id, "orders-9001");
  EXPECT_EQ(found[0].app, "ORDERS");
  EXPECT_EQ(found[0].status, "UP");
  EXPECT_EQ(found[0].home_page_url, "http://127.0.0.1:9001/");
  EXPECT_EQ(found[0].metadata.at("zone"), "a");

  client.stop();
  EXPECT_EQ(registry.server().instance_count(), 0U) << "stop() must cancel the registration";
}

// Found by the bad-input review: one registration with port 0 made the whole application
// unreadable, so no service could find the auth server any more.
TEST(RegistryClient, AnUnusableRegistrationDoesNotHideTheGoodOnes) {
  RunningRegistry registry;
  RegistryClient client({registry.eureka_url()}, kTimeout, kNoCache);
  client.start(orders_instance(9001));
  const json broken = {{"instance",
                        {{"instanceId", "broken"},
                         {"hostName", "127.0.0.1"},
                         {"app", "ORDERS"},
                         {"ipAddr", "127.0.0.1"},
                         {"vipAddress", "orders"},
                         {"status", "UP"},
                         {"port", 0},
                         {"dataCenterInfo",
                          {{"@class", "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"},
                           {"name", "MyOwn"}}}}}};
  httplib::Client http = registry.client();
  const auto posted = http.Post("/eureka/apps/ORDERS", broken.dump(), "application/json");
  ASSERT_TRUE(posted);
  ASSERT_EQ(posted->status, 204);

  const auto found = client.instances("orders");
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].instance_id, "orders-9001");
  EXPECT_EQ(client.resolve("orders"), "http://127.0.0.1:9001");
  client.stop();
}

TEST(RegistryClient, ResolveRotatesAmongUpInstances) {
  RunningRegistry registry;
  RegistryClient first({registry.eureka_url()}, kTimeout);
  RegistryClient second({registry.eureka_url()}, kTimeout);
  first.start(orders_instance(9001));
  second.start(orders_instance(9002));

  RegistryClient lookup({registry.eureka_url()}, kTimeout);
  std::set<std::string> seen;
  for (int call = 0; call < 4; ++call) {
    seen.insert(lookup.resolve("orders"));
  }
  EXPECT_EQ(seen, (std::set<std::string>{"http://127.0.0.1:9001", "http://127.0.0.1:9002"}));
}

TEST(RegistryClient, ResolveOfUnknownAppNamesTheApp) {
  RunningRegistry registry;
  RegistryClient client({registry.eureka_url()}, kTimeout);
  try {
    client.resolve("billing");
    FAIL() << "expected RegistryError";
  } catch (const RegistryError& error) {
    EXPECT_NE(std::string(error.what()).find("BILLING"), std::string::npos) << error.what();
  }
}

TEST(RegistryClient, ReRegistersAfterTheRegistryForgetsIt) {
  RunningRegistry registry;
  InstanceRegistration registration = orders_instance(9001);
  registration.renewal_interval = seconds(1);
  RegistryClient client({registry.eureka_url()}, kTimeout);
  client.start(registration);

  // What a registry restart looks like to the client: its next heartbeat gets 404.
  auto http = registry.client();
  auto cancelled = http.Delete("/eureka/apps/ORDERS/orders-9001");
  ASSERT_TRUE(cancelled);
  ASSERT_EQ(cancelled->status, 200);
  ASSERT_EQ(registry.server().instance_count(), 0U);

  EXPECT_TRUE(eventually([&] { return registry.server().instance_count() == 1; }, seconds(4)));
  EXPECT_NE(registry.metrics().render().find("claimcheck_registry_unknown_heartbeats_total 1"),
            std::string::npos);
}

TEST(RegistryClient, HeartbeatsOutliveTheLease) {
  RegistryServerOptions options;
  options.eviction_interval = milliseconds(100);
  RunningRegistry registry(options);
  InstanceRegistration registration = orders_instance(9001);
  registration.renewal_interval = seconds(1);
  registration.lease_duration = seconds(2);
  RegistryClient client({registry.eureka_url()}, kTimeout);
  client.start(registration);

  std::this_thread::sleep_for(milliseconds(3500));
  EXPECT_EQ(registry.server().instance_count(), 1U);
  EXPECT_NE(registry.metrics().render().find("claimcheck_registry_evictions_total 0"),
            std::string::npos);
}

TEST(RegistryClient, InstancesFallsBackToTheLastCopyWhenTheRegistryIsDown) {
  RunningRegistry registry;
  RegistryClient service({registry.eureka_url()}, kTimeout);
  service.start(orders_instance(9001));
  RegistryClient lookup({registry.eureka_url()}, kTimeout, kNoCache);
  ASSERT_EQ(lookup.instances("orders").size(), 1U);

  registry.stop();
  const auto stale = lookup.instances("orders");
  ASSERT_EQ(stale.size(), 1U);
  EXPECT_EQ(stale[0].base_url(), "http://127.0.0.1:9001");
  EXPECT_EQ(lookup.resolve("orders"), "http://127.0.0.1:9001");
  EXPECT_THROW(lookup.instances("billing"), RegistryError);
}

TEST(RegistryClient, ClosedPortFailsFastNamingTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/eureka";
  RegistryClient client({url}, kTimeout);
  const auto took = elapsed([&] {
    try {
      client.start(orders_instance());
      FAIL() << "expected RegistryError";
    } catch (const RegistryError& error) {
      EXPECT_NE(std::string(error.what()).find(url), std::string::npos) << error.what();
    }
    try {
      client.instances("orders");
      FAIL() << "expected RegistryError";
    } catch (const RegistryError& error) {
      EXPECT_NE(std::string(error.what()).find(url), std::string::npos) << error.what();
    }
  });
  EXPECT_LT(took, 2 * kTimeout);
}

TEST(RegistryClient, SilentRegistryTimesOutInsteadOfHanging) {
  const SilentPort silent;
  const std::string url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/eureka";
  RegistryClient client({url}, milliseconds(500));
  const auto took = elapsed([&] {
    try {
      client.start(orders_instance());
      FAIL() << "expected RegistryError";
    } catch (const RegistryError& error) {
      EXPECT_NE(std::string(error.what()).find(url), std::string::npos) << error.what();
    }
  });
  EXPECT_LT(took, seconds(3));
}

TEST(RegistryClient, DeadFirstUrlFallsThroughToTheSecond) {
  RunningRegistry registry;
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port()) + "/eureka";
  RegistryClient client({dead, registry.eureka_url()}, kTimeout, kNoCache);
  client.start(orders_instance(9001));
  EXPECT_EQ(registry.server().instance_count(), 1U);
  EXPECT_EQ(client.resolve("orders"), "http://127.0.0.1:9001");
  client.stop();
  EXPECT_EQ(registry.server().instance_count(), 0U);
}

TEST(RegistryClient, SeveralRegistryUrlsShareTheLoad) {
  RunningRegistry first;
  RunningRegistry second;
  const std::vector<std::string> urls = {first.eureka_url(), second.eureka_url()};
  std::vector<std::unique_ptr<RegistryClient>> fleet;
  for (int port = 9001; port <= 9010; ++port) {
    fleet.push_back(std::make_unique<RegistryClient>(urls, kTimeout));
    fleet.back()->start(orders_instance(port));
  }
  EXPECT_GT(first.server().instance_count(), 0U);
  EXPECT_GT(second.server().instance_count(), 0U);
  EXPECT_EQ(first.server().instance_count() + second.server().instance_count(), 10U);

  // Lookups alternate: each registry here holds only its own share, so two lookups in a row
  // see both shares.
  RegistryClient lookup(urls, kTimeout, kNoCache);
  const auto one = lookup.instances("orders");
  const auto other = lookup.instances("orders");
  EXPECT_EQ(one.size() + other.size(), 10U);
}

TEST(RegistryClient, MalformedUrlIsRefused) {
  EXPECT_THROW(RegistryClient({"127.0.0.1:8761/eureka"}, kTimeout), RegistryError);
  EXPECT_THROW(RegistryClient({}, kTimeout), RegistryError);
}

}  // namespace
}  // namespace claimcheck::registry
