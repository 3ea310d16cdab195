#pragma once

// The check both stores make on the ids of answered-message records.

#include <fmt/format.h>

#include <string_view>

#include "claimcheck/store/store.hpp"

namespace claimcheck::store {

inline void require_message_id(std::string_view message_id) {
  if (message_id.empty() || message_id.size() > kMaxMessageIdBytes) {
    throw StoreError(StoreErrc::kInvalidArgument,
                     fmt::format("message id must be 1 to {} bytes long, not {}",
                                 kMaxMessageIdBytes, message_id.size()));
  }
}

}  // namespace claimcheck::store
