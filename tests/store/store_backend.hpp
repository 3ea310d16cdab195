#pragma once

// One store under test plus direct access to the data behind it, bypassing the store, to damage
// it the way a faulty disk, a bad migration or another program would. The store contract tests
// (store_contract_test.cpp) run once per backend.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/store/store.hpp"
#include "store_test_support.hpp"

namespace claimcheck::store::testing {

class StoreBackend {
 public:
  virtual ~StoreBackend() = default;

  /// A Store on this backend's location; every call opens the same location.
  virtual std::unique_ptr<Store> open(std::uint32_t chunk_size) = 0;

  /// The file's chunks as stored, ordered by n.
  virtual std::vector<ChunkRow> chunks(const std::string& id) = 0;
  virtual void replace_chunk(const std::string& id, std::int64_t n, std::string_view data) = 0;
  virtual void insert_chunk(const std::string& id, std::int64_t n, std::string_view data) = 0;
  virtual void delete_chunk(const std::string& id, std::int64_t n) = 0;
  virtual void delete_chunks(const std::string& id) = 0;
  virtual void set_length(const std::string& id, std::int64_t length) = 0;
  virtual void set_chunk_size(const std::string& id, std::int64_t chunk_size) = 0;
  /// Makes the files record's metadata unreadable.
  virtual void damage_metadata(const std::string& id) = 0;
  virtual std::int64_t count_files() = 0;
  virtual std::int64_t count_chunks() = 0;
};

/// A fresh SQLite database in a temporary directory, removed with the backend.
std::unique_ptr<StoreBackend> make_sqlite_backend();

}  // namespace claimcheck::store::testing
