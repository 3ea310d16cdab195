#include "claimcheck/resource/sweeper.hpp"

#include <spdlog/spdlog.h>

namespace claimcheck::resource {

SweepSettings SweepSettings::from_config(const Config& config) {
  SweepSettings settings;
  settings.interval = config.get_duration("lifecycle.sweep-interval", settings.interval);
  if (settings.interval < std::chrono::milliseconds::zero() ||
      (settings.interval > std::chrono::milliseconds::zero() &&
       settings.interval < std::chrono::seconds(1))) {
    throw ConfigError("lifecycle.sweep-interval must be 0 (off) or at least 1s");
  }
  settings.orphan_window = std::chrono::duration_cast<std::chrono::seconds>(
      config.get_duration("lifecycle.orphan-window", settings.orphan_window));
  if (settings.orphan_window < std::chrono::minutes(1)) {
    // Shorter than an upload takes, the sweeper would take the chunks of files being stored.
    throw ConfigError("lifecycle.orphan-window must be at least 1m");
  }
  return settings;
}

Sweeper::Sweeper(store::Store& store, SweepSettings settings, MetricsRegistry& metrics)
    : store_(store),
      settings_(settings),
      files_removed_(
          metrics.counter("claimcheck_swept_files_total", "Expired files the sweeper removed")),
      chunks_removed_(
          metrics.counter("claimcheck_swept_chunks_total", "Orphaned chunks the sweeper removed")),
      failures_(metrics.counter("claimcheck_sweep_failures_total", "Sweeps that failed")) {
  if (settings_.interval > std::chrono::milliseconds::zero()) {
    thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
  }
}

void Sweeper::run(const std::stop_token& stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    lock.unlock();
    sweep_once();
    lock.lock();
    wake_.wait_for(lock, stop, settings_.interval, [] { return false; });
  }
}

void Sweeper::sweep_once() noexcept {
  try {
    const store::SweepResult result =
        store_.sweep(std::chrono::system_clock::now(), settings_.orphan_window);
    files_removed_.increment(result.expired_files);
    chunks_removed_.increment(result.orphaned_chunks);
    if (result.expired_files + result.orphaned_chunks + result.expired_messages > 0) {
      spdlog::info("sweep removed {} expired files, {} orphaned chunks, {} expired message records",
                   result.expired_files, result.orphaned_chunks, result.expired_messages);
    }
  } catch (const std::exception& error) {
    failures_.increment();
    spdlog::warn("sweep of store {} failed: {}; trying again in {} s", store_.describe(),
                 error.what(),
                 std::chrono::duration_cast<std::chrono::seconds>(settings_.interval).count());
  }
}

}  // namespace claimcheck::resource
