#include "claimcheck/registry/registry_client.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "claimcheck/common/http_error.hpp"
#include "eureka_codec.hpp"

namespace claimcheck::registry {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// One registry service URL split the way cpp-httplib wants it.
struct RegistryUrl {
  std::string text;    // as configured, for messages
  std::string origin;  // scheme://host:port
  std::string path;    // e.g. /eureka, without a trailing slash
};

RegistryUrl parse_url(const std::string& text) {
  const auto scheme_end = text.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : text.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    throw RegistryError(
        "registry URL '" + text +
        "' must start with http:// or https:// (e.g. http://127.0.0.1:8761/eureka)");
  }
  const auto path_start = text.find('/', scheme_end + 3);
  RegistryUrl url{text, text.substr(0, path_start), ""};
  if (url.origin.size() <= scheme_end + 3) {
    throw RegistryError("registry URL '" + text + "' names no host");
  }
  if (path_start != std::string::npos) {
    url.path = text.substr(path_start);
    while (!url.path.empty() && url.path.back() == '/') {
      url.path.pop_back();
    }
  }
  return url;
}

// The outcome of one HTTP exchange: an HTTP status, or status 0 and the transport error.
struct Reply {
  int status = 0;
  std::string body;
  std::string error;

  [[nodiscard]] std::string describe() const {
    return status == 0 ? error : "HTTP " + std::to_string(status);
  }
};

// FNV-1a: the same on every platform and run, unlike std::hash.
std::size_t stable_hash(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char c : text) {
    hash = (hash ^ c) * 1099511628211ULL;
  }
  return static_cast<std::size_t>(hash);
}

std::string join_failures(const std::vector<std::string>& failures) {
  std::string text;
  for (const auto& failure : failures) {
    text += (text.empty() ? "" : "; ") + failure;
  }
  return text;
}

}  // namespace

std::string Instance::base_url() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

struct RegistryClient::State {
  std::vector<std::string> url_texts;
  std::vector<RegistryUrl> urls;
  std::chrono::milliseconds timeout;
  std::chrono::milliseconds cache_ttl;

  struct CachedApp {
    SteadyClock::time_point fetched_at;
    std::vector<Instance> instances;
    std::size_t next = 0;  // rotation for resolve()
  };
  std::mutex cache_mutex;
  std::map<std::string, CachedApp> cache;

  // Registration and heartbeat state; `lifecycle_mutex` serializes start() and stop().
  std::mutex lifecycle_mutex;
  std::mutex heartbeat_mutex;
  std::condition_variable heartbeat_wakeup;
  bool stopping = false;
  std::thread heartbeat_thread;
  std::optional<InstanceRegistration> registration;
  std::string registration_body;
  std::string last_dirty_timestamp;  // milliseconds, as sent in the registration
  std::size_t preferred_url = 0;     // the registry that last accepted us; touched by one thread
  std::atomic<std::size_t> next_fetch_url{0};  // rotates lookups over the registries

  Reply send(const RegistryUrl& url, const std::string& method, const std::string& path,
             const std::string& body = {}) const {
    httplib::Client http(url.origin);
    if (!http.is_valid()) {
      return {0, {}, "unsupported registry URL"};
    }
    http.set_connection_timeout(timeout);
    http.set_read_timeout(timeout);
    http.set_write_timeout(timeout);
    // A registration's headers and body go out in two writes; without this the body waits for
    // the registry's delayed ACK.
    http.set_tcp_nodelay(true);
    const httplib::Headers headers = {{"Accept", "application/json"}};
    const std::string target = url.path + path;
    httplib::Result result = method == "POST" ? http.Post(target, headers, body, "application/json")
                             : method == "PUT" ? http.Put(target, headers, body, "application/json")
                             : method == "DELETE" ? http.Delete(target, headers)
                                                  : http.Get(target, headers);
    if (!result) {
      return {0, {}, describe_http_error(result.error())};
    }
    return {result->status, result->body, {}};
  }

