#pragma once

// The behaviour every Store must show, run once per backend: each backend's test executable
// instantiates the suite with its factory, e.g.
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Values(&make_sqlite_backend));

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "claimcheck/store/store.hpp"
#include "store_backend.hpp"

namespace claimcheck::store::testing {

using BackendFactory = std::unique_ptr<StoreBackend> (*)();

class StoreContract : public ::testing::TestWithParam<BackendFactory> {
 protected:
  // Small chunks keep the edge cases cheap.
  static constexpr std::uint32_t kChunk = 16;

  FileInfo put(const std::string& data, const std::string& name = "file.bin");
  std::string read(const std::string& id);
  /// Reads `id` expecting a StoreError with `code` whose message names the file; returns what
  /// reached the sink before the failure.
  std::string expect_read_error(const std::string& id, StoreErrc code);

  std::unique_ptr<StoreBackend> backend_ = GetParam()();
  std::unique_ptr<Store> store_ = backend_->open(kChunk);
};

}  // namespace claimcheck::store::testing
