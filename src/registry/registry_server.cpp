#include "claimcheck/registry/registry_server.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <thread>

#include "eureka_codec.hpp"

namespace claimcheck::registry {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// A registration is a small JSON document; anything larger is not a Eureka instance.
constexpr std::size_t kMaxRegistrationBytes = 64 * 1024;

// Bounds the delta log under a registration storm; a client that misses changes notices the
// apps__hashcode mismatch and fetches the full registry instead.
constexpr std::size_t kMaxRecentChanges = 10'000;

constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain";

std::int64_t now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Lease {
  json instance;
  std::string status;
  std::chrono::seconds renewal_interval{30};
  std::chrono::seconds duration{90};
  std::int64_t registration_ms = 0;
  std::int64_t last_renewal_ms = 0;
  std::int64_t service_up_ms = 0;
  std::int64_t last_updated_ms = 0;
  std::int64_t last_dirty_ms = 0;
  SteadyClock::time_point expires_at;
};

using Apps = std::map<std::string, std::map<std::string, Lease>>;  // app -> instance id -> lease

Lease* find_lease(Apps& apps, const std::string& app, const std::string& id) {
  const auto found_app = apps.find(app);
  if (found_app == apps.end()) {
    return nullptr;
  }
  const auto found = found_app->second.find(id);
  return found == found_app->second.end() ? nullptr : &found->second;
}

// A change kept for /eureka/apps/delta.
struct Change {
  SteadyClock::time_point at;
  std::string app;
  json instance;  // as served, with actionType set
};

json serve_instance(const Lease& lease, std::string_view action_type) {
  json instance = lease.instance;
  instance["leaseInfo"] = {{"renewalIntervalInSecs", lease.renewal_interval.count()},
                           {"durationInSecs", lease.duration.count()},
                           {"registrationTimestamp", lease.registration_ms},
                           {"lastRenewalTimestamp", lease.last_renewal_ms},
                           {"evictionTimestamp", 0},
                           {"serviceUpTimestamp", lease.service_up_ms}};
  // Eureka's JSON codec writes these two timestamps as strings.
  instance["lastUpdatedTimestamp"] = std::to_string(lease.last_updated_ms);
  instance["lastDirtyTimestamp"] = std::to_string(lease.last_dirty_ms);
  instance["actionType"] = action_type;
  return instance;
}

void answer_text(httplib::Response& response, int status, const std::string& text) {
  response.status = status;
  response.set_content(text, kText);
}

}  // namespace

class RegistryServer::Impl {
 public:
  Impl(ServiceHttp& http, MetricsRegistry& metrics, RegistryServerOptions options)
      : options_(options),
        instances_gauge_(
            metrics.gauge("claimcheck_registry_instances", "Instances currently registered")),
        registrations_(
            metrics.counter("claimcheck_registry_registrations_total", "Registrations accepted")),
        rejected_(metrics.counter("claimcheck_registry_rejected_registrations_total",
                                  "Registrations refused as malformed or over a limit")),
        heartbeats_(metrics.counter("claimcheck_registry_heartbeats_total",
                                    "Heartbeats renewing a known instance")),
        unknown_heartbeats_(metrics.counter("claimcheck_registry_unknown_heartbeats_total",
                                            "Heartbeats for an unknown instance (answered 404)")),
        cancels_(metrics.counter("claimcheck_registry_cancels_total", "Registrations cancelled")),
        evictions_(metrics.counter("claimcheck_registry_evictions_total",
                                   "Instances removed because their lease expired")) {
    add_routes(http.routes());
    http.add_health_check({"registry", [this](std::string& detail) {
                             detail = std::to_string(instance_count()) + " instances";
                             return true;
                           }});
  }

  ~Impl() { stop(); }

  void start() {
    const std::scoped_lock lock(eviction_mutex_);
    if (eviction_thread_.joinable()) {
      return;
    }
    stopping_ = false;
    eviction_thread_ = std::thread([this] { run_eviction(); });
  }

  void stop() {
    {
      const std::scoped_lock lock(eviction_mutex_);
      stopping_ = true;
    }
    eviction_wakeup_.notify_all();
    if (eviction_thread_.joinable()) {
      eviction_thread_.join();
    }
  }