  std::string instance_path() const {
    return "/apps/" + eureka::upper_case(registration->app) + "/" + registration->instance_id;
  }

  bool register_at(const RegistryUrl& url, std::vector<std::string>& failures) const {
    const Reply reply =
        send(url, "POST", "/apps/" + eureka::upper_case(registration->app), registration_body);
    if (reply.status == 204 || reply.status == 200) {
      return true;
    }
    failures.push_back(url.text + ": registration failed: " + reply.describe() +
                       (reply.body.empty() ? "" : " " + reply.body));
    return false;
  }

  // One heartbeat round: the preferred registry first, then the others; a 404 means the registry
  // forgot us, so we register there again at once.
  void heartbeat() {
    std::vector<std::string> failures;
    for (std::size_t attempt = 0; attempt < urls.size(); ++attempt) {
      const std::size_t index = (preferred_url + attempt) % urls.size();
      const RegistryUrl& url = urls[index];
      const Reply reply = send(
          url, "PUT", instance_path() + "?status=UP&lastDirtyTimestamp=" + last_dirty_timestamp);
      if (reply.status == 200) {
        preferred_url = index;
        return;
      }
      if (reply.status == 404) {
        spdlog::info("registry {} does not know {}; registering again", url.text,
                     registration->instance_id);
        if (register_at(url, failures)) {
          preferred_url = index;
          return;
        }
        continue;
      }
      failures.push_back(url.text + ": heartbeat failed: " + reply.describe());
    }
    spdlog::warn("heartbeat for {} reached no registry ({}); will retry in {} s",
                 registration->instance_id, join_failures(failures),
                 registration->renewal_interval.count());
  }

  void run_heartbeats() {
    std::unique_lock lock(heartbeat_mutex);
    while (!heartbeat_wakeup.wait_for(lock, registration->renewal_interval,
                                      [this] { return stopping; })) {
      lock.unlock();
      heartbeat();
      lock.lock();
    }
  }

  // Fetches the UP instances of `app` (upper-case) from the first registry that answers.
  // Each lookup starts at the next registry, so that lookups spread over all of them (peers
  // hold the same registry); the others are the fallback.
  std::optional<std::vector<Instance>> fetch(const std::string& app,
                                             std::vector<std::string>& failures) {
    const std::size_t first = next_fetch_url++;
    for (std::size_t attempt = 0; attempt < urls.size(); ++attempt) {
      const RegistryUrl& url = urls[(first + attempt) % urls.size()];
      const Reply reply = send(url, "GET", "/apps/" + app);
      if (reply.status == 404) {
        return std::vector<Instance>{};
      }
      if (reply.status != 200) {
        failures.push_back(url.text + ": " + reply.describe());
        continue;
      }
      try {
        std::vector<Instance> up;
        for (auto& instance : eureka::parse_application(json::parse(reply.body))) {
          if (instance.status == "UP") {
            up.push_back(std::move(instance));
          }
        }
        return up;
      } catch (const std::exception& error) {
        failures.push_back(url.text + ": unreadable application document: " + error.what());
      }
    }
    return std::nullopt;
  }
};

RegistryClient::RegistryClient(std::vector<std::string> registry_urls,
                               std::chrono::milliseconds timeout,
                               std::chrono::milliseconds cache_ttl)
    : state_(std::make_unique<State>()) {
  if (registry_urls.empty()) {
    throw RegistryError("no registry URL configured");
  }
  for (const auto& text : registry_urls) {
    state_->urls.push_back(parse_url(text));
  }
  state_->url_texts = std::move(registry_urls);
  state_->timeout = timeout;
  state_->cache_ttl = cache_ttl;
}

RegistryClient::~RegistryClient() { stop(); }

const std::vector<std::string>& RegistryClient::registry_urls() const { return state_->url_texts; }

