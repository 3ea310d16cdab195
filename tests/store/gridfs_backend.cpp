#include "gridfs_backend.hpp"

#include <mongoc/mongoc.h>

#include <cstdlib>
#include <stdexcept>

#include "claimcheck/common/encoding.hpp"

namespace claimcheck::store::testing {
namespace {

mongoc_client_t* as_client(const std::unique_ptr<void, GridFsBackend::ClientFree>& client) {
  return static_cast<mongoc_client_t*>(client.get());
}

std::string as_text(const bson_t& document, bool canonical) {
  std::size_t length = 0;
  char* json = canonical ? bson_as_canonical_extended_json(&document, &length)
                         : bson_as_relaxed_extended_json(&document, &length);
  std::string text(json, length);
  bson_free(json);
  return text;
}

}  // namespace

void GridFsBackend::ClientFree::operator()(void* client) const noexcept {
  mongoc_client_destroy(static_cast<mongoc_client_t*>(client));
}

std::string test_mongodb_server_uri() {
  const char* uri = std::getenv("CLAIMCHECK_TEST_MONGODB_URI");
  if (uri == nullptr || *uri == '\0') {
    throw std::runtime_error(
        "CLAIMCHECK_TEST_MONGODB_URI is not set; run the GridFS tests through CTest, which starts "
        "the wire-protocol server");
  }
  return uri;
}

GridFsBackend::GridFsBackend(std::string bucket)
    : bucket_(std::move(bucket)),
      database_("cctest_" + random_hex(6)),
      uri_(test_mongodb_server_uri() + database_) {
  mongoc_init();
  client_.reset(mongoc_client_new(uri_.c_str()));
  if (!client_) {
    throw std::runtime_error("cannot create a MongoDB client for " + uri_);
  }
}

GridFsBackend::~GridFsBackend() {
  try {
    run({{"dropDatabase", 1}});
  } catch (const std::exception&) {
    // A database left behind is only disk space on a server the tests throw away.
  }
}

nlohmann::json GridFsBackend::run(const nlohmann::ordered_json& command, bool canonical) {
  const std::string text = command.dump();
  bson_error_t error;
  bson_t* document = bson_new_from_json(reinterpret_cast<const std::uint8_t*>(text.data()),
                                        static_cast<ssize_t>(text.size()), &error);
  if (document == nullptr) {
    throw std::runtime_error("bad command JSON: " + std::string(error.message));
  }
  bson_t reply;
  const bool ok = mongoc_client_command_simple(as_client(client_), database_.c_str(), document,
                                               nullptr, &reply, &error);
  bson_destroy(document);
  const std::string reply_text = as_text(reply, canonical);
  bson_destroy(&reply);
  if (!ok) {
    throw std::runtime_error("command " + text.substr(0, 200) + " failed: " + error.message);
  }
  return nlohmann::json::parse(reply_text);
}

nlohmann::json GridFsBackend::find(const std::string& collection,
                                   const nlohmann::ordered_json& filter, bool canonical) {
  return run({{"find", collection}, {"filter", filter}, {"sort", {{"n", 1}}}, {"batchSize", 10000}},
             canonical)["cursor"]["firstBatch"];
}

std::unique_ptr<Store> GridFsBackend::open(std::uint32_t chunk_size) {
  return open_store(uri_, {.chunk_size = chunk_size, .bucket = bucket_});
}

std::vector<ChunkRow> GridFsBackend::chunks(const std::string& id) {
  std::vector<ChunkRow> rows;
  for (const auto& chunk : find(bucket_ + ".chunks", {{"files_id", oid(id)}})) {
    const auto data = base64_decode(chunk["data"]["$binary"]["base64"].get<std::string>());
    rows.push_back({chunk["n"].get<std::int64_t>(), static_cast<std::int64_t>(data->size())});
  }
  return rows;
}

void GridFsBackend::replace_chunk(const std::string& id, std::int64_t n, std::string_view data) {
  update(bucket_ + ".chunks", {{"files_id", oid(id)}, {"n", n}},
         {{"$set", {{"data", binary(data)}}}});
}

void GridFsBackend::insert_chunk(const std::string& id, std::int64_t n, std::string_view data) {
  run({{"insert", bucket_ + ".chunks"},
       {"documents",
        {{{"_id", oid(random_hex(12))},
          {"files_id", oid(id)},
          {"n", {{"$numberInt", std::to_string(n)}}},
          {"data", binary(data)}}}}});
}

void GridFsBackend::delete_chunk(const std::string& id, std::int64_t n) {
  remove(bucket_ + ".chunks", {{"files_id", oid(id)}, {"n", n}});
}

void GridFsBackend::delete_chunks(const std::string& id) {
  remove(bucket_ + ".chunks", {{"files_id", oid(id)}});
}

void GridFsBackend::set_length(const std::string& id, std::int64_t length) {
  update(bucket_ + ".files", {{"_id", oid(id)}},
         {{"$set", {{"length", {{"$numberLong", std::to_string(length)}}}}}});
}

void GridFsBackend::set_chunk_size(const std::string& id, std::int64_t chunk_size) {
  update(bucket_ + ".files", {{"_id", oid(id)}},
         {{"$set", {{"chunkSize", {{"$numberLong", std::to_string(chunk_size)}}}}}});
}

void GridFsBackend::damage_metadata(const std::string& id) {
  update(bucket_ + ".files", {{"_id", oid(id)}}, {{"$set", {{"metadata", "{oops"}}}});
}

std::int64_t GridFsBackend::count_files() {
  return run({{"count", bucket_ + ".files"}})["n"].get<std::int64_t>();
}

std::int64_t GridFsBackend::count_chunks() {
  return run({{"count", bucket_ + ".chunks"}})["n"].get<std::int64_t>();
}

void GridFsBackend::update(const std::string& collection, const nlohmann::ordered_json& filter,
                           const nlohmann::ordered_json& change) {
  const auto reply = run({{"update", collection}, {"updates", {{{"q", filter}, {"u", change}}}}});
  if (reply.value("n", 0) != 1) {
    throw std::runtime_error("update on " + collection + " matched " + reply.dump());
  }
}

void GridFsBackend::remove(const std::string& collection, const nlohmann::ordered_json& filter) {
  run({{"delete", collection}, {"deletes", {{{"q", filter}, {"limit", 0}}}}});
}

nlohmann::ordered_json oid(const std::string& hex) { return {{"$oid", hex}}; }

nlohmann::ordered_json binary(std::string_view data) {
  return {{"$binary", {{"base64", base64_encode(data)}, {"subType", "00"}}}};
}

}  // namespace claimcheck::store::testing
