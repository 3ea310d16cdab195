#include "gridfs_store.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <mutex>
#include <span>
#include <vector>

#include "chunk_checks.hpp"
#include "claimcheck/common/encoding.hpp"
#include "claimcheck/common/sha256.hpp"
#include "discard_backlog.hpp"
#include "message_id.hpp"
#include "mongo.hpp"

namespace claimcheck::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// Chunks go to and come from the server in batches of about this size: few round trips, and far
// below the 16 MiB a reply may hold (servers that only speak MongoDB's protocol may not cut a
// reply at 16 MiB as MongoDB does, and the driver refuses larger ones).
constexpr std::size_t kBatchBytes = 4 * 1024 * 1024;

// Timeouts the URI may override. Without them the driver would wait 30 s to select a server
// and 5 minutes on a silent socket.
constexpr std::int32_t kServerSelectionTimeoutMs = 10'000;
constexpr std::int32_t kConnectTimeoutMs = 10'000;
constexpr std::int32_t kSocketTimeoutMs = 60'000;

constexpr const char* kDefaultDatabase = "claimcheck";

// Our fields inside a files document's `metadata`; the rest of `metadata` is the caller's.
constexpr const char* kShaField = "sha256";
constexpr const char* kContentTypeField = "contentType";
constexpr const char* kExpiresField = "expiresAt";
// The reply an answered-message record keeps.
constexpr const char* kReplyField = "reply";

std::int64_t to_millis(system_clock::time_point time) {
  return std::chrono::duration_cast<milliseconds>(time.time_since_epoch()).count();
}

system_clock::time_point from_millis(std::int64_t millis) {
  return system_clock::time_point(milliseconds(millis));
}

/// Reads from `source` until `buffer` is full or the source ends; returns the bytes read.
std::size_t fill(ByteSource& source, std::span<std::byte> buffer) {
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const std::size_t got = source.read(buffer.subspan(filled));
    if (got == 0) {
      break;
    }
    filled += got;
  }
  return filled;
}

std::string quoted_id(std::string_view id) {
  constexpr std::size_t kMaxShown = 64;
  return "'" + std::string(id.substr(0, kMaxShown)) + (id.size() > kMaxShown ? "...'" : "'");
}

void require_file_id(std::string_view id) {
  if (!is_file_id(id)) {
    throw StoreError(StoreErrc::kInvalidArgument,
                     "file id " + quoted_id(id) + " is not 24 lower-case hex digits");
  }
}

void require_bucket_name(const std::string& bucket) {
  // A collection name part: no '$' or NUL, and short enough for the namespace limits.
  constexpr std::size_t kMaxBucketLength = 64;
  const bool valid = !bucket.empty() && bucket.size() <= kMaxBucketLength &&
                     bucket.find_first_of(std::string_view("$\0", 2)) == std::string::npos &&
                     !bucket.starts_with('.') && !bucket.ends_with('.');
  if (!valid) {
    throw StoreError(StoreErrc::kInvalidArgument,
                     "GridFS bucket name '" + bucket.substr(0, kMaxBucketLength) +
                         "' is not usable: it needs 1 to 64 characters, no '$', no leading or "
                         "trailing '.'");
  }
}

void set_default_timeout(mongoc_uri_t* uri, const char* option, std::int32_t millis) {
  if (!mongoc_uri_has_option(uri, option)) {
    mongoc_uri_set_option_as_int32(uri, option, millis);
  }
}

mongo::Bson id_filter(const char* field, const bson_oid_t& oid) {
  return mongo::Bson(BCON_NEW(field, BCON_OID(&oid)));
}

