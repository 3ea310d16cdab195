#pragma once

// The ids of failed uploads whose chunks could not be removed at once (the database was away
// when the upload failed, so the clean-up failed too). Both stores try them again before their
// next upload; sweep() takes whatever is still left once it is old enough.

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace claimcheck::store {

class DiscardBacklog {
 public:
  void add(std::string id) {
    const std::lock_guard lock(mutex_);
    ids_.push_back(std::move(id));
  }

  /// Everything added so far; the backlog is empty afterwards.
  std::vector<std::string> take() {
    const std::lock_guard lock(mutex_);
    return std::exchange(ids_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> ids_;
};

}  // namespace claimcheck::store