  std::size_t evict_expired() {
    const auto now = SteadyClock::now();
    std::size_t evicted = 0;
    const std::unique_lock lock(mutex_);
    for (auto app = apps_.begin(); app != apps_.end();) {
      for (auto lease = app->second.begin(); lease != app->second.end();) {
        if (lease->second.expires_at < now) {
          spdlog::warn("evicting {}/{}: no heartbeat within its {} s lease", app->first,
                       lease->first, lease->second.duration.count());
          record_change(app->first, serve_instance(lease->second, "DELETED"));
          lease = app->second.erase(lease);
          ++evicted;
        } else {
          ++lease;
        }
      }
      app = app->second.empty() ? apps_.erase(app) : std::next(app);
    }
    evictions_.increment(evicted);
    update_gauge();
    prune_changes(now);
    return evicted;
  }

  std::size_t instance_count() const {
    const std::shared_lock lock(mutex_);
    return count_instances();
  }

 private:
  // TODO(registry): the status override endpoints (PUT/DELETE /eureka/apps/{APP}/{id}/status)
  // that Spring's service-registry actuator uses; they answer 404 until then.
  void add_routes(httplib::Server& server) {
    server.Post(R"(/eureka/apps/([^/]+))", [this](const auto& request, auto& response) {
      handle_register(request, response);
    });
    server.Put(R"(/eureka/apps/([^/]+)/([^/]+))", [this](const auto& request, auto& response) {
      handle_heartbeat(request, response);
    });
    server.Delete(R"(/eureka/apps/([^/]+)/([^/]+))", [this](const auto& request, auto& response) {
      handle_cancel(request, response);
    });
    server.Get("/eureka/apps/?", [this](const auto&, auto& response) {
      response.set_content(applications_document().dump(), kJson);
    });
    server.Get("/eureka/apps/delta/?", [this](const auto&, auto& response) {
      response.set_content(delta_document().dump(), kJson);
    });
    server.Get(R"(/eureka/apps/([^/]+))",
               [this](const auto& request, auto& response) { handle_get_app(request, response); });
    server.Get(R"(/eureka/apps/([^/]+)/([^/]+))", [this](const auto& request, auto& response) {
      handle_get_instance(request, response);
    });
  }

