#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "claimcheck/store/store.hpp"
#include "store_test_support.hpp"

namespace claimcheck::store {
namespace {

using testing::StringSink;
using testing::StringSource;
using testing::TempDir;

StoreErrc open_error(const std::string& location, std::uint32_t chunk_size = kDefaultChunkSize) {
  try {
    open_store(location, {.chunk_size = chunk_size});
  } catch (const StoreError& error) {
    return error.code();
  }
  ADD_FAILURE() << "open_store('" << location << "') succeeded";
  return StoreErrc::kBackend;
}

TEST(OpenStore, SqlitePrefixAndBarePathOpenTheSameDatabase) {
  TempDir dir;
  const std::string path = dir.file("nested/deeper/store.db");

  auto with_prefix = open_store("sqlite:" + path);
  StringSource source("shared");
  const FileInfo info = with_prefix->put("shared.txt", source, {});
  auto bare = open_store(path);
  StringSink sink;
  bare->read(info.id, sink);

  EXPECT_EQ(sink.data(), "shared");
  EXPECT_EQ(bare->kind(), "sqlite");
  EXPECT_EQ(bare->describe(), "sqlite:" + path);
  EXPECT_EQ(with_prefix->stat(info.id).chunk_size, kDefaultChunkSize);
}

TEST(OpenStore, BadMongoUriIsRefusedWithoutRepeatingItsPassword) {
  try {
    open_store("mongodb://user:s3cret@db.example:notaport/claims");
    FAIL() << "a malformed mongodb:// location was accepted";
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), StoreErrc::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("MongoDB URI"), std::string::npos) << error.what();
    EXPECT_EQ(std::string(error.what()).find("s3cret"), std::string::npos) << error.what();
  }
}

// From the bad-input review: with w=0 a put "succeeded" with nothing acknowledged.
TEST(OpenStore, UnacknowledgedWritesAreRefused) {
  EXPECT_EQ(open_error("mongodb://127.0.0.1:1/claims?w=0"), StoreErrc::kInvalidArgument);
}

TEST(OpenStore, UnusableBucketNamesAreRefused) {
  for (const std::string& bucket :
       std::vector<std::string>{"", "a$b", ".fs", std::string(65, 'b')}) {
    try {
      open_store("mongodb://127.0.0.1:1/claims", {.bucket = bucket});
      ADD_FAILURE() << "bucket '" << bucket << "' was accepted";
    } catch (const StoreError& error) {
      EXPECT_EQ(error.code(), StoreErrc::kInvalidArgument) << error.what();
    }
  }
}

// Nothing listens on port 1: the store must give up within its server selection timeout with
// an error naming the store, not hang and not leak the password.
TEST(OpenStore, UnreachableMongoServerIsABackendErrorWithinTheTimeout) {
  auto store = open_store("mongodb://user:s3cret@127.0.0.1:1/claims?serverSelectionTimeoutMS=300");
  EXPECT_EQ(store->describe(), "mongodb://127.0.0.1:1/claims");
  const auto started = std::chrono::steady_clock::now();
  try {
    StringSource source("never stored");
    store->put("x", source, {});
    FAIL() << "put succeeded without a server";
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), StoreErrc::kBackend) << error.what();
    EXPECT_NE(std::string(error.what()).find("mongodb://127.0.0.1:1/claims"), std::string::npos)
        << error.what();
    EXPECT_EQ(std::string(error.what()).find("s3cret"), std::string::npos) << error.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST(OpenStore, RejectsUnusableLocationsAndChunkSizes) {
  TempDir dir;
  EXPECT_EQ(open_error(""), StoreErrc::kInvalidArgument);
  EXPECT_EQ(open_error("sqlite:"), StoreErrc::kInvalidArgument);
  EXPECT_EQ(open_error("s3://bucket/key"), StoreErrc::kInvalidArgument);
  EXPECT_EQ(open_error(dir.file("a.db"), 0), StoreErrc::kInvalidArgument);
  EXPECT_EQ(open_error(dir.file("a.db"), kMaxChunkSize + 1), StoreErrc::kInvalidArgument);
  EXPECT_EQ(open_error(dir.path().string()), StoreErrc::kBackend);
}

TEST(FileIds, LookLikeObjectIdsWithTheTimestampFirst) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::seconds(0x65a1b2c3));
  const std::string id = new_file_id(time);
  EXPECT_TRUE(is_file_id(id));
  EXPECT_EQ(id.substr(0, 8), "65a1b2c3");
  EXPECT_NE(new_file_id(time), id);
  EXPECT_FALSE(is_file_id("65A1B2C3" + id.substr(8)));
  EXPECT_FALSE(is_file_id(id + "0"));
}

TEST(StoreErrors, CodesHaveDistinctNamesAndCorruptionIsFlagged) {
  const std::vector<StoreErrc> all = {StoreErrc::kNotFound,        StoreErrc::kMissingChunk,
                                      StoreErrc::kBadChunkSize,    StoreErrc::kExtraChunk,
                                      StoreErrc::kBadChunkNumber,  StoreErrc::kLengthMismatch,
                                      StoreErrc::kDigestMismatch,  StoreErrc::kBadRecord,
                                      StoreErrc::kInvalidArgument, StoreErrc::kBackend};
  std::set<std::string_view> names;
  for (const StoreErrc code : all) {
    names.insert(to_string(code));
  }
  EXPECT_EQ(names.size(), all.size());
  EXPECT_EQ(to_string(StoreErrc::kNotFound), "not-found");
  EXPECT_EQ(to_string(StoreErrc::kMissingChunk), "corrupt-missing-chunk");

  EXPECT_TRUE(StoreError(StoreErrc::kDigestMismatch, "x").is_corruption());
  EXPECT_TRUE(StoreError(StoreErrc::kMissingChunk, "x").is_corruption());
  EXPECT_FALSE(StoreError(StoreErrc::kNotFound, "x").is_corruption());
  EXPECT_FALSE(StoreError(StoreErrc::kBackend, "x").is_corruption());
}

}  // namespace
}  // namespace claimcheck::store
