#pragma once

/// The registry client every claimcheck service uses: it registers the service in one or more
/// Eureka-compatible registries, keeps the registration alive with heartbeats, and finds other
/// services by application name.
///
/// Every HTTP call carries connect, read and write timeouts of the configured length, so no call
/// waits for an unreachable registry longer than that per URL tried. With several registry URLs
/// (peers holding the same registry) the load spreads: an instance registers and heartbeats at
/// the URL its id hashes to, lookups rotate over the URLs, and the other URLs are the fallback
/// when one does not answer. A RegistryClient is safe to use from any
/// thread; start() runs one background thread for heartbeats until stop() or destruction.

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace claimcheck::registry {

/// What a service announces about itself.
struct InstanceRegistration {
  /// Application name; the registry upper-cases it, and other services look it up by it.
  std::string app;
  /// Unique among the app's instances; when empty, "host:app:port" is used (as Spring does).
  std::string instance_id;
  std::string host = "127.0.0.1";
  int port = 0;
  std::map<std::string, std::string> metadata;
  /// How often heartbeats are sent.
  std::chrono::seconds renewal_interval{30};
  /// How long the registry keeps the instance without a heartbeat.
  std::chrono::seconds lease_duration{90};
};

/// An instance as the registry lists it.
struct Instance {
  std::string app;
  std::string instance_id;
  std::string host;
  int port = 0;
  std::string status;
  std::string home_page_url;
  std::map<std::string, std::string> metadata;

  /// "http://host:port", without a trailing slash.
  [[nodiscard]] std::string base_url() const;
};

/// A registry could not be reached or refused a request; the message names the registry URL(s)
/// and what failed.
class RegistryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How long instances() reuses a fetched list before asking the registry again.
inline constexpr std::chrono::milliseconds kDefaultInstanceCacheTtl{3000};

class RegistryClient {
 public:
  /// `registry_urls` are Eureka service URLs such as "http://127.0.0.1:8761/eureka" (http or
  /// https). Throws RegistryError when the list is empty or a URL is malformed.
  RegistryClient(std::vector<std::string> registry_urls, std::chrono::milliseconds timeout,
                 std::chrono::milliseconds cache_ttl = kDefaultInstanceCacheTtl);
  /// Stops heartbeats and cancels the registration, as stop() does.
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  /// Registers and starts a background heartbeat thread; a heartbeat answered with 404 (the
  /// registry forgot the instance, e.g. after a restart) re-registers at once. Throws
  /// RegistryError if no registry URL accepts the first registration, and std::logic_error when
  /// already started.
  void start(const InstanceRegistration& registration);

  /// Stops heartbeats and cancels the registration (best effort, each attempt bounded by the
  /// timeout). Does nothing when not started; safe to call twice.
  void stop();

  /// UP instances of `app`, from the registry, tried URL by URL. If every registry is down, the
  /// last list fetched for `app`; throws RegistryError if none was ever fetched. A fetched list
  /// is reused for the cache TTL so that callers need not cache it themselves.
  std::vector<Instance> instances(const std::string& app);

  /// base_url() of one UP instance of `app`, rotating among them from call to call. Throws
  /// RegistryError naming the app when it has no UP instance.
  std::string resolve(const std::string& app);

  [[nodiscard]] const std::vector<std::string>& registry_urls() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace claimcheck::registry
