#pragma once

/// Exponential backoff with jitter, for retries and reconnects.
///
/// Delays start at `first` and double up to `max`; each one is drawn at random from the upper
/// half of its step ([step / 2, step]), so that the many consumers that lost the same broker
/// or store do not all come back in the same instant. Not thread-safe: one per retrying loop.

#include <chrono>
#include <random>

namespace claimcheck {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max);

  /// The delay to wait before the next attempt; every call doubles the step (up to max).
  std::chrono::milliseconds next();

  /// The delay before attempt `attempt` + 1 of something that failed `attempt` times (1-based),
  /// without keeping state: for retries counted in the message rather than in a loop.
  std::chrono::milliseconds after_attempt(int attempt);

  /// Back to `first`, after a success.
  void reset();

 private:
  std::chrono::milliseconds jittered(std::chrono::milliseconds step);

  std::chrono::milliseconds first_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds step_;
  std::mt19937_64 random_;
};

}  // namespace claimcheck
