// Registry throughput and memory: starts claimcheck-registry as its own process, registers
// 10,000 instances over the Eureka API, prints the registry's resident memory, then sends
// heartbeats from several keep-alive connections for a fixed time and prints how many the
// registry renewed per second.
//
//   registry_bench [--instances N] [--seconds S] [--connections C] [--registry PATH]
//
// Client and registry share the machine, so the heartbeat figure is a floor for the registry
// alone.

#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawn

namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kInstancesPerApp = 100;

std::string instance_id(int index) { return "bench-" + std::to_string(index); }
std::string app_of(int index) { return "BENCH-" + std::to_string(index / kInstancesPerApp); }

std::string registration(int index) {
  const std::string app = app_of(index);
  return json{
      {"instance",
       {{"instanceId", instance_id(index)},
        {"hostName", "10.0.0.1"},
        {"app", app},
        {"ipAddr", "10.0.0.1"},
        {"status", "UP"},
        {"port", {{"$", 10000 + (index % 50000)}, {"@enabled", "true"}}},
        {"dataCenterInfo",
         {{"@class", "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"}, {"name", "MyOwn"}}},
        {"leaseInfo", {{"renewalIntervalInSecs", 30}, {"durationInSecs", 90}}},
        {"metadata", {{"zone", "a"}}},
        {"homePageUrl", "http://10.0.0.1:8080/"},
        {"healthCheckUrl", "http://10.0.0.1:8080/health"},
        {"vipAddress", "bench"}}}}
      .dump();
}

// A loopback port that was free a moment ago: bound once to learn its number, then closed.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!bound) {
    throw std::runtime_error("cannot find a free loopback port");
  }
  return ntohs(address.sin_port);
}

// The registry under test, stopped with SIGTERM when this goes out of scope.
class RegistryProcess {
 public:
  RegistryProcess(const std::string& binary, int port, int instances) {
    std::vector<std::string> args = {binary,
                                     "--set",
                                     "server.port=" + std::to_string(port),
                                     "--set",
                                     "registry.max-instances-per-app=" + std::to_string(instances),
                                     "--set",
                                     "logging.level=warn"};
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + binary);
    }
  }
  ~RegistryProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  RegistryProcess(const RegistryProcess&) = delete;
  RegistryProcess& operator=(const RegistryProcess&) = delete;

  [[nodiscard]] double resident_mib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        return std::stod(line.substr(6)) / 1024.0;  // the line is "VmRSS:  12345 kB"
      }
    }
    throw std::runtime_error("no VmRSS for the registry process");
  }

 private:
  pid_t pid_ = 0;
};

httplib::Client connect(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);  // else a POST's two writes wait out the peer's delayed ACK
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  return client;
}

void wait_until_serving(int port) {
  const auto deadline = SteadyClock::now() + std::chrono::seconds(20);
  while (SteadyClock::now() < deadline) {
    httplib::Client client = connect(port);
    if (auto reply = client.Get("/eureka/apps"); reply && reply->status == 200) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("the registry did not serve within 20 s");
}

// Runs `work(connection index, client)` on `connections` threads and waits for them.
template <typename Work>
void on_connections(int port, int connections, Work work) {
  std::vector<std::thread> threads;
  for (int connection = 0; connection < connections; ++connection) {
    threads.emplace_back([=] {
      httplib::Client client = connect(port);
      work(connection, client);
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"claimcheck registry benchmark: heartbeats per second and resident memory"};
  int instances = 10'000;
  int seconds = 10;
  int connections = 4;
  std::string binary = CLAIMCHECK_REGISTRY_BINARY;
  app.add_option("--instances", instances, "instances to register")->check(CLI::PositiveNumber);
  app.add_option("--seconds", seconds, "how long to send heartbeats")->check(CLI::PositiveNumber);
  app.add_option("--connections", connections, "keep-alive connections sending heartbeats")
      ->check(CLI::Range(1, 7));
  app.add_option("--registry", binary, "the claimcheck-registry executable");
  CLI11_PARSE(app, argc, argv);

  try {
    const int port = free_port();
    RegistryProcess registry(binary, port, instances);
    wait_until_serving(port);
    const double idle_mib = registry.resident_mib();

    std::atomic<int> refused = 0;
    const auto registering = SteadyClock::now();
    on_connections(port, connections, [&](int connection, httplib::Client& client) {
      for (int index = connection; index < instances; index += connections) {
        auto reply =
            client.Post("/eureka/apps/" + app_of(index), registration(index), "application/json");
        if (!reply || reply->status != 204) {
          ++refused;
        }
      }
    });
    const double register_seconds =
        std::chrono::duration<double>(SteadyClock::now() - registering).count();
    if (refused > 0) {
      std::fprintf(stderr, "%d registrations failed\n", refused.load());
      return 1;
    }
    const double loaded_mib = registry.resident_mib();

    std::atomic<long> renewed = 0;
    std::atomic<long> failed = 0;
    const auto until = SteadyClock::now() + std::chrono::seconds(seconds);
    on_connections(port, connections, [&](int connection, httplib::Client& client) {
      for (int index = connection; SteadyClock::now() < until; index += connections) {
        const int target = index % instances;
        auto reply = client.Put(
            "/eureka/apps/" + app_of(target) + "/" + instance_id(target) + "?status=UP", "", "");
        ++(reply && reply->status == 200 ? renewed : failed);
      }
    });

    std::printf("instances registered:        %d in %.2f s (%.0f per second)\n", instances,
                register_seconds, instances / register_seconds);
    std::printf(
        "registry resident memory:    %.1f MiB idle, %.1f MiB with %d instances "
        "(%.2f KiB per instance)\n",
        idle_mib, loaded_mib, instances, (loaded_mib - idle_mib) * 1024 / instances);
    std::printf(
        "heartbeats renewed:          %.0f per second over %d keep-alive connections "
        "(%ld in %d s, %ld failed)\n",
        static_cast<double>(renewed) / seconds, connections, renewed.load(), seconds,
        failed.load());
    return failed > 0 ? 1 : 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "registry_bench: %s\n", error.what());
    return 2;
  }
}
