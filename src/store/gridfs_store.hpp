#pragma once

// The production store: MongoDB GridFS through the official C driver (libmongoc).

#include <cstdint>
#include <memory>
#include <string>

#include "claimcheck/store/store.hpp"

namespace claimcheck::store {

/// Connects lazily to the MongoDB deployment of `uri` (the database is the URI's path,
/// "claimcheck" when it names none) and uses the GridFS bucket `bucket` there.
std::unique_ptr<Store> open_gridfs_store(const std::string& uri, const std::string& bucket,
                                         std::uint32_t chunk_size);

}  // namespace claimcheck::store
