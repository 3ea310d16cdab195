#pragma once

// The GridFS backend for the store tests: a fresh database on the MongoDB wire-protocol server
// that CTest starts (tests/store/CMakeLists.txt), reached through the URI in the environment
// variable CLAIMCHECK_TEST_MONGODB_URI ("mongodb://127.0.0.1:PORT/"), dropped afterwards.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "store_backend.hpp"

namespace claimcheck::store::testing {

/// The server's URI without a database; throws std::runtime_error when the variable is unset.
std::string test_mongodb_server_uri();

class GridFsBackend final : public StoreBackend {
 public:
  struct ClientFree {
    void operator()(void* client) const noexcept;
  };

  explicit GridFsBackend(std::string bucket = "fs");
  ~GridFsBackend() override;
  GridFsBackend(const GridFsBackend&) = delete;
  GridFsBackend& operator=(const GridFsBackend&) = delete;

  /// The URI of this backend's database, as a store location.
  [[nodiscard]] const std::string& uri() const { return uri_; }
  [[nodiscard]] const std::string& bucket() const { return bucket_; }

  /// Runs a database command written as Extended JSON (ordered: the command name comes first) and
  /// returns the reply, in canonical Extended JSON (so that int32 and int64 stay apart) or relaxed.
  /// Throws on a failed command.
  nlohmann::json run(const nlohmann::ordered_json& command, bool canonical = false);
  /// The first batch of a find on `collection` (at most 10,000 documents).
  nlohmann::json find(const std::string& collection, const nlohmann::ordered_json& filter,
                      bool canonical = false);

  std::unique_ptr<Store> open(std::uint32_t chunk_size) override;
  std::vector<ChunkRow> chunks(const std::string& id) override;
  void replace_chunk(const std::string& id, std::int64_t n, std::string_view data) override;
  void insert_chunk(const std::string& id, std::int64_t n, std::string_view data) override;
  void delete_chunk(const std::string& id, std::int64_t n) override;
  void delete_chunks(const std::string& id) override;
  void set_length(const std::string& id, std::int64_t length) override;
  void set_chunk_size(const std::string& id, std::int64_t chunk_size) override;
  void damage_metadata(const std::string& id) override;
  std::int64_t count_files() override;
  std::int64_t count_chunks() override;

 private:
  void update(const std::string& collection, const nlohmann::ordered_json& filter,
              const nlohmann::ordered_json& change);
  void remove(const std::string& collection, const nlohmann::ordered_json& filter);

  std::string bucket_;
  std::string database_;
  std::string uri_;
  std::unique_ptr<void, ClientFree> client_;
};

/// Extended JSON for an ObjectId and for binary data.
nlohmann::ordered_json oid(const std::string& hex);
nlohmann::ordered_json binary(std::string_view data);

}  // namespace claimcheck::store::testing
