// The GridFS store against a MongoDB wire-protocol server: the store contract, plus what is
// particular to GridFS (the specification's layout and indexes, buckets, other drivers' files).

#include <gtest/gtest.h>

#include "claimcheck/common/sha256.hpp"
#include "claimcheck/store/store.hpp"
#include "gridfs_backend.hpp"
#include "store_contract_test.hpp"

namespace claimcheck::store::testing {
namespace {

std::unique_ptr<StoreBackend> make_gridfs_backend() { return std::make_unique<GridFsBackend>(); }

INSTANTIATE_TEST_SUITE_P(GridFs, StoreContract, ::testing::Values(&make_gridfs_backend),
                         [](const auto& /*info*/) { return "wire_server"; });

class GridFsStoreTest : public ::testing::Test {
 protected:
  GridFsBackend backend_;
  std::unique_ptr<Store> store_ = backend_.open(kDefaultChunkSize);
};

TEST_F(GridFsStoreTest, WritesTheSpecificationsLayout) {
  const std::string data(kDefaultChunkSize + 10, 'z');
  StringSource source(data);
  const auto expires = std::chrono::system_clock::now() + std::chrono::hours(2);
  const FileInfo info = store_->put("layout.bin", source,
                                    {.content_type = "application/octet-stream",
                                     .metadata = {{"sender", "client-a"}},
                                     .expires_at = expires});

  const auto files = backend_.find("fs.files", {{"_id", oid(info.id)}}, /*canonical=*/true);
  ASSERT_EQ(files.size(), 1U);
  const auto& file = files[0];
  EXPECT_EQ(file["length"], nlohmann::json({{"$numberLong", std::to_string(data.size())}}));
  EXPECT_EQ(file["chunkSize"], nlohmann::json({{"$numberInt", std::to_string(kDefaultChunkSize)}}));
  EXPECT_TRUE(file["uploadDate"].contains("$date")) << file.dump();
  EXPECT_EQ(file["filename"], "layout.bin");
  EXPECT_EQ(file["metadata"]["sha256"], sha256_hex(data));
  EXPECT_EQ(file["metadata"]["contentType"], "application/octet-stream");
  EXPECT_EQ(file["metadata"]["sender"], "client-a");
  EXPECT_TRUE(file["metadata"]["expiresAt"].contains("$date")) << file.dump();
  EXPECT_FALSE(file.contains("md5"));

  const auto chunks = backend_.find("fs.chunks", {{"files_id", oid(info.id)}}, true);
  ASSERT_EQ(chunks.size(), 2U);
  for (int n = 0; n < 2; ++n) {
    EXPECT_EQ(chunks[n]["n"], nlohmann::json({{"$numberInt", std::to_string(n)}}));
    EXPECT_EQ(chunks[n]["files_id"], oid(info.id));
    EXPECT_EQ(chunks[n]["data"]["$binary"]["subType"], "00");
  }
}

TEST_F(GridFsStoreTest, CreatesTheTwoIndexesOnTheFirstUpload) {
  StringSource source("first");
  store_->put("first.txt", source, {});

  const auto has_index = [&](const std::string& collection, const nlohmann::json& key,
                             bool unique) {
    const auto reply = backend_.run({{"listIndexes", collection}});
    for (const auto& index : reply["cursor"]["firstBatch"]) {
      if (index["key"] == key && index.value("unique", false) == unique) {
        return true;
      }
    }
    ADD_FAILURE() << collection << " lacks index " << key.dump() << ": " << reply.dump();
    return false;
  };
  EXPECT_TRUE(has_index("fs.files", {{"filename", 1}, {"uploadDate", 1}}, false));
  EXPECT_TRUE(has_index("fs.chunks", {{"files_id", 1}, {"n", 1}}, true));
}

TEST(GridFsBucket, KeepsFilesInItsOwnCollections) {
  GridFsBackend claims("claims");
  auto store = claims.open(kDefaultChunkSize);
  StringSource source("in the claims bucket");
  const FileInfo info = store->put("claim.txt", source, {});

  EXPECT_EQ(claims.find("claims.files", {{"_id", oid(info.id)}}).size(), 1U);
  EXPECT_EQ(claims.run({{"count", "fs.files"}})["n"], 0);
  StringSink sink;
  store->read(info.id, sink);
  EXPECT_EQ(sink.data(), "in the claims bucket");
}

// Files other drivers wrote: int32 length, a top-level contentType, no metadata at all.
TEST_F(GridFsStoreTest, ReadsAFileAnotherDriverWrote) {
  const std::string id = new_file_id();
  backend_.run(
      {{"insert", "fs.chunks"},
       {"documents",
        {{{"_id", oid(new_file_id())}, {"files_id", oid(id)}, {"n", 0}, {"data", binary("abcd")}},
         {{"_id", oid(new_file_id())}, {"files_id", oid(id)}, {"n", 1}, {"data", binary("ef")}}}}});
  backend_.run({{"insert", "fs.files"},
                {"documents",
                 {{{"_id", oid(id)},
                   {"length", 6},
                   {"chunkSize", 4},
                   {"uploadDate", {{"$date", {{"$numberLong", "1700000000000"}}}}},
                   {"filename", "legacy.txt"},
                   {"contentType", "text/plain"}}}}});

  const FileInfo stat = store_->stat(id);
  EXPECT_EQ(stat.length, 6U);
  EXPECT_EQ(stat.content_type, "text/plain");
  EXPECT_EQ(stat.sha256, "");  // nothing recorded to check against

  StringSink sink;
  const FileInfo read = store_->read(id, sink);
  EXPECT_EQ(sink.data(), "abcdef");
  EXPECT_EQ(read.sha256, sha256_hex("abcdef"));
}

TEST_F(GridFsStoreTest, RefusesMetadataKeysTheStoreOwns) {
  StringSource source("x");
  try {
    store_->put("x", source, {.metadata = {{"sha256", "forged"}}});
    FAIL() << "metadata with a sha256 key was accepted";
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), StoreErrc::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("sha256"), std::string::npos);
  }
  EXPECT_EQ(backend_.count_files(), 0);
}

TEST_F(GridFsStoreTest, DescribesTheStoreWithoutTheDatabaseCredentials) {
  EXPECT_EQ(store_->kind(), "gridfs");
  EXPECT_NE(store_->describe().find("mongodb://127.0.0.1:"), std::string::npos);
}

}  // namespace
}  // namespace claimcheck::store::testing
