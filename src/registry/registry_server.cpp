#include "claimcheck/registry/registry_server.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "dashboard_page.hpp"
#include "eureka_codec.hpp"
#include "eureka_xml.hpp"
#include "instance_registry.hpp"
#include "peer_replicator.hpp"

namespace claimcheck::registry {
namespace {

using nlohmann::json;
using Action = ReplicationTask::Action;

// A registration is a small document; anything larger is not a Eureka instance.
constexpr std::size_t kMaxRegistrationBytes = 64 * 1024;

constexpr const char* kJson = "application/json";
constexpr const char* kXml = "application/xml";
constexpr const char* kText = "text/plain";

std::int64_t now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void answer_text(httplib::Response& response, int status, const std::string& text) {
  response.status = status;
  response.set_content(text, kText);
}

// Eureka serves either format; whichever of the two the Accept header names first wins, and JSON
// when it names neither (claimcheck's and Spring's clients ask for JSON).
bool wants_xml(const httplib::Request& request) {
  const std::string accept = request.get_header_value("Accept");
  const auto xml = accept.find("xml");
  const auto json = accept.find("json");
  return xml != std::string::npos && (json == std::string::npos || xml < json);
}

// Text that came in through a query string or XML may hold bytes that are not UTF-8; a reply
// must still go out (found by the bad-input review: one such metadata value made every JSON
// view of the registry answer 500).
std::string json_text(const json& document) {
  return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

void answer_document(const httplib::Request& request, httplib::Response& response,
                     const json& document) {
  if (wants_xml(request)) {
    response.set_content(eureka::to_xml(document), kXml);
  } else {
    response.set_content(json_text(document), kJson);
  }
}

// The request body as a JSON document, read as XML when Content-Type says so; the reason when
// it is neither.
std::variant<json, std::string> read_document(const httplib::Request& request) {
  if (request.get_header_value("Content-Type").find("xml") != std::string::npos) {
    return eureka::from_xml(request.body);
  }
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return std::string("Body is not JSON; send Content-Type: application/xml for XML");
  }
  return body;
}

std::optional<std::int64_t> dirty_timestamp_param(const httplib::Request& request, bool& valid) {
  valid = true;
  if (!request.has_param("lastDirtyTimestamp")) {
    return std::nullopt;
  }
  try {
    return std::stoll(request.get_param_value("lastDirtyTimestamp"));
  } catch (const std::logic_error&) {
    valid = false;
    return std::nullopt;
  }
}

bool is_replication(const httplib::Request& request) {
  return request.get_header_value(kReplicationHeader) == "true";
}

// httplib reads the body of a PUT or DELETE that has neither Content-Length nor
// Transfer-Encoding until the connection closes (10 s with our timeouts), while HTTP/1.1 says such
// a request has no body. The body-less Eureka routes are therefore dispatched before httplib
// reads when a request declares no body.
bool declares_body(const httplib::Request& request) {
  return request.has_header("Content-Length") || request.has_header("Transfer-Encoding");
}

}  // namespace

class RegistryServer::Impl {
 public:
  Impl(ServiceHttp& http, MetricsRegistry& metrics, RegistryServerOptions options)
      : options_(std::move(options)),
        registry_(options_),
        replicator_(
            options_.peer_urls, options_.peer_timeout,
            [this](const std::string& app, const std::string& id) -> std::optional<json> {
              auto instance = registry_.instance(app, id);
              return instance ? std::optional(json{{"instance", std::move(*instance)}})
                              : std::nullopt;
            },
            metrics),
        started_ms_(now_millis()),
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
                                   "Instances removed because their lease expired")),
        self_preservation_gauge_(
            metrics.gauge("claimcheck_registry_self_preservation_active",
                          "1 while self-preservation keeps expired leases, else 0")) {
    add_routes(http.routes());
    http.add_health_check({"registry", [this](std::string& detail) {
                             detail = std::to_string(registry_.instance_count()) + " instances";
                             return true;
                           }});
  }

  ~Impl() { stop(); }

  void start() {
    const std::scoped_lock lock(eviction_mutex_);
    if (eviction_thread_.joinable()) {
      return;
    }
    sync_from_peers();
    replicator_.start();
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
    replicator_.stop();
  }

  std::size_t evict_expired() {
    const std::size_t evicted = registry_.evict_expired();
    evictions_.increment(evicted);
    self_preservation_gauge_.set(registry_.self_preservation().active ? 1 : 0);
    update_gauge();
    return evicted;
  }

  std::size_t instance_count() const { return registry_.instance_count(); }

 private:
  void add_routes(httplib::Server& server) {
    server.Post(R"(/eureka/apps/([^/]+)/?)", [this](const auto& request, auto& response) {
      handle_register(request, response);
    });
    add_bodyless_routes(server);

    server.Get("/eureka/apps/?", [this](const auto& request, auto& response) {
      answer_document(request, response, registry_.applications());
    });
    server.Get("/eureka/apps/delta/?", [this](const auto& request, auto& response) {
      answer_document(request, response, registry_.delta());
    });
    server.Get(R"(/eureka/apps/([^/]+)/?)", [this](const auto& request, auto& response) {
      const std::string app = eureka::upper_case(request.matches[1].str());
      auto application = registry_.application(app);
      if (!application) {
        answer_text(response, 404, "Unknown application " + app);
        return;
      }
      answer_document(request, response, json{{"application", std::move(*application)}});
    });
    server.Get(R"(/eureka/apps/([^/]+)/([^/]+))", [this](const auto& request, auto& response) {
      const std::string app = eureka::upper_case(request.matches[1].str());
      const std::string id = request.matches[2].str();
      answer_instance(request, response, registry_.instance(app, id), app + "/" + id);
    });
    server.Get(R"(/eureka/instances/([^/]+))", [this](const auto& request, auto& response) {
      const std::string id = request.matches[1].str();
      answer_instance(request, response, registry_.instance_by_id(id), id);
    });
    server.Get(R"(/eureka/(s?)vips/([^/]+))", [this](const auto& request, auto& response) {
      const bool secure = !request.matches[1].str().empty();
      answer_document(request, response,
                      registry_.applications_for_vip(request.matches[2].str(), secure));
    });

    server.Get("/", [](const auto&, auto& response) {
      response.set_content(std::string(dashboard_html()), "text/html; charset=utf-8");
    });
    server.Get("/dashboard/status", [this](const auto&, auto& response) {
      response.set_content(json_text(status_document()), kJson);
    });
  }

  void add_bodyless_routes(httplib::Server& server) {
    const std::string instance_path = R"(/eureka/apps/([^/]+)/([^/]+))";
    const auto route = [this](std::string method, const std::string& pattern,
                              void (Impl::*handle)(const httplib::Request&, httplib::Response&,
                                                   const std::smatch&)) {
      bodyless_routes_.push_back(
          {std::move(method), pattern, std::regex(pattern),
           [this, handle](const auto& request, auto& response, const auto& match) {
             (this->*handle)(request, response, match);
           }});
    };
    route("PUT", instance_path, &Impl::handle_heartbeat);
    route("DELETE", instance_path, &Impl::handle_cancel);
    route("PUT", instance_path + "/status", &Impl::handle_status_update);
    route("DELETE", instance_path + "/status", &Impl::handle_delete_status_override);
    route("PUT", instance_path + "/metadata", &Impl::handle_metadata_update);

    for (const auto& bodyless : bodyless_routes_) {
      const auto handler = [&bodyless](const httplib::Request& request,
                                       httplib::Response& response) {
        std::smatch match;
        std::regex_match(request.path, match, bodyless.regex);
        bodyless.handle(request, response, match);
      };
      if (bodyless.method == "PUT") {
        server.Put(bodyless.pattern, handler);
      } else {
        server.Delete(bodyless.pattern, handler);
      }
    }
    server.set_pre_routing_handler(
        [this](const httplib::Request& request, httplib::Response& response) {
          if (declares_body(request)) {
            return httplib::Server::HandlerResponse::Unhandled;
          }
          for (const auto& bodyless : bodyless_routes_) {
            std::smatch match;
            if (request.method == bodyless.method &&
                std::regex_match(request.path, match, bodyless.regex)) {
              bodyless.handle(request, response, match);
              return httplib::Server::HandlerResponse::Handled;
            }
          }
          return httplib::Server::HandlerResponse::Unhandled;
        });
  }

  void handle_register(const httplib::Request& request, httplib::Response& response) {
    const std::string path_app = eureka::upper_case(request.matches[1].str());
    if (request.body.size() > kMaxRegistrationBytes) {
      refuse(response, 413,
             "Registration larger than " + std::to_string(kMaxRegistrationBytes) + " bytes");
      return;
    }
    auto body = read_document(request);
    if (auto* reason = std::get_if<std::string>(&body)) {
      refuse(response, 400, *reason);
      return;
    }
    auto parsed =
        eureka::parse_registration(std::get<json>(body), path_app, options_.default_lease_duration);
    if (auto* reason = std::get_if<std::string>(&parsed)) {
      spdlog::warn("refused registration for {} from {}: {}", path_app, request.remote_addr,
                   *reason);
      refuse(response, 400, *reason);
      return;
    }
    auto& registration = std::get<eureka::ValidRegistration>(parsed);
    const std::string app = registration.app;
    const std::string id = registration.instance_id;
    const std::string status = registration.status;
    const auto lease = registration.lease_duration;
    if (auto limit = registry_.add(std::move(registration), is_replication(request))) {
      spdlog::warn("refused registration {}/{}: {}", app, id, *limit);
      refuse(response, 429, *limit);
      return;
    }
    registrations_.increment();
    update_gauge();
    spdlog::info("registered {}/{} ({}, lease {} s{})", app, id, status, lease.count(),
                 is_replication(request) ? ", replicated" : "");
    response.status = 204;
    if (!is_replication(request)) {
      if (auto current = registry_.instance(app, id)) {
        replicator_.replicate(
            {Action::kRegister, app, id, {}, json_text(json{{"instance", std::move(*current)}})});
      }
    }
  }

  void refuse(httplib::Response& response, int status, const std::string& reason) {
    rejected_.increment();
    answer_text(response, status, reason);
  }

  void handle_heartbeat(const httplib::Request& request, httplib::Response& response,
                        const std::smatch& match) {
    const std::string app = eureka::upper_case(match[1].str());
    const std::string id = match[2].str();
    bool valid = true;
    const auto client_dirty = dirty_timestamp_param(request, valid);
    if (!valid) {
      answer_text(response, 400, "Invalid lastDirtyTimestamp: expected milliseconds");
      return;
    }
    if (registry_.renew(app, id, client_dirty) == InstanceRegistry::Renewal::kUnknown) {
      unknown_heartbeats_.increment();
      spdlog::debug("heartbeat for unknown {}/{}; the client will register again", app, id);
      answer_text(response, 404, "Unknown instance " + app + "/" + id);
      return;
    }
    heartbeats_.increment();
    response.status = 200;
    replicate_unless_replica(request, Action::kHeartbeat, app, id);
  }

  void handle_cancel(const httplib::Request& request, httplib::Response& response,
                     const std::smatch& match) {
    const std::string app = eureka::upper_case(match[1].str());
    const std::string id = match[2].str();
    if (!registry_.cancel(app, id)) {
      answer_text(response, 404, "Unknown instance " + app + "/" + id);
      return;
    }
    update_gauge();
    cancels_.increment();
    spdlog::info("cancelled {}/{}{}", app, id, is_replication(request) ? " (replicated)" : "");
    response.status = 200;
    replicate_unless_replica(request, Action::kCancel, app, id);
  }

  void handle_status_update(const httplib::Request& request, httplib::Response& response,
                            const std::smatch& match) {
    const std::string app = eureka::upper_case(match[1].str());
    const std::string id = match[2].str();
    const auto status = eureka::parse_status(request.get_param_value("value"));
    bool valid = true;
    const auto dirty = dirty_timestamp_param(request, valid);
    if (!status || !valid) {
      answer_text(response, 400,
                  !valid ? "Invalid lastDirtyTimestamp: expected milliseconds"
                         : "Invalid value: expected UP, DOWN, STARTING, OUT_OF_SERVICE or UNKNOWN");
      return;
    }
    if (!registry_.override_status(app, id, *status, dirty)) {
      answer_text(response, 404, "Unknown instance " + app + "/" + id);
      return;
    }
    spdlog::info("status of {}/{} overridden to {}", app, id, *status);
    response.status = 200;
    replicate_with_dirty_timestamp(request, Action::kStatusUpdate, app, id, {{"value", *status}});
  }

  void handle_delete_status_override(const httplib::Request& request, httplib::Response& response,
                                     const std::smatch& match) {
    const std::string app = eureka::upper_case(match[1].str());
    const std::string id = match[2].str();
    const auto status = request.has_param("value")
                            ? eureka::parse_status(request.get_param_value("value"))
                            : std::optional<std::string>("UNKNOWN");
    bool valid = true;
    const auto dirty = dirty_timestamp_param(request, valid);
    if (!status || !valid) {
      answer_text(response, 400,
                  !valid ? "Invalid lastDirtyTimestamp: expected milliseconds"
                         : "Invalid value: expected UP, DOWN, STARTING, OUT_OF_SERVICE or UNKNOWN");
      return;
    }
    if (!registry_.remove_status_override(app, id, *status, dirty)) {
      answer_text(response, 404, "Unknown instance " + app + "/" + id);
      return;
    }
    spdlog::info("status override of {}/{} removed; status {}", app, id, *status);
    response.status = 200;
    replicate_with_dirty_timestamp(request, Action::kDeleteStatusOverride, app, id,
                                   {{"value", *status}});
  }

  void handle_metadata_update(const httplib::Request& request, httplib::Response& response,
                              const std::smatch& match) {
    const std::string app = eureka::upper_case(match[1].str());
    const std::string id = match[2].str();
    std::map<std::string, std::string> metadata;
    for (const auto& [key, value] : request.params) {
      metadata[key] = value;
    }
    if (metadata.empty()) {
      answer_text(response, 400, "No metadata given: expected ?key=value&...");
      return;
    }
    if (!registry_.update_metadata(app, id, metadata)) {
      answer_text(response, 404, "Unknown instance " + app + "/" + id);
      return;
    }
    response.status = 200;
    replicate_unless_replica(request, Action::kMetadataUpdate, app, id);
  }

  void replicate_unless_replica(const httplib::Request& request, Action action,
                                const std::string& app, const std::string& id) {
    if (!is_replication(request) && !replicator_.empty()) {
      replicator_.replicate(
          {action, app, id, httplib::append_query_params("", request.params), {}});
    }
  }

  // Status changes carry the dirty timestamp they set here, so that every node ends up with the
  // same one and later heartbeats agree.
  void replicate_with_dirty_timestamp(const httplib::Request& request, Action action,
                                      const std::string& app, const std::string& id,
                                      httplib::Params params) {
    if (is_replication(request) || replicator_.empty()) {
      return;
    }
    if (auto current = registry_.instance(app, id)) {
      params.emplace("lastDirtyTimestamp", (*current)["lastDirtyTimestamp"].get<std::string>());
    }
    replicator_.replicate({action, app, id, httplib::append_query_params("", params), {}});
  }

  static void answer_instance(const httplib::Request& request, httplib::Response& response,
                              std::optional<json> instance, const std::string& name) {
    if (!instance) {
      answer_text(response, 404, "Unknown instance " + name);
      return;
    }
    answer_document(request, response, json{{"instance", std::move(*instance)}});
  }

  // What the dashboard shows besides the applications: self-preservation and why, the peers.
  json status_document() {
    const SelfPreservationState state = registry_.self_preservation();
    std::string reason;
    if (!state.enabled) {
      reason = "Self-preservation is disabled: expired leases are always evicted.";
    } else if (state.active) {
      const double expected_renewals = static_cast<double>(state.expected_clients) *
                                       std::chrono::duration<double>(state.window).count() /
                                       static_cast<double>(state.expected_renewal_interval.count());
      reason = fmt::format(
          "{} renewals in the last {} s, at or below the threshold of {} ({:.0f}% of the {:.0f} "
          "expected from {} clients renewing every {} s): expired leases are kept, because "
          "losing that many heartbeats at once looks more like a network problem than dead "
          "clients.",
          state.renews_last_window, state.window.count() / 1000, state.renews_threshold,
          state.percent_threshold * 100, expected_renewals, state.expected_clients,
          state.expected_renewal_interval.count());
    } else {
      reason = fmt::format(
          "{} renewals in the last {} s, above the threshold of {}: expired "
          "leases are evicted.",
          state.renews_last_window, state.window.count() / 1000, state.renews_threshold);
    }
    json peers = json::array();
    for (const auto& peer : replicator_.status()) {
      peers.push_back({{"url", peer.url},
                       {"reachable", peer.reachable},
                       {"lastError", peer.last_error},
                       {"lastSuccessTimestamp", peer.last_success_ms},
                       {"queued", peer.queued},
                       {"replicated", peer.replicated},
                       {"failed", peer.failed}});
    }
    return {{"instances", registry_.instance_count()},
            {"startedTimestamp", started_ms_},
            {"now", now_millis()},
            {"selfPreservation",
             {{"enabled", state.enabled},
              {"active", state.active},
              {"reason", reason},
              {"renewsLastWindow", state.renews_last_window},
              {"renewsThreshold", state.renews_threshold},
              {"expectedClients", state.expected_clients},
              {"windowSeconds", state.window.count() / 1000.0},
              {"renewalPercentThreshold", state.percent_threshold},
              {"expectedRenewalIntervalSeconds", state.expected_renewal_interval.count()}}},
            {"peers", std::move(peers)}};
  }

  // A node that starts late takes over a peer's registry, so that it can answer lookups at once
  // instead of after every client's next heartbeat.
  void sync_from_peers() {
    auto document = replicator_.fetch_registry();
    if (!document) {
      if (!replicator_.empty()) {
        spdlog::warn("no peer answered; starting with an empty registry");
      }
      return;
    }
    std::size_t synced = 0;
    json& applications = (*document)["applications"]["application"];
    const json list = applications.is_array() ? applications : json::array({applications});
    for (const auto& application : list) {
      const json& instances = application.value("instance", json::array());
      for (const auto& instance : instances.is_array() ? instances : json::array({instances})) {
        const std::string app = instance.value("app", "");
        auto parsed = eureka::parse_registration(json{{"instance", instance}}, app,
                                                 options_.default_lease_duration);
        if (auto* registration = std::get_if<eureka::ValidRegistration>(&parsed)) {
          if (!registry_.add(std::move(*registration), /*replication=*/true)) {
            ++synced;
          }
        }
      }
    }
    update_gauge();
    spdlog::info("synced {} instances from a peer", synced);
  }

  void update_gauge() { instances_gauge_.set(static_cast<double>(registry_.instance_count())); }

  void run_eviction() {
    auto next_threshold_update =
        std::chrono::steady_clock::now() + options_.renewal_threshold_update_interval;
    std::unique_lock lock(eviction_mutex_);
    while (!eviction_wakeup_.wait_for(lock, options_.eviction_interval,
                                      [this] { return stopping_; })) {
      lock.unlock();
      if (std::chrono::steady_clock::now() >= next_threshold_update) {
        registry_.update_renewal_threshold();
        next_threshold_update += options_.renewal_threshold_update_interval;
      }
      evict_expired();
      lock.lock();
    }
  }

  struct BodylessRoute {
    std::string method;
    std::string pattern;  // for httplib
    std::regex regex;     // the same, for the pre-routing handler
    std::function<void(const httplib::Request&, httplib::Response&, const std::smatch&)> handle;
  };

  const RegistryServerOptions options_;
  InstanceRegistry registry_;
  PeerReplicator replicator_;
  std::vector<BodylessRoute> bodyless_routes_;
  const std::int64_t started_ms_;

  Gauge& instances_gauge_;
  Counter& registrations_;
  Counter& rejected_;
  Counter& heartbeats_;
  Counter& unknown_heartbeats_;
  Counter& cancels_;
  Counter& evictions_;
  Gauge& self_preservation_gauge_;

  std::mutex eviction_mutex_;
  std::condition_variable eviction_wakeup_;
  bool stopping_ = false;
  std::thread eviction_thread_;
};

RegistryServer::RegistryServer(ServiceHttp& http, MetricsRegistry& metrics,
                               RegistryServerOptions options)
    : impl_(std::make_unique<Impl>(http, metrics, std::move(options))) {}

RegistryServer::~RegistryServer() = default;

void RegistryServer::start() { impl_->start(); }

void RegistryServer::stop() { impl_->stop(); }

std::size_t RegistryServer::evict_expired() { return impl_->evict_expired(); }

std::size_t RegistryServer::instance_count() const { return impl_->instance_count(); }

}  // namespace claimcheck::registry
