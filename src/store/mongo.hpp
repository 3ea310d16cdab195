#pragma once

// A thin RAII layer over libmongoc and libbson for the GridFS store: owners for the driver's
// handles and a few readers that check a BSON field's type instead of trusting it.

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace claimcheck::store::mongo {

/// Initialises the driver once per process and routes its log to spdlog.
void init_driver();

struct BsonFree {
  void operator()(bson_t* document) const noexcept { bson_destroy(document); }
};
struct UriFree {
  void operator()(mongoc_uri_t* uri) const noexcept { mongoc_uri_destroy(uri); }
};
struct PoolFree {
  void operator()(mongoc_client_pool_t* pool) const noexcept { mongoc_client_pool_destroy(pool); }
};
struct CollectionFree {
  void operator()(mongoc_collection_t* collection) const noexcept {
    mongoc_collection_destroy(collection);
  }
};
struct CursorFree {
  void operator()(mongoc_cursor_t* cursor) const noexcept { mongoc_cursor_destroy(cursor); }
};

// bson_t is declared with an alignment attribute that has no effect on a pointer; GCC warns
// about it as a template argument all the same.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
using Bson = std::unique_ptr<bson_t, BsonFree>;
#pragma GCC diagnostic pop
using Uri = std::unique_ptr<mongoc_uri_t, UriFree>;
using Pool = std::unique_ptr<mongoc_client_pool_t, PoolFree>;
using Collection = std::unique_ptr<mongoc_collection_t, CollectionFree>;
using Cursor = std::unique_ptr<mongoc_cursor_t, CursorFree>;

/// A client borrowed from a pool for one operation and given back on destruction.
class PooledClient {
 public:
  explicit PooledClient(mongoc_client_pool_t* pool)
      : pool_(pool), client_(mongoc_client_pool_pop(pool)) {}
  ~PooledClient() { mongoc_client_pool_push(pool_, client_); }
  PooledClient(const PooledClient&) = delete;
  PooledClient& operator=(const PooledClient&) = delete;

  [[nodiscard]] Collection collection(const std::string& database, const std::string& name) const {
    return Collection(mongoc_client_get_collection(client_, database.c_str(), name.c_str()));
  }
  [[nodiscard]] mongoc_client_t* get() const { return client_; }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* client_;
};

/// Inserts `documents` in one ordered batch; false with `error` set when the server refuses.
bool insert_many(mongoc_collection_t* collection, const std::vector<Bson>& documents,
                 bson_error_t& error);

/// An ObjectId from 24 hex digits (the caller has checked the shape).
bson_oid_t oid_from_hex(std::string_view hex);
std::string oid_to_hex(const bson_oid_t& oid);

/// Field readers: std::nullopt when the field is absent; `type_ok` is set false when it is
/// present with a type the reader does not take.
std::optional<std::int64_t> get_integer(const bson_t& document, const char* key, bool& type_ok);
std::optional<std::string> get_utf8(const bson_t& document, const char* key, bool& type_ok);
std::optional<std::int64_t> get_date_millis(const bson_t& document, const char* key, bool& type_ok);

/// A document as relaxed Extended JSON (what nlohmann::json can parse).
std::string to_relaxed_json(const bson_t& document);

}  // namespace claimcheck::store::mongo
