#pragma once

/// Waiting for SIGINT or SIGTERM without signal handlers.

#include <chrono>

namespace claimcheck {

/// Blocks SIGINT and SIGTERM for the whole process so that they queue up instead of killing it.
/// Construct it first thing in main(), before any thread starts, so every thread inherits the
/// mask; then wait() (or poll with wait_for()) on the main thread.
class ShutdownSignal {
 public:
  ShutdownSignal();

  /// Blocks until SIGINT or SIGTERM arrives.
  void wait();

  /// Waits at most `timeout`; true when a shutdown signal arrived.
  bool wait_for(std::chrono::milliseconds timeout);
};

}  // namespace claimcheck
