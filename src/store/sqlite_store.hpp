#pragma once

// The embedded store: GridFS semantics in one SQLite database (tables `files` and `chunks`).

#include <cstdint>
#include <memory>
#include <string>

#include "claimcheck/store/store.hpp"

namespace claimcheck::store {

/// Opens (creating if needed) the database at `path`; the parent directory must exist.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, std::uint32_t chunk_size);

}  // namespace claimcheck::store