class GridFsStore final : public Store {
 public:
  GridFsStore(const std::string& uri_text, std::string bucket, std::uint32_t chunk_size)
      : bucket_(std::move(bucket)), chunk_size_(chunk_size) {
    mongo::init_driver();
    require_bucket_name(bucket_);
    bson_error_t error;
    mongo::Uri uri(mongoc_uri_new_with_error(uri_text.c_str(), &error));
    if (!uri) {
      // The URI is not echoed: it may carry a password.
      throw StoreError(
          StoreErrc::kInvalidArgument,
          fmt::format("store location is not a usable MongoDB URI: {}", error.message));
    }
    if (mongoc_uri_has_option(uri.get(), MONGOC_URI_W) &&
        mongoc_write_concern_get_w(mongoc_uri_get_write_concern(uri.get())) ==
            MONGOC_WRITE_CONCERN_W_UNACKNOWLEDGED) {
      // Unacknowledged writes would let a claim go out for a file the server never stored.
      throw StoreError(StoreErrc::kInvalidArgument,
                       "store location asks for unacknowledged writes (w=0); claimcheck needs "
                       "every chunk acknowledged before it sends a claim");
    }
    set_default_timeout(uri.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS, kServerSelectionTimeoutMs);
    set_default_timeout(uri.get(), MONGOC_URI_CONNECTTIMEOUTMS, kConnectTimeoutMs);
    set_default_timeout(uri.get(), MONGOC_URI_SOCKETTIMEOUTMS, kSocketTimeoutMs);
    if (!mongoc_uri_has_option(uri.get(), MONGOC_URI_W)) {
      // A file acknowledged by a majority survives a failover; the reader on another service
      // must never find a claim whose file was rolled back.
      mongoc_write_concern_t* majority = mongoc_write_concern_new();
      mongoc_write_concern_set_wmajority(majority, 0);
      mongoc_uri_set_write_concern(uri.get(), majority);
      mongoc_write_concern_destroy(majority);
    }
    const char* database = mongoc_uri_get_database(uri.get());
    database_ = database != nullptr ? database : kDefaultDatabase;
    files_name_ = bucket_ + ".files";
    chunks_name_ = bucket_ + ".chunks";
    // Beside the bucket, not in it: GridFS tools only look at .files and .chunks.
    messages_name_ = bucket_ + ".messages";
    describe_ = describe_uri(uri.get());

    pool_.reset(mongoc_client_pool_new(uri.get()));
    if (!pool_) {
      throw StoreError(StoreErrc::kInvalidArgument,
                       "cannot create a MongoDB client pool for " + describe_);
    }
    mongoc_client_pool_set_error_api(pool_.get(), MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(pool_.get(), "claimcheck");
  }

  FileInfo put(std::string_view filename, ByteSource& source, const PutOptions& options) override {
    const std::string id = new_file_id();
    mongo::Bson metadata = user_metadata(id, filename, options.metadata);
    mongo::PooledClient client(pool_.get());
    retry_discards(client);
    ensure_indexes(client, id);
    try {
      return upload(client, id, filename, source, options, *metadata);
    } catch (...) {
      discard_chunks(client, id);
      throw;
    }
  }

  FileInfo stat(std::string_view id) override {
    require_file_id(id);
    mongo::PooledClient client(pool_.get());
    return find_file(client, id);
  }

  FileInfo read(std::string_view id, ByteSink& sink) override {
    require_file_id(id);
    mongo::PooledClient client(pool_.get());
    try {
      return download(client, id, sink);
    } catch (const StoreError& error) {
      // Damage found while a delete removes the file is the delete, not damage: the reader
      // racing a delete must see a clean not-found.
      if (error.is_corruption() && !file_exists(client, id)) {
        throw StoreError(
            StoreErrc::kNotFound,
            fmt::format("file {} was removed while it was being read from {}", id, describe_));
      }
      throw;
    }
  }

  bool remove(std::string_view id) override {
    require_file_id(id);
    mongo::PooledClient client(pool_.get());
    const bson_oid_t oid = mongo::oid_from_hex(id);
    // Files document first: a crash in between leaves orphaned chunks for sweep(), never a
    // file whose bytes are gone.
    if (delete_matching(client, files_name_, *id_filter("_id", oid), id) == 0) {
      return false;
    }
    delete_matching(client, chunks_name_, *id_filter("files_id", oid), id);
    return true;
  }

  SweepResult sweep(system_clock::time_point now, std::chrono::seconds safety_window) override {
    SweepResult result;
    for (const std::string& id : expired_file_ids(now)) {
      if (remove(id)) {
        ++result.expired_files;
      }
    }
    result.orphaned_chunks = sweep_orphaned_chunks(now - safety_window);

    mongo::PooledClient client(pool_.get());
    const mongo::Bson expired(
        BCON_NEW(kExpiresField, "{", "$lte", BCON_DATE_TIME(to_millis(now)), "}"));
    result.expired_messages =
        static_cast<std::uint64_t>(delete_matching(client, messages_name_, *expired, "(sweep)"));
    return result;
  }

  void remember_message(std::string_view message_id, system_clock::time_point expires_at,
                        std::string_view reply) override {
    require_message_id(message_id);
    const std::string id = message_key(message_id);
    mongo::PooledClient client(pool_.get());
    const mongo::Collection messages = client.collection(database_, messages_name_);
    const mongo::Bson filter(BCON_NEW("_id", BCON_UTF8(id.c_str())));
    const std::string reply_text(reply);
    const mongo::Bson update(BCON_NEW("$set", "{", kExpiresField,
                                      BCON_DATE_TIME(to_millis(expires_at)), kReplyField,
                                      BCON_UTF8(reply_text.c_str()), "}"));
    const mongo::Bson opts(BCON_NEW("upsert", BCON_BOOL(true)));
    bson_error_t error;
    if (!mongoc_collection_update_one(messages.get(), filter.get(), update.get(), opts.get(),
                                      nullptr, &error)) {
      backend_failure("(message " + id + ")", "recording an answered message", error);
    }
  }

  std::optional<std::string> seen_message(std::string_view message_id,
                                          system_clock::time_point now) override {
    require_message_id(message_id);
    const std::string id = message_key(message_id);
    mongo::PooledClient client(pool_.get());
    const mongo::Collection messages = client.collection(database_, messages_name_);
    const mongo::Bson filter(BCON_NEW("_id", BCON_UTF8(id.c_str()), kExpiresField, "{", "$gt",
                                      BCON_DATE_TIME(to_millis(now)), "}"));
    const mongo::Bson opts(BCON_NEW("limit", BCON_INT64(1)));
    const mongo::Cursor cursor(
        mongoc_collection_find_with_opts(messages.get(), filter.get(), opts.get(), nullptr));
    const bson_t* document = nullptr;
    if (mongoc_cursor_next(cursor.get(), &document)) {
      bool type_ok = true;
      return mongo::get_utf8(*document, kReplyField, type_ok).value_or(std::string());
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) {
      backend_failure("(message " + id + ")", "looking up an answered message", error);
    }
    return std::nullopt;
  }

  [[nodiscard]] std::string_view kind() const override { return "gridfs"; }

  [[nodiscard]] std::string describe() const override { return describe_; }

 private:
  static std::string describe_uri(const mongoc_uri_t* uri) {
    std::string hosts;
    for (const mongoc_host_list_t* host = mongoc_uri_get_hosts(uri); host != nullptr;
         host = host->next) {
      hosts += (hosts.empty() ? "" : ",") + std::string(host->host_and_port);
    }
    const char* database = mongoc_uri_get_database(uri);
    return fmt::format("mongodb://{}/{}", hosts, database != nullptr ? database : kDefaultDatabase);
  }

  /// A message id is any bytes (AMQP short strings are binary); stored as hex, so that ids with
  /// NUL bytes or invalid UTF-8 stay distinct in BSON strings.
  static std::string message_key(std::string_view message_id) {
    return to_hex(std::as_bytes(std::span(message_id.data(), message_id.size())));
  }

  [[noreturn]] void backend_failure(std::string_view id, std::string_view action,
                                    const bson_error_t& error) const {
    throw StoreError(StoreErrc::kBackend,
                     fmt::format("file {}: {} failed on gridfs store {} bucket '{}': {}", id,
                                 action, describe_, bucket_, error.message));
  }

  /// The caller's metadata as BSON, refusing what would clash with our own fields.
  static mongo::Bson user_metadata(const std::string& id, std::string_view filename,
                                   const nlohmann::json& metadata) {
    if (!metadata.is_object()) {
      throw StoreError(StoreErrc::kInvalidArgument,
                       fmt::format("file {} ('{}'): metadata must be a JSON object, not {}", id,
                                   filename, metadata.type_name()));
    }
    for (const char* reserved : {kShaField, kContentTypeField, kExpiresField}) {
      if (metadata.contains(reserved)) {
        throw StoreError(StoreErrc::kInvalidArgument,
                         fmt::format("file {} ('{}'): metadata key '{}' is the store's own", id,
                                     filename, reserved));
      }
    }
    const std::string json = metadata.dump();
    bson_error_t error;
    mongo::Bson document(bson_new_from_json(reinterpret_cast<const std::uint8_t*>(json.data()),
                                            static_cast<ssize_t>(json.size()), &error));
    if (!document) {
      throw StoreError(StoreErrc::kInvalidArgument,
                       fmt::format("file {} ('{}'): metadata cannot be stored as BSON: {}", id,
                                   filename, error.message));
    }
    return document;
  }

  /// The GridFS spec's index check: on a bucket whose files collection is empty, create the two
  /// indexes before the first write. Once per Store object; a failure is retried next time.
  void ensure_indexes(const mongo::PooledClient& client, std::string_view id) {
    if (indexes_ready_.load()) {
      return;
    }
    const std::lock_guard lock(index_mutex_);
    if (indexes_ready_.load()) {
      return;
    }
    const mongo::Collection files = client.collection(database_, files_name_);
    const mongo::Bson any(bson_new());
    const mongo::Bson opts(
        BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64(1)));
    const mongo::Cursor cursor(
        mongoc_collection_find_with_opts(files.get(), any.get(), opts.get(), nullptr));
    const bson_t* found = nullptr;
    const bool has_files = mongoc_cursor_next(cursor.get(), &found);
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) {
      backend_failure(id, "checking the bucket's indexes", error);
    }
    if (!has_files) {
      create_index(
          client, files_name_,
          *mongo::Bson(BCON_NEW("key", "{", "filename", BCON_INT32(1), "uploadDate", BCON_INT32(1),
                                "}", "name", BCON_UTF8("filename_1_uploadDate_1"))),
          id);
      create_index(
          client, chunks_name_,
          *mongo::Bson(BCON_NEW("key", "{", "files_id", BCON_INT32(1), "n", BCON_INT32(1), "}",
                                "name", BCON_UTF8("files_id_1_n_1"), "unique", BCON_BOOL(true))),
          id);
    }
    indexes_ready_.store(true);
  }

  void create_index(const mongo::PooledClient& client, const std::string& collection_name,
                    const bson_t& index, std::string_view id) {
    const mongo::Collection collection = client.collection(database_, collection_name);
    const mongo::Bson command(BCON_NEW("createIndexes", BCON_UTF8(collection_name.c_str()),
                                       "indexes", "[", BCON_DOCUMENT(&index), "]"));
    bson_t reply;
    bson_error_t error;
    const bool ok = mongoc_collection_write_command_with_opts(collection.get(), command.get(),
                                                              nullptr, &reply, &error);
    bson_destroy(&reply);
    if (!ok) {
      backend_failure(id, "creating index on " + collection_name, error);
    }
  }

  FileInfo upload(const mongo::PooledClient& client, const std::string& id,
                  std::string_view filename, ByteSource& source, const PutOptions& options,
                  const bson_t& metadata) {
    const bson_oid_t oid = mongo::oid_from_hex(id);
    const mongo::Collection chunks = client.collection(database_, chunks_name_);
    const std::size_t chunks_per_batch = std::max<std::size_t>(1, kBatchBytes / chunk_size_);
    const auto buffer = std::make_unique_for_overwrite<std::byte[]>(chunk_size_);
    Sha256 hash;
    std::uint64_t length = 0;
    std::int32_t next_chunk = 0;

    std::vector<mongo::Bson> batch;
    const auto send_batch = [&] {
      if (batch.empty()) {
        return;
      }
      bson_error_t error;
      if (!mongo::insert_many(chunks.get(), batch, error)) {
        backend_failure(id, fmt::format("writing chunks up to {}", next_chunk - 1), error);
      }
      batch.clear();
    };

    for (;;) {
      const std::size_t got = fill(source, std::span(buffer.get(), chunk_size_));
      if (got > 0) {
        if (next_chunk == std::numeric_limits<std::int32_t>::max()) {
          throw StoreError(StoreErrc::kInvalidArgument,
                           fmt::format("file {} ('{}'): more than 2^31 chunks of {} bytes; use a "
                                       "larger chunk size",
                                       id, filename, chunk_size_));
        }
        const std::span<const std::byte> data(buffer.get(), got);
        hash.update(data);
        length += got;
        bson_oid_t chunk_id;
        bson_oid_init(&chunk_id, nullptr);
        batch.emplace_back(BCON_NEW(
            "_id", BCON_OID(&chunk_id), "files_id", BCON_OID(&oid), "n", BCON_INT32(next_chunk),
            "data",
            BCON_BIN(BSON_SUBTYPE_BINARY, reinterpret_cast<const std::uint8_t*>(data.data()),
                     static_cast<std::uint32_t>(got))));
        ++next_chunk;
      }
      if (got < chunk_size_ || batch.size() >= chunks_per_batch) {
        send_batch();
      }
      if (got < chunk_size_) {
        break;
      }
    }

    FileInfo info{.id = id,
                  .filename = std::string(filename),
                  .length = length,
                  .chunk_size = chunk_size_,
                  .sha256 = hash.hex_digest(),
                  .content_type = options.content_type,
                  .upload_date = from_millis(to_millis(system_clock::now())),
                  .metadata = options.metadata,
                  .expires_at = options.expires_at};
    insert_files_document(client, oid, info, metadata);
    return info;
  }

  void insert_files_document(const mongo::PooledClient& client, const bson_oid_t& oid,
                             const FileInfo& info, const bson_t& user_metadata) {
    bson_t metadata;
    bson_copy_to(&user_metadata, &metadata);
    BSON_APPEND_UTF8(&metadata, kShaField, info.sha256.c_str());
    if (!info.content_type.empty()) {
      BSON_APPEND_UTF8(&metadata, kContentTypeField, info.content_type.c_str());
    }
    if (info.expires_at) {
      BSON_APPEND_DATE_TIME(&metadata, kExpiresField, to_millis(*info.expires_at));
    }
    const mongo::Bson document(BCON_NEW(
        "_id", BCON_OID(&oid), "length", BCON_INT64(static_cast<std::int64_t>(info.length)),
        "chunkSize", BCON_INT32(static_cast<std::int32_t>(info.chunk_size)), "uploadDate",
        BCON_DATE_TIME(to_millis(info.upload_date)), "filename", BCON_UTF8(info.filename.c_str()),
        "metadata", BCON_DOCUMENT(&metadata)));
    bson_destroy(&metadata);

    const mongo::Collection files = client.collection(database_, files_name_);
    bson_error_t error;
    if (!mongoc_collection_insert_one(files.get(), document.get(), nullptr, nullptr, &error)) {
      backend_failure(info.id, "writing the files document", error);
    }
  }

  // Best effort after a failed put(). The failure is often the server going away, which makes
  // this delete fail too, while writes sent just before may still land once it is back: such
  // ids are tried again before the next upload, and sweep() takes whatever chunks remain.
  void discard_chunks(const mongo::PooledClient& client, const std::string& id) noexcept {
    try {
      // The files document too: a write that timed out may still have landed, and nobody was
      // told of this id.
      const bson_oid_t oid = mongo::oid_from_hex(id);
      delete_matching(client, files_name_, *id_filter("_id", oid), id);
      delete_matching(client, chunks_name_, *id_filter("files_id", oid), id);
    } catch (const std::exception& error) {
      spdlog::warn(
          "file {}: could not remove the chunks of a failed upload ({}); trying again "
          "before the next upload",
          id, error.what());
      discard_backlog_.add(id);
    }
  }

  void retry_discards(const mongo::PooledClient& client) noexcept {
    for (const std::string& id : discard_backlog_.take()) {
      discard_chunks(client, id);
    }
  }

  /// Deletes every document matching `filter`; returns how many went.
  std::int64_t delete_matching(const mongo::PooledClient& client,
                               const std::string& collection_name, const bson_t& filter,
                               std::string_view id) {
    const mongo::Collection collection = client.collection(database_, collection_name);
    bson_t reply;
    bson_error_t error;
    const bool ok =
        mongoc_collection_delete_many(collection.get(), &filter, nullptr, &reply, &error);
    bool type_ok = true;
    const std::int64_t deleted = mongo::get_integer(reply, "deletedCount", type_ok).value_or(0);
    bson_destroy(&reply);
    if (!ok) {
      backend_failure(id, "deleting from " + collection_name, error);
    }
    return deleted;
  }

  FileInfo find_file(const mongo::PooledClient& client, std::string_view id) {
    const mongo::Collection files = client.collection(database_, files_name_);
    const mongo::Bson filter = id_filter("_id", mongo::oid_from_hex(id));
    const mongo::Bson opts(BCON_NEW("limit", BCON_INT64(1)));
    const mongo::Cursor cursor(
        mongoc_collection_find_with_opts(files.get(), filter.get(), opts.get(), nullptr));
    const bson_t* document = nullptr;
    if (mongoc_cursor_next(cursor.get(), &document)) {
      return parse_files_document(id, *document);
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) {
      backend_failure(id, "reading the files document", error);
    }
    throw StoreError(
        StoreErrc::kNotFound,
        fmt::format("file {} not found in gridfs store {} bucket '{}'", id, describe_, bucket_));
  }

  bool file_exists(const mongo::PooledClient& client, std::string_view id) {
    try {
      find_file(client, id);
      return true;
    } catch (const StoreError& error) {
      return error.code() != StoreErrc::kNotFound;
    }
  }

  /// Reads a files document, written by claimcheck or by another GridFS driver.
  static FileInfo parse_files_document(std::string_view id, const bson_t& document) {
    bool type_ok = true;
    const auto bad_field = [&](const char* field) {
      throw StoreError(StoreErrc::kBadRecord,
                       fmt::format("file {}: its files document has no usable '{}'", id, field));
    };
    const auto length = mongo::get_integer(document, "length", type_ok);
    if (!length || !type_ok) {
      bad_field("length");
    }
    const auto chunk_size = mongo::get_integer(document, "chunkSize", type_ok);
    if (!chunk_size || !type_ok) {
      bad_field("chunkSize");
    }
    check_recorded_sizes(id, *length, *chunk_size);
    const auto upload_date = mongo::get_date_millis(document, "uploadDate", type_ok);
    const auto filename = mongo::get_utf8(document, "filename", type_ok);
    // The spec's deprecated top-level contentType, as older drivers wrote it.
    const auto legacy_content_type = mongo::get_utf8(document, "contentType", type_ok);
    if (!type_ok) {
      bad_field("uploadDate, filename or contentType");
    }

    FileInfo info{.id = std::string(id),
                  .filename = filename.value_or(""),
                  .length = static_cast<std::uint64_t>(*length),
                  .chunk_size = static_cast<std::uint32_t>(*chunk_size),
                  .sha256 = {},
                  .content_type = legacy_content_type.value_or(""),
                  .upload_date = from_millis(upload_date.value_or(0)),
                  .metadata = nlohmann::json::object(),
                  .expires_at = std::nullopt};

    bson_iter_t iter;
    if (!bson_iter_init_find(&iter, &document, "metadata") || BSON_ITER_HOLDS_NULL(&iter)) {
      return info;  // another driver's file without metadata
    }
    if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      bad_field("metadata");
    }
    std::uint32_t metadata_length = 0;
    const std::uint8_t* metadata_data = nullptr;
    bson_iter_document(&iter, &metadata_length, &metadata_data);
    bson_t metadata;
    if (!bson_init_static(&metadata, metadata_data, metadata_length)) {
      bad_field("metadata");
    }
    const auto sha256 = mongo::get_utf8(metadata, kShaField, type_ok);
    const auto content_type = mongo::get_utf8(metadata, kContentTypeField, type_ok);
    const auto expires_at = mongo::get_date_millis(metadata, kExpiresField, type_ok);
    if (!type_ok || (sha256 && !is_sha256_hex(*sha256))) {
      bad_field("metadata.sha256, metadata.contentType or metadata.expiresAt");
    }
    info.sha256 = sha256.value_or("");
    if (content_type) {
      info.content_type = *content_type;
    }
    if (expires_at) {
      info.expires_at = from_millis(*expires_at);
    }

    bson_t rest;
    bson_init(&rest);
    bson_copy_to_excluding_noinit(&metadata, &rest, kShaField, kContentTypeField, kExpiresField,
                                  nullptr);
    info.metadata = nlohmann::json::parse(mongo::to_relaxed_json(rest), nullptr, false);
    bson_destroy(&rest);
    if (!info.metadata.is_object()) {
      bad_field("metadata");
    }
    return info;
  }

  static bool is_sha256_hex(std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
  }

  static std::int64_t chunk_number(const FileInfo& info, const bson_t& chunk) {
    bool type_ok = true;
    const auto n = mongo::get_integer(chunk, "n", type_ok);
    if (!n || !type_ok) {
      corrupt(StoreErrc::kBadChunkNumber, info.id, "a chunk has no usable 'n'");
    }
    return *n;
  }

  // Every check is made while streaming, in one pass over the chunks sorted by n: counting or
  // summarising the chunks first would cost MongoDB little, but servers that only speak its
  // protocol answer such queries by scanning every chunk they hold. The last chunk is held
  // back until the cursor shows nothing follows it, so an extra chunk is found before the file
  // looks complete to the sink.
  FileInfo download(const mongo::PooledClient& client, std::string_view id, ByteSink& sink) {
    FileInfo info = find_file(client, id);
    const bson_oid_t oid = mongo::oid_from_hex(id);
    const mongo::Collection chunks = client.collection(database_, chunks_name_);
    const mongo::Bson filter = id_filter("files_id", oid);
    const auto batch_size =
        static_cast<std::int32_t>(std::max<std::size_t>(1, kBatchBytes / info.chunk_size));
    const mongo::Bson opts(BCON_NEW("projection", "{", "n", BCON_INT32(1), "data", BCON_INT32(1),
                                    "_id", BCON_INT32(0), "}", "sort", "{", "n", BCON_INT32(1), "}",
                                    "batchSize", BCON_INT32(batch_size)));
    const mongo::Cursor cursor(
        mongoc_collection_find_with_opts(chunks.get(), filter.get(), opts.get(), nullptr));

    const auto total = static_cast<std::int64_t>(chunk_count(info));
    const auto last_chunk = std::make_unique_for_overwrite<std::byte[]>(info.chunk_size);
    std::size_t last_size = 0;
    Sha256 hash;
    std::uint64_t remaining = info.length;
    for (std::int64_t n = 0; n < total; ++n) {
      const bson_t* chunk = next_chunk(cursor.get(), info, n);
      if (const std::int64_t number = chunk_number(info, *chunk); number != n) {
        unexpected_chunk(info, n, number, total);
      }
      const std::span<const std::byte> data = chunk_data(info, n, *chunk);
      check_chunk_size(info, static_cast<std::uint64_t>(n), data.size(), remaining);
      remaining -= data.size();
      if (n + 1 < total) {
        hash.update(data);
        sink.write(data);
      } else {
        std::copy(data.begin(), data.end(), last_chunk.get());
        last_size = data.size();
      }
    }
    if (const bson_t* extra = nullptr; mongoc_cursor_next(cursor.get(), &extra)) {
      unexpected_chunk(info, total, chunk_number(info, *extra), total);
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) {
      backend_failure(id, "reading chunks", error);
    }
    const std::span<const std::byte> tail(last_chunk.get(), last_size);
    hash.update(tail);
    sink.write(tail);
    return finish_digest(std::move(info), hash.hex_digest());
  }

  const bson_t* next_chunk(mongoc_cursor_t* cursor, const FileInfo& info, std::int64_t n) const {
    const bson_t* chunk = nullptr;
    if (mongoc_cursor_next(cursor, &chunk)) {
      return chunk;
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor, &error)) {
      backend_failure(info.id, fmt::format("reading chunk {}", n), error);
    }
    corrupt(
        StoreErrc::kMissingChunk, info.id,
        n == 0 ? fmt::format("no chunks stored, length {} needs {}", info.length, chunk_count(info))
               : fmt::format("chunks end at {}, length {} needs 0..{}", n - 1, info.length,
                             chunk_count(info) - 1));
  }

  /// Chunk `number` came where chunk `expected` belongs (`total` = how many the length needs).
  [[noreturn]] static void unexpected_chunk(const FileInfo& info, std::int64_t expected,
                                            std::int64_t number, std::int64_t total) {
    if (number < 0) {
      corrupt(StoreErrc::kBadChunkNumber, info.id, fmt::format("negative chunk number {}", number));
    }
    if (number >= total) {
      corrupt(StoreErrc::kExtraChunk, info.id,
              fmt::format("chunk {} stored, but length {} with chunk size {} needs {}", number,
                          info.length, info.chunk_size,
                          total == 0 ? "none" : fmt::format("only 0..{}", total - 1)));
    }
    corrupt(StoreErrc::kBadChunkNumber, info.id,
            number < expected
                ? fmt::format("chunk {} is stored twice", number)
                : fmt::format("chunk {} is missing while chunk {} exists", expected, number));
  }

  static std::span<const std::byte> chunk_data(const FileInfo& info, std::int64_t n,
                                               const bson_t& chunk) {
    bson_iter_t iter;
    if (!bson_iter_init_find(&iter, &chunk, "data") || !BSON_ITER_HOLDS_BINARY(&iter)) {
      corrupt(StoreErrc::kBadChunkSize, info.id, fmt::format("chunk {} holds no binary data", n));
    }
    bson_subtype_t subtype{};
    std::uint32_t length = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_binary(&iter, &subtype, &length, &data);
    return {reinterpret_cast<const std::byte*>(data), length};
  }

  /// Compares with the recorded digest; a file another driver wrote has none, and then the
  /// digest just computed is what the caller gets.
  static FileInfo finish_digest(FileInfo info, const std::string& digest) {
    if (info.sha256.empty()) {
      info.sha256 = digest;
    } else if (digest != info.sha256) {
      corrupt(StoreErrc::kDigestMismatch, info.id,
              fmt::format("bytes hash to SHA-256 {}, files document says {}", digest, info.sha256));
    }
    return info;
  }

  std::vector<std::string> expired_file_ids(system_clock::time_point now) {
    mongo::PooledClient client(pool_.get());
    const mongo::Collection files = client.collection(database_, files_name_);
    const std::string field = std::string("metadata.") + kExpiresField;
    const mongo::Bson filter(
        BCON_NEW(field.c_str(), "{", "$lte", BCON_DATE_TIME(to_millis(now)), "}"));
    const mongo::Bson opts(BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}"));
    const mongo::Cursor cursor(
        mongoc_collection_find_with_opts(files.get(), filter.get(), opts.get(), nullptr));
    std::vector<std::string> ids;
    const bson_t* document = nullptr;
    while (mongoc_cursor_next(cursor.get(), &document)) {
      bson_iter_t iter;
      if (bson_iter_init_find(&iter, document, "_id") && BSON_ITER_HOLDS_OID(&iter)) {
        ids.push_back(mongo::oid_to_hex(*bson_iter_oid(&iter)));
      }
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) {
      backend_failure("(sweep)", "finding expired files", error);
    }
    return ids;
  }

  /// Removes chunks whose files_id (an ObjectId, which starts with its creation time) is older
  /// than `cutoff` and has no files document.
  std::uint64_t sweep_orphaned_chunks(system_clock::time_point cutoff) {
    mongo::PooledClient client(pool_.get());
    const bson_oid_t cutoff_oid =
        mongo::oid_from_hex(new_file_id(cutoff).substr(0, 8) + std::string(16, '0'));
    const mongo::Bson command(BCON_NEW("distinct", BCON_UTF8(chunks_name_.c_str()), "key",
                                       BCON_UTF8("files_id"), "query", "{", "files_id", "{", "$lt",
                                       BCON_OID(&cutoff_oid), "}", "}"));
    const mongo::Collection chunks = client.collection(database_, chunks_name_);
    bson_t reply;
    bson_error_t error;
    if (!mongoc_collection_read_command_with_opts(chunks.get(), command.get(), nullptr, nullptr,
                                                  &reply, &error)) {
      bson_destroy(&reply);
      backend_failure("(sweep)", "listing old chunks", error);
    }
    std::vector<std::string> candidates;
    bson_iter_t values;
    bson_iter_t value;
    if (bson_iter_init_find(&values, &reply, "values") && BSON_ITER_HOLDS_ARRAY(&values) &&
        bson_iter_recurse(&values, &value)) {
      while (bson_iter_next(&value)) {
        if (BSON_ITER_HOLDS_OID(&value)) {
          candidates.push_back(mongo::oid_to_hex(*bson_iter_oid(&value)));
        }
      }
    }
    bson_destroy(&reply);

    std::uint64_t removed = 0;
    for (const std::string& id : candidates) {
      if (!file_exists(client, id)) {
        removed += static_cast<std::uint64_t>(delete_matching(
            client, chunks_name_, *id_filter("files_id", mongo::oid_from_hex(id)), id));
      }
    }
    return removed;
  }

  std::string bucket_;
  std::uint32_t chunk_size_;
  std::string database_;
  std::string files_name_;
  std::string chunks_name_;
  std::string messages_name_;
  std::string describe_;
  mongo::Pool pool_;
  std::mutex index_mutex_;
  DiscardBacklog discard_backlog_;
  std::atomic<bool> indexes_ready_{false};
};

}  // namespace

std::unique_ptr<Store> open_gridfs_store(const std::string& uri, const std::string& bucket,
                                         std::uint32_t chunk_size) {
  return std::make_unique<GridFsStore>(uri, bucket, chunk_size);
}

}  // namespace claimcheck::store
