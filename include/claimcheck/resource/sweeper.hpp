#pragma once

/// Keeps the store from filling up with what nobody will ask for again: at a fixed interval it
/// removes expired files, chunks of uploads that never finished (once older than the safety
/// window) and expired answered-message records (store::Store::sweep()).
///
/// Runs on a thread of its own, started by the constructor and stopped by the destructor; a
/// failed sweep is logged and counted, and the next one comes at the next interval. The store
/// must outlive the Sweeper and may be used by other threads meanwhile.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "claimcheck/common/config.hpp"
#include "claimcheck/common/metrics.hpp"
#include "claimcheck/store/store.hpp"

namespace claimcheck::resource {

struct SweepSettings {
  /// Time between sweeps; zero turns sweeping off.
  std::chrono::milliseconds interval{std::chrono::minutes(10)};
  /// Orphaned chunks younger than this may belong to an upload still running.
  std::chrono::seconds orphan_window{std::chrono::hours(1)};

  /// Reads lifecycle.sweep-interval and lifecycle.orphan-window. Throws ConfigError for an
  /// interval under a second (other than 0) or an orphan window under a minute.
  static SweepSettings from_config(const Config& config);
};

class Sweeper {
 public:
  Sweeper(store::Store& store, SweepSettings settings, MetricsRegistry& metrics);
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

 private:
  void run(const std::stop_token& stop);
  void sweep_once() noexcept;

  store::Store& store_;
  SweepSettings settings_;
  Counter& files_removed_;
  Counter& chunks_removed_;
  Counter& failures_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  // Last: starts once the members it uses exist, and is stopped and joined first; a stop
  // request also ends the wait between sweeps.
  std::jthread thread_;
};

}  // namespace claimcheck::resource