  void handle_register(const httplib::Request& request, httplib::Response& response) {
    const std::string path_app = eureka::upper_case(request.matches[1].str());
    if (request.body.size() > kMaxRegistrationBytes) {
      rejected_.increment();
      answer_text(response, 413,
                  "Registration larger than " + std::to_string(kMaxRegistrationBytes) + " bytes");
      return;
    }
    // TODO(registry): accept XML registrations (Eureka's default codec); JSON only for now.
    const json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      rejected_.increment();
      answer_text(response, 400, "Registration body is not JSON (XML is not supported yet)");
      return;
    }
    auto parsed = eureka::parse_registration(body, path_app, options_.default_lease_duration);
    if (auto* reason = std::get_if<std::string>(&parsed)) {
      rejected_.increment();
      spdlog::warn("refused registration for {} from {}: {}", path_app, request.remote_addr,
                   *reason);
      answer_text(response, 400, *reason);
      return;
    }
    auto& registration = std::get<eureka::ValidRegistration>(parsed);
    if (auto limit = store(registration)) {
      rejected_.increment();
      spdlog::warn("refused registration {}/{}: {}", registration.app, registration.instance_id,
                   *limit);
      answer_text(response, 429, *limit);
      return;
    }
    registrations_.increment();
    spdlog::info("registered {}/{} ({}, lease {} s)", registration.app, registration.instance_id,
                 registration.status, registration.lease_duration.count());
    response.status = 204;
  }

  // Stores a valid registration; returns the reason when a limit forbids it.
  std::optional<std::string> store(eureka::ValidRegistration& registration) {
    const std::int64_t now = now_millis();
    const std::unique_lock lock(mutex_);
    auto app = apps_.find(registration.app);
    if (app == apps_.end() && apps_.size() >= options_.max_apps) {
      return "The registry holds its maximum of " + std::to_string(options_.max_apps) + " apps";
    }
    if (app != apps_.end() && !app->second.contains(registration.instance_id) &&
        app->second.size() >= options_.max_instances_per_app) {
      return "App " + registration.app + " has its maximum of " +
             std::to_string(options_.max_instances_per_app) + " instances";
    }
    auto& instances = apps_[registration.app];
    const auto previous = instances.find(registration.instance_id);
    Lease lease;
    lease.status = registration.status;
    lease.renewal_interval = registration.renewal_interval;
    lease.duration = registration.lease_duration;
    lease.registration_ms = now;
    lease.last_renewal_ms = now;
    lease.last_updated_ms = now;
    lease.last_dirty_ms =
        registration.last_dirty_timestamp > 0 ? registration.last_dirty_timestamp : now;
    // Like Eureka, a re-registration keeps the time the instance first came up.
    if (previous != instances.end() && previous->second.service_up_ms > 0) {
      lease.service_up_ms = previous->second.service_up_ms;
    } else {
      lease.service_up_ms = lease.status == "UP" ? now : 0;
    }
    lease.expires_at = SteadyClock::now() + lease.duration;
    lease.instance = std::move(registration.instance);
    record_change(registration.app, serve_instance(lease, "ADDED"));
    instances[registration.instance_id] = std::move(lease);
    update_gauge();
    return std::nullopt;
  }

  void handle_heartbeat(const httplib::Request& request, httplib::Response& response) {
    const std::string app = eureka::upper_case(request.matches[1].str());
    const std::string id = request.matches[2].str();
    std::optional<std::int64_t> client_dirty;
    if (request.has_param("lastDirtyTimestamp")) {
      try {
        client_dirty = std::stoll(request.get_param_value("lastDirtyTimestamp"));
      } catch (const std::logic_error&) {
        answer_text(response, 400, "Invalid lastDirtyTimestamp");
        return;
      }
    }
    const std::unique_lock lock(mutex_);
    Lease* lease = find_lease(apps_, app, id);
    // A client whose copy is newer than ours registers again so that we learn its changes.
    if (lease == nullptr || (client_dirty && *client_dirty > lease->last_dirty_ms)) {
      unknown_heartbeats_.increment();
      spdlog::debug("heartbeat for unknown {}/{}; the client will register again", app, id);
      answer_text(response, 404, "Unknown instance " + app + "/" + id);
      return;
    }
    lease->last_renewal_ms = now_millis();
    lease->expires_at = SteadyClock::now() + lease->duration;
    heartbeats_.increment();
    response.status = 200;
  }

  void handle_cancel(const httplib::Request& request, httplib::Response& response) {
    const std::string app_name = eureka::upper_case(request.matches[1].str());
    const std::string id = request.matches[2].str();
    const std::unique_lock lock(mutex_);
    const Lease* lease = find_lease(apps_, app_name, id);
    if (lease == nullptr) {
      answer_text(response, 404, "Unknown instance " + app_name + "/" + id);
      return;
    }
    record_change(app_name, serve_instance(*lease, "DELETED"));
    const auto app = apps_.find(app_name);
    app->second.erase(id);
    if (app->second.empty()) {
      apps_.erase(app);
    }
    update_gauge();
    cancels_.increment();
    spdlog::info("cancelled {}/{}", app_name, id);
    response.status = 200;
  }

  void handle_get_app(const httplib::Request& request, httplib::Response& response) {
    const std::string app_name = eureka::upper_case(request.matches[1].str());
    const std::shared_lock lock(mutex_);
    const auto app = apps_.find(app_name);
    if (app == apps_.end()) {
      answer_text(response, 404, "Unknown application " + app_name);
      return;
    }
    response.set_content(json{{"application", application_json(app->first, app->second)}}.dump(),
                         kJson);
  }

  void handle_get_instance(const httplib::Request& request, httplib::Response& response) {
    const std::string app = eureka::upper_case(request.matches[1].str());
    const std::string id = request.matches[2].str();
    const std::shared_lock lock(mutex_);
    const Lease* lease = find_lease(apps_, app, id);
    if (lease == nullptr) {
      answer_text(response, 404, "Unknown instance " + app + "/" + id);
      return;
    }
    response.set_content(json{{"instance", serve_instance(*lease, "ADDED")}}.dump(), kJson);
  }

  json applications_document() const {
    const std::shared_lock lock(mutex_);
    json applications = json::array();
    for (const auto& [name, instances] : apps_) {
      applications.push_back(application_json(name, instances));
    }
    return {{"applications",
             {{"versions__delta", "1"},
              {"apps__hashcode", apps_hashcode()},
              {"application", std::move(applications)}}}};
  }

  json delta_document() {
    const std::unique_lock lock(mutex_);
    prune_changes(SteadyClock::now());
    std::map<std::string, json> grouped;
    for (const auto& change : changes_) {
      json& application = grouped[change.app];
      application["name"] = change.app;
      application["instance"].push_back(change.instance);
    }
    json applications = json::array();
    for (auto& [name, application] : grouped) {
      applications.push_back(std::move(application));
    }
    return {{"applications",
             {{"versions__delta", std::to_string(delta_version_)},
              {"apps__hashcode", apps_hashcode()},
              {"application", std::move(applications)}}}};
  }

  static json application_json(const std::string& name,
                               const std::map<std::string, Lease>& instances) {
    json items = json::array();
    for (const auto& [id, lease] : instances) {
      items.push_back(serve_instance(lease, "ADDED"));
    }
    return {{"name", name}, {"instance", std::move(items)}};
  }

  // Eureka's hash: "<STATUS>_<count>_" per status, statuses in alphabetical order. Clients
  // compare it after applying a delta to detect that they drifted.
  std::string apps_hashcode() const {
    std::map<std::string, std::size_t> counts;
    for (const auto& [name, instances] : apps_) {
      for (const auto& [id, lease] : instances) {
        ++counts[lease.status];
      }
    }
    std::string hash;
    for (const auto& [status, count] : counts) {
      hash += status + "_" + std::to_string(count) + "_";
    }
    return hash;
  }

  // Callers hold mutex_ exclusively.
  void record_change(const std::string& app, json instance) {
    changes_.push_back({SteadyClock::now(), app, std::move(instance)});
    if (changes_.size() > kMaxRecentChanges) {
      changes_.pop_front();
    }
    ++delta_version_;
  }

  // Callers hold mutex_ exclusively.
  void prune_changes(SteadyClock::time_point now) {
    while (!changes_.empty() && now - changes_.front().at > options_.delta_retention) {
      changes_.pop_front();
    }
  }

  // Callers hold mutex_.
  std::size_t count_instances() const {
    std::size_t count = 0;
    for (const auto& [name, instances] : apps_) {
      count += instances.size();
    }
    return count;
  }

  void update_gauge() { instances_gauge_.set(static_cast<double>(count_instances())); }

  void run_eviction() {
    std::unique_lock lock(eviction_mutex_);
    while (!eviction_wakeup_.wait_for(lock, options_.eviction_interval,
                                      [this] { return stopping_; })) {
      lock.unlock();
      evict_expired();
      lock.lock();
    }
  }

  const RegistryServerOptions options_;
  Gauge& instances_gauge_;
  Counter& registrations_;
  Counter& rejected_;
  Counter& heartbeats_;
  Counter& unknown_heartbeats_;
  Counter& cancels_;
  Counter& evictions_;

  mutable std::shared_mutex mutex_;
  Apps apps_;
  std::deque<Change> changes_;
  std::uint64_t delta_version_ = 0;

  std::mutex eviction_mutex_;
  std::condition_variable eviction_wakeup_;
  bool stopping_ = false;
  std::thread eviction_thread_;
};

RegistryServer::RegistryServer(ServiceHttp& http, MetricsRegistry& metrics,
                               RegistryServerOptions options)
    : impl_(std::make_unique<Impl>(http, metrics, options)) {}

RegistryServer::~RegistryServer() = default;

void RegistryServer::start() { impl_->start(); }

void RegistryServer::stop() { impl_->stop(); }

std::size_t RegistryServer::evict_expired() { return impl_->evict_expired(); }

std::size_t RegistryServer::instance_count() const { return impl_->instance_count(); }

}  // namespace claimcheck::registry
