#pragma once

// The registry's state: applications, their instances' leases, status overrides, the recent
// changes served as the delta, and self-preservation. Knows nothing of HTTP or peers; the
// server turns requests into calls here and replicates what succeeded.
//
// Threading: every member function is safe to call from any thread (one shared mutex).

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>

#include "claimcheck/registry/registry_server.hpp"
#include "eureka_codec.hpp"

namespace claimcheck::registry {

/// Where self-preservation stands, with the numbers that decide it.
struct SelfPreservationState {
  bool enabled = true;  ///< configured on
  bool active = false;  ///< expired leases are being kept right now
  std::int64_t expected_clients = 0;
  std::int64_t renews_threshold = 0;  ///< per measurement window
  std::int64_t renews_last_window = 0;
  std::chrono::milliseconds window{0};
  double percent_threshold = 0;
  std::chrono::seconds expected_renewal_interval{0};
};

class InstanceRegistry {
 public:
  explicit InstanceRegistry(const RegistryServerOptions& options);

  /// Stores (or replaces) a registration; the reason when a limit forbids it. A replica older
  /// than the copy held (by lastDirtyTimestamp) is ignored, as Eureka does.
  std::optional<std::string> add(eureka::ValidRegistration registration, bool replication);

  enum class Renewal { kRenewed, kUnknown };
  /// kUnknown when the instance is not held, its status is UNKNOWN (an override was removed
  /// without a new status), or `client_dirty` is newer than the copy held: the client must
  /// register again.
  Renewal renew(const std::string& app, const std::string& id,
                std::optional<std::int64_t> client_dirty);

  /// Each returns false when the instance is not held.
  bool cancel(const std::string& app, const std::string& id);
  bool override_status(const std::string& app, const std::string& id, const std::string& status,
                       std::optional<std::int64_t> dirty);
  bool remove_status_override(const std::string& app, const std::string& id,
                              const std::string& new_status, std::optional<std::int64_t> dirty);
  bool update_metadata(const std::string& app, const std::string& id,
                       const std::map<std::string, std::string>& metadata);

  /// Served forms, as Eureka's JSON codec writes them.
  [[nodiscard]] std::optional<nlohmann::json> instance(const std::string& app,
                                                       const std::string& id) const;
  [[nodiscard]] std::optional<nlohmann::json> instance_by_id(const std::string& id) const;
  [[nodiscard]] std::optional<nlohmann::json> application(const std::string& app) const;
  [[nodiscard]] nlohmann::json applications() const;
  /// The instances whose (secure) VIP address list names `vip`, as an applications document.
  [[nodiscard]] nlohmann::json applications_for_vip(const std::string& vip, bool secure) const;
  nlohmann::json delta();

  /// Removes expired leases unless self-preservation holds them, at most the share of the
  /// registry that the renewal threshold allows per run (Eureka's batch limit, so that a network
  /// split drains the registry gradually); returns how many were removed.
  std::size_t evict_expired();

  /// Re-bases the expected number of renewing clients on the current count, as Eureka does
  /// every renewal-threshold-update-interval.
  void update_renewal_threshold();

  SelfPreservationState self_preservation();
  [[nodiscard]] std::size_t instance_count() const;

 private:
  struct Lease {
    nlohmann::json instance;
    std::string reported_status;
    std::string overridden_status = "UNKNOWN";
    std::chrono::seconds renewal_interval{30};
    std::chrono::seconds duration{90};
    std::int64_t registration_ms = 0;
    std::int64_t last_renewal_ms = 0;
    std::int64_t service_up_ms = 0;
    std::int64_t last_updated_ms = 0;
    std::int64_t last_dirty_ms = 0;
    std::chrono::steady_clock::time_point expires_at;

    [[nodiscard]] const std::string& status() const;
  };
  using Instances = std::map<std::string, Lease>;  // by instance id

  struct Change {
    std::chrono::steady_clock::time_point at;
    std::string app;
    nlohmann::json instance;  // as served, with actionType set
  };

  static nlohmann::json serve(const Lease& lease, std::string_view action_type);
  static nlohmann::json application_json(const std::string& name, const Instances& instances);
  nlohmann::json applications_document(nlohmann::json applications) const;

  // Callers of the functions below hold mutex_ (exclusively where they change state).
  Lease* find(const std::string& app, const std::string& id);
  const Lease* find(const std::string& app, const std::string& id) const;
  void record_change(const std::string& app, const Lease& lease, std::string_view action_type);
  void prune_changes(std::chrono::steady_clock::time_point now);
  void rotate_renewal_window(std::chrono::steady_clock::time_point now);
  void recompute_threshold();
  [[nodiscard]] bool lease_expiration_enabled() const;
  [[nodiscard]] std::string apps_hashcode() const;
  [[nodiscard]] std::size_t count() const;

  const RegistryServerOptions options_;

  mutable std::shared_mutex mutex_;
  std::map<std::string, Instances> apps_;
  std::deque<Change> changes_;
  std::uint64_t version_ = 0;

  std::int64_t expected_clients_ = 0;
  std::int64_t renews_threshold_ = 0;
  std::int64_t renews_this_window_ = 0;
  std::int64_t renews_last_window_ = 0;
  std::chrono::steady_clock::time_point window_start_;
  bool self_preservation_logged_ = false;
};

}  // namespace claimcheck::registry
