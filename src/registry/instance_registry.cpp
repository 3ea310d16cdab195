#include "instance_registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>
#include <vector>

namespace claimcheck::registry {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// Bounds the delta log under a registration storm; a client that misses changes notices the
// apps__hashcode mismatch and fetches the full registry instead.
constexpr std::size_t kMaxRecentChanges = 10'000;

constexpr std::string_view kUnknown = "UNKNOWN";

std::int64_t now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A VIP address may be a comma-separated list, as Eureka allows.
bool names_vip(const json& instance, std::string_view key, const std::string& vip) {
  const auto found = instance.find(key);
  if (found == instance.end() || !found->is_string()) {
    return false;
  }
  const auto& list = found->get_ref<const std::string&>();
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t end = std::min(list.find(',', start), list.size());
    if (eureka::lower_case(list.substr(start, end - start)) == eureka::lower_case(vip)) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

}  // namespace

const std::string& InstanceRegistry::Lease::status() const {
  return overridden_status != kUnknown ? overridden_status : reported_status;
}

InstanceRegistry::InstanceRegistry(const RegistryServerOptions& options)
    : options_(options), window_start_(SteadyClock::now()) {}

std::optional<std::string> InstanceRegistry::add(eureka::ValidRegistration registration,
                                                 bool replication) {
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
  const bool known = previous != instances.end();
  if (known && replication && registration.last_dirty_timestamp > 0 &&
      registration.last_dirty_timestamp < previous->second.last_dirty_ms) {
    spdlog::debug("ignoring an older replica of {}/{}", registration.app, registration.instance_id);
    return std::nullopt;
  }

  Lease lease;
  lease.reported_status = registration.status;
  // Like Eureka, an override outlives re-registrations until it is removed or the instance is
  // cancelled; a registration that carries one (a replica) sets it.
  lease.overridden_status = registration.overridden_status != kUnknown
                                ? registration.overridden_status
                                : (known ? previous->second.overridden_status : "UNKNOWN");
  lease.renewal_interval = registration.renewal_interval;
  lease.duration = registration.lease_duration;
  lease.registration_ms = now;
  lease.last_renewal_ms = now;
  lease.last_updated_ms = now;
  lease.last_dirty_ms =
      registration.last_dirty_timestamp > 0 ? registration.last_dirty_timestamp : now;
  // Like Eureka, a re-registration keeps the time the instance first came up.
  if (known && previous->second.service_up_ms > 0) {
    lease.service_up_ms = previous->second.service_up_ms;
  } else {
    lease.service_up_ms = lease.status() == "UP" ? now : 0;
  }
  lease.expires_at = SteadyClock::now() + lease.duration;
  lease.instance = std::move(registration.instance);
  record_change(registration.app, lease, "ADDED");
  instances[registration.instance_id] = std::move(lease);
  if (!known) {
    ++expected_clients_;
    recompute_threshold();
  }
  return std::nullopt;
}

InstanceRegistry::Renewal InstanceRegistry::renew(const std::string& app, const std::string& id,
                                                  std::optional<std::int64_t> client_dirty) {
  const auto now = SteadyClock::now();
  const std::unique_lock lock(mutex_);
  rotate_renewal_window(now);
  ++renews_this_window_;
  Lease* lease = find(app, id);
  // A client whose copy is newer than ours registers again so that we learn its changes.
  if (lease == nullptr || lease->status() == kUnknown ||
      (client_dirty && *client_dirty > lease->last_dirty_ms)) {
    return Renewal::kUnknown;
  }
  lease->last_renewal_ms = now_millis();
  lease->expires_at = now + lease->duration;
  return Renewal::kRenewed;
}

bool InstanceRegistry::cancel(const std::string& app_name, const std::string& id) {
  const std::unique_lock lock(mutex_);
  const auto app = apps_.find(app_name);
  if (app == apps_.end() || !app->second.contains(id)) {
    return false;
  }
  record_change(app_name, app->second.at(id), "DELETED");
  app->second.erase(id);
  if (app->second.empty()) {
    apps_.erase(app);
  }
  if (expected_clients_ > 0) {
    --expected_clients_;
    recompute_threshold();
  }
  return true;
}

bool InstanceRegistry::override_status(const std::string& app, const std::string& id,
                                       const std::string& status,
                                       std::optional<std::int64_t> dirty) {
  const std::unique_lock lock(mutex_);
  Lease* lease = find(app, id);
  if (lease == nullptr) {
    return false;
  }
  lease->overridden_status = status;
  lease->last_dirty_ms = dirty.value_or(now_millis());
  lease->last_updated_ms = now_millis();
  if (status == "UP" && lease->service_up_ms == 0) {
    lease->service_up_ms = lease->last_updated_ms;
  }
  record_change(app, *lease, "MODIFIED");
  return true;
}

bool InstanceRegistry::remove_status_override(const std::string& app, const std::string& id,
                                              const std::string& new_status,
                                              std::optional<std::int64_t> dirty) {
  const std::unique_lock lock(mutex_);
  Lease* lease = find(app, id);
  if (lease == nullptr) {
    return false;
  }
  lease->overridden_status = kUnknown;
  lease->reported_status = new_status;
  lease->last_dirty_ms = dirty.value_or(now_millis());
  lease->last_updated_ms = now_millis();
  record_change(app, *lease, "MODIFIED");
  return true;
}

bool InstanceRegistry::update_metadata(const std::string& app, const std::string& id,
                                       const std::map<std::string, std::string>& metadata) {
  const std::unique_lock lock(mutex_);
  Lease* lease = find(app, id);
  if (lease == nullptr) {
    return false;
  }
  for (const auto& [key, value] : metadata) {
    lease->instance["metadata"][key] = value;
  }
  lease->last_updated_ms = now_millis();
  record_change(app, *lease, "MODIFIED");
  return true;
}

std::optional<json> InstanceRegistry::instance(const std::string& app,
                                               const std::string& id) const {
  const std::shared_lock lock(mutex_);
  const Lease* lease = find(app, id);
  return lease == nullptr ? std::nullopt : std::optional(serve(*lease, "ADDED"));
}

std::optional<json> InstanceRegistry::instance_by_id(const std::string& id) const {
  const std::shared_lock lock(mutex_);
  for (const auto& [name, instances] : apps_) {
    if (const auto found = instances.find(id); found != instances.end()) {
      return serve(found->second, "ADDED");
    }
  }
  return std::nullopt;
}

std::optional<json> InstanceRegistry::application(const std::string& app) const {
  const std::shared_lock lock(mutex_);
  const auto found = apps_.find(app);
  if (found == apps_.end()) {
    return std::nullopt;
  }
  return application_json(found->first, found->second);
}

json InstanceRegistry::applications() const {
  const std::shared_lock lock(mutex_);
  json applications = json::array();
  for (const auto& [name, instances] : apps_) {
    applications.push_back(application_json(name, instances));
  }
  return applications_document(std::move(applications));
}

json InstanceRegistry::applications_for_vip(const std::string& vip, bool secure) const {
  const std::string_view key = secure ? "secureVipAddress" : "vipAddress";
  const std::shared_lock lock(mutex_);
  json applications = json::array();
  for (const auto& [name, instances] : apps_) {
    json items = json::array();
    for (const auto& [id, lease] : instances) {
      if (names_vip(lease.instance, key, vip)) {
        items.push_back(serve(lease, "ADDED"));
      }
    }
    if (!items.empty()) {
      applications.push_back({{"name", name}, {"instance", std::move(items)}});
    }
  }
  return applications_document(std::move(applications));
}

json InstanceRegistry::delta() {
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
  return applications_document(std::move(applications));
}

std::size_t InstanceRegistry::evict_expired() {
  const auto now = SteadyClock::now();
  const std::unique_lock lock(mutex_);
  rotate_renewal_window(now);
  prune_changes(now);

  const bool enabled = lease_expiration_enabled();
  if (enabled == self_preservation_logged_ && (enabled || expected_clients_ > 0)) {
    if (enabled) {
      spdlog::info(
          "self-preservation off: {} renewals in the last window, above {}; expired "
          "leases are evicted again",
          renews_last_window_, renews_threshold_);
    } else {
      spdlog::warn(
          "self-preservation on: {} renewals in the last window, at or below the "
          "threshold of {} ({} expected clients); expired leases are kept",
          renews_last_window_, renews_threshold_, expected_clients_);
    }
    self_preservation_logged_ = !enabled;
  }
  if (!enabled) {
    return 0;
  }

  std::vector<std::pair<std::string, std::string>> expired;
  for (const auto& [app, instances] : apps_) {
    for (const auto& [id, lease] : instances) {
      if (lease.expires_at < now) {
        expired.emplace_back(app, id);
      }
    }
  }
  const std::size_t size = count();
  const auto limit = size - static_cast<std::size_t>(std::floor(
                                static_cast<double>(size) * options_.renewal_percent_threshold));
  if (options_.self_preservation && expired.size() > limit) {
    // Random, as Eureka picks them, so that no single application is drained first.
    std::shuffle(expired.begin(), expired.end(), std::mt19937(std::random_device()()));
    spdlog::warn("{} leases expired; evicting {} now, the most one run may", expired.size(), limit);
    expired.resize(limit);
  }
  for (const auto& [app, id] : expired) {
    auto& instances = apps_.at(app);
    const Lease& lease = instances.at(id);
    spdlog::warn("evicting {}/{}: no heartbeat within its {} s lease", app, id,
                 lease.duration.count());
    record_change(app, lease, "DELETED");
    instances.erase(id);
    if (instances.empty()) {
      apps_.erase(app);
    }
  }
  return expired.size();
}

void InstanceRegistry::update_renewal_threshold() {
  const std::unique_lock lock(mutex_);
  const auto held = static_cast<std::int64_t>(count());
  // Like Eureka: a sudden drop (a network split) must not lower the bar self-preservation holds
  // the registry to, so only a count above the threshold's share is taken over.
  if (static_cast<double>(held) >
          options_.renewal_percent_threshold * static_cast<double>(expected_clients_) ||
      !options_.self_preservation) {
    expected_clients_ = held;
    recompute_threshold();
  }
}

SelfPreservationState InstanceRegistry::self_preservation() {
  const std::unique_lock lock(mutex_);
  rotate_renewal_window(SteadyClock::now());
  SelfPreservationState state;
  state.enabled = options_.self_preservation;
  state.active = !lease_expiration_enabled();
  state.expected_clients = expected_clients_;
  state.renews_threshold = renews_threshold_;
  state.renews_last_window = renews_last_window_;
  state.window = options_.renewal_measurement_window;
  state.percent_threshold = options_.renewal_percent_threshold;
  state.expected_renewal_interval = options_.expected_client_renewal_interval;
  return state;
}

std::size_t InstanceRegistry::instance_count() const {
  const std::shared_lock lock(mutex_);
  return count();
}

json InstanceRegistry::serve(const Lease& lease, std::string_view action_type) {
  json instance = lease.instance;
  instance["status"] = lease.status();
  instance["overriddenStatus"] = lease.overridden_status;
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

json InstanceRegistry::application_json(const std::string& name, const Instances& instances) {
  json items = json::array();
  for (const auto& [id, lease] : instances) {
    items.push_back(serve(lease, "ADDED"));
  }
  return {{"name", name}, {"instance", std::move(items)}};
}

json InstanceRegistry::applications_document(json applications) const {
  return {{"applications",
           {{"versions__delta", std::to_string(version_)},
            {"apps__hashcode", apps_hashcode()},
            {"application", std::move(applications)}}}};
}

InstanceRegistry::Lease* InstanceRegistry::find(const std::string& app, const std::string& id) {
  const auto found_app = apps_.find(app);
  if (found_app == apps_.end()) {
    return nullptr;
  }
  const auto found = found_app->second.find(id);
  return found == found_app->second.end() ? nullptr : &found->second;
}

const InstanceRegistry::Lease* InstanceRegistry::find(const std::string& app,
                                                      const std::string& id) const {
  return const_cast<InstanceRegistry*>(this)->find(app, id);
}

void InstanceRegistry::record_change(const std::string& app, const Lease& lease,
                                     std::string_view action_type) {
  changes_.push_back({SteadyClock::now(), app, serve(lease, action_type)});
  if (changes_.size() > kMaxRecentChanges) {
    changes_.pop_front();
  }
  ++version_;
}

void InstanceRegistry::prune_changes(SteadyClock::time_point now) {
  while (!changes_.empty() && now - changes_.front().at > options_.delta_retention) {
    changes_.pop_front();
  }
}

// Eureka measures renewals per minute in fixed buckets: the count that decides is the one of the
// last complete window, not a sliding one.
void InstanceRegistry::rotate_renewal_window(SteadyClock::time_point now) {
  const auto elapsed = now - window_start_;
  if (elapsed < options_.renewal_measurement_window) {
    return;
  }
  const auto windows = elapsed / options_.renewal_measurement_window;
  renews_last_window_ = windows == 1 ? renews_this_window_ : 0;
  renews_this_window_ = 0;
  window_start_ += windows * options_.renewal_measurement_window;
}

void InstanceRegistry::recompute_threshold() {
  const double renewals_per_window =
      std::chrono::duration<double>(options_.renewal_measurement_window).count() /
      std::chrono::duration<double>(options_.expected_client_renewal_interval).count();
  renews_threshold_ =
      static_cast<std::int64_t>(static_cast<double>(expected_clients_) * renewals_per_window *
                                options_.renewal_percent_threshold);
}

// Eureka's rule, including its corner: with a threshold of 0 (no client expected) nothing is
// evicted while self-preservation is enabled.
bool InstanceRegistry::lease_expiration_enabled() const {
  if (!options_.self_preservation) {
    return true;
  }
  return renews_threshold_ > 0 && renews_last_window_ > renews_threshold_;
}

std::string InstanceRegistry::apps_hashcode() const {
  std::map<std::string, std::size_t> counts;
  for (const auto& [name, instances] : apps_) {
    for (const auto& [id, lease] : instances) {
      ++counts[lease.status()];
    }
  }
  // Eureka's form: "<STATUS>_<count>_" per status, statuses in alphabetical order.
  std::string hash;
  for (const auto& [status, count] : counts) {
    hash += status + "_" + std::to_string(count) + "_";
  }
  return hash;
}

std::size_t InstanceRegistry::count() const {
  std::size_t total = 0;
  for (const auto& [name, instances] : apps_) {
    total += instances.size();
  }
  return total;
}

}  // namespace claimcheck::registry