void RegistryClient::start(const InstanceRegistration& registration) {
  const std::scoped_lock lifecycle(state_->lifecycle_mutex);
  if (state_->registration) {
    throw std::logic_error("RegistryClient::start called twice for " + registration.app);
  }
  InstanceRegistration filled = registration;
  if (filled.instance_id.empty()) {
    filled.instance_id =
        filled.host + ":" + eureka::lower_case(filled.app) + ":" + std::to_string(filled.port);
  }
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  state_->registration_body = eureka::registration_body(filled, now).dump();
  state_->last_dirty_timestamp = std::to_string(now);
  state_->registration = std::move(filled);

  // Each instance starts at a registry of its own (by a hash of its id), so that a fleet's
  // registrations and heartbeats spread over the registries instead of all loading the first.
  std::vector<std::string> failures;
  const std::size_t first = stable_hash(state_->registration->instance_id) % state_->urls.size();
  for (std::size_t attempt = 0; attempt < state_->urls.size(); ++attempt) {
    const std::size_t index = (first + attempt) % state_->urls.size();
    if (state_->register_at(state_->urls[index], failures)) {
      state_->preferred_url = index;
      spdlog::info("registered {} as {} at {}", state_->registration->app,
                   state_->registration->instance_id, state_->urls[index].text);
      state_->stopping = false;
      state_->heartbeat_thread = std::thread([this] { state_->run_heartbeats(); });
      return;
    }
  }
  const std::string app = state_->registration->app;
  state_->registration.reset();
  throw RegistryError("cannot register " + app + ": " + join_failures(failures));
}

void RegistryClient::stop() {
  const std::scoped_lock lifecycle(state_->lifecycle_mutex);
  if (!state_->registration) {
    return;
  }
  {
    const std::scoped_lock lock(state_->heartbeat_mutex);
    state_->stopping = true;
  }
  state_->heartbeat_wakeup.notify_all();
  if (state_->heartbeat_thread.joinable()) {
    state_->heartbeat_thread.join();
  }

  const auto& urls = state_->urls;
  const RegistryUrl& url = urls[state_->preferred_url];
  const Reply reply = state_->send(url, "DELETE", state_->instance_path());
  if (reply.status == 200 || reply.status == 404) {
    spdlog::info("cancelled registration {} at {}", state_->registration->instance_id, url.text);
  } else {
    spdlog::warn("could not cancel registration {} at {} ({}); it expires with its lease",
                 state_->registration->instance_id, url.text, reply.describe());
  }
  state_->registration.reset();
}

std::vector<Instance> RegistryClient::instances(const std::string& app) {
  const std::string key = eureka::upper_case(app);
  {
    const std::scoped_lock lock(state_->cache_mutex);
    const auto cached = state_->cache.find(key);
    if (cached != state_->cache.end() &&
        SteadyClock::now() - cached->second.fetched_at < state_->cache_ttl) {
      return cached->second.instances;
    }
  }

  // The fetch runs unlocked so that a slow registry does not block callers of other apps.
  std::vector<std::string> failures;
  auto fetched = state_->fetch(key, failures);
  const std::scoped_lock lock(state_->cache_mutex);
  if (fetched) {
    auto& entry = state_->cache[key];
    entry.fetched_at = SteadyClock::now();
    entry.instances = std::move(*fetched);
    return entry.instances;
  }
  const auto cached = state_->cache.find(key);
  if (cached == state_->cache.end()) {
    throw RegistryError("cannot look up instances of " + key + ": " + join_failures(failures));
  }
  spdlog::warn("no registry answered for {} ({}); using the list fetched earlier", key,
               join_failures(failures));
  return cached->second.instances;
}

std::string RegistryClient::resolve(const std::string& app) {
  const std::vector<Instance> found = instances(app);
  if (found.empty()) {
    throw RegistryError("no UP instance of " + eureka::upper_case(app) + " is registered at " +
                        join_failures(state_->url_texts));
  }
  const std::scoped_lock lock(state_->cache_mutex);
  std::size_t& next = state_->cache[eureka::upper_case(app)].next;
  return found[next++ % found.size()].base_url();
}

}  // namespace claimcheck::registry
