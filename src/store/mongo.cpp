#include "mongo.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

namespace claimcheck::store::mongo {
namespace {

void log_to_spdlog(mongoc_log_level_t level, const char* domain, const char* message,
                   void* /*user_data*/) {
  switch (level) {
    case MONGOC_LOG_LEVEL_ERROR:
    case MONGOC_LOG_LEVEL_CRITICAL:
      spdlog::error("mongoc {}: {}", domain, message);
      break;
    case MONGOC_LOG_LEVEL_WARNING:
      spdlog::warn("mongoc {}: {}", domain, message);
      break;
    case MONGOC_LOG_LEVEL_MESSAGE:
    case MONGOC_LOG_LEVEL_INFO:
      spdlog::debug("mongoc {}: {}", domain, message);
      break;
    case MONGOC_LOG_LEVEL_DEBUG:
    case MONGOC_LOG_LEVEL_TRACE:
      break;
  }
}

}  // namespace

void init_driver() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(log_to_spdlog, nullptr);
  });
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // see the Bson alias
bool insert_many(mongoc_collection_t* collection, const std::vector<Bson>& documents,
                 bson_error_t& error) {
  std::vector<const bson_t*> pointers;
  pointers.reserve(documents.size());
  for (const auto& document : documents) {
    pointers.push_back(document.get());
  }
  return mongoc_collection_insert_many(collection, pointers.data(), pointers.size(), nullptr,
                                       nullptr, &error);
}
#pragma GCC diagnostic pop

bson_oid_t oid_from_hex(std::string_view hex) {
  const std::string text(hex);
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, text.c_str());
  return oid;
}

std::string oid_to_hex(const bson_oid_t& oid) {
  char text[25];
  bson_oid_to_string(&oid, text);
  return text;
}

std::optional<std::int64_t> get_integer(const bson_t& document, const char* key, bool& type_ok) {
  bson_iter_t iter;
  if (!bson_iter_init_find(&iter, &document, key)) {
    return std::nullopt;
  }
  switch (bson_iter_type(&iter)) {
    case BSON_TYPE_INT32:
      return bson_iter_int32(&iter);
    case BSON_TYPE_INT64:
      return bson_iter_int64(&iter);
    case BSON_TYPE_DOUBLE: {
      // Some drivers wrote lengths as doubles; take them only when they are whole numbers.
      const double value = bson_iter_double(&iter);
      constexpr double kLimit = 9.0e15;  // well inside a double's exact integers
      if (value >= -kLimit && value <= kLimit &&
          value == static_cast<double>(static_cast<std::int64_t>(value))) {
        return static_cast<std::int64_t>(value);
      }
      break;
    }
    default:
      break;
  }
  type_ok = false;
  return std::nullopt;
}

std::optional<std::string> get_utf8(const bson_t& document, const char* key, bool& type_ok) {
  bson_iter_t iter;
  if (!bson_iter_init_find(&iter, &document, key)) {
    return std::nullopt;
  }
  if (!BSON_ITER_HOLDS_UTF8(&iter)) {
    type_ok = false;
    return std::nullopt;
  }
  std::uint32_t length = 0;
  const char* text = bson_iter_utf8(&iter, &length);
  return std::string(text, length);
}

std::optional<std::int64_t> get_date_millis(const bson_t& document, const char* key,
                                            bool& type_ok) {
  bson_iter_t iter;
  if (!bson_iter_init_find(&iter, &document, key)) {
    return std::nullopt;
  }
  if (!BSON_ITER_HOLDS_DATE_TIME(&iter)) {
    type_ok = false;
    return std::nullopt;
  }
  return bson_iter_date_time(&iter);
}

std::string to_relaxed_json(const bson_t& document) {
  std::size_t length = 0;
  char* json = bson_as_relaxed_extended_json(&document, &length);
  if (json == nullptr) {
    return {};
  }
  std::string text(json, length);
  bson_free(json);
  return text;
}

}  // namespace claimcheck::store::mongo
