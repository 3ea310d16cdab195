#include "claimcheck/common/backoff.hpp"

#include <algorithm>

namespace claimcheck {

Backoff::Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max)
    : first_(std::max(first, std::chrono::milliseconds(1))),
      max_(std::max(max, first_)),
      step_(first_),
      random_(std::random_device{}()) {}

std::chrono::milliseconds Backoff::next() {
  const auto delay = jittered(step_);
  step_ = std::min(step_ * 2, max_);
  return delay;
}

std::chrono::milliseconds Backoff::after_attempt(int attempt) {
  auto step = first_;
  for (int i = 1; i < attempt && step < max_; ++i) {
    step = std::min(step * 2, max_);
  }
  return jittered(step);
}

void Backoff::reset() { step_ = first_; }

std::chrono::milliseconds Backoff::jittered(std::chrono::milliseconds step) {
  std::uniform_int_distribution<std::chrono::milliseconds::rep> pick(step.count() / 2,
                                                                     step.count());
  return std::chrono::milliseconds(pick(random_));
}

}  // namespace claimcheck
