#include "store_contract_test.hpp"

#include <chrono>
#include <thread>
#include <vector>

#include "claimcheck/common/sha256.hpp"

namespace claimcheck::store::testing {
namespace {

using std::chrono::hours;
using std::chrono::system_clock;

std::string pattern(std::size_t length) {
  std::string data(length, '\0');
  for (std::size_t i = 0; i < length; ++i) {
    data[i] = static_cast<char>('a' + i * 7 % 26);
  }
  return data;
}

}  // namespace

FileInfo StoreContract::put(const std::string& data, const std::string& name) {
  StringSource source(data);
  return store_->put(name, source, {});
}

std::string StoreContract::read(const std::string& id) {
  StringSink sink;
  store_->read(id, sink);
  return sink.data();
}

std::string StoreContract::expect_read_error(const std::string& id, StoreErrc code) {
  StringSink sink;
  try {
    store_->read(id, sink);
    ADD_FAILURE() << "read of " << id << " succeeded, expected " << to_string(code);
  } catch (const StoreError& error) {
    EXPECT_EQ(to_string(error.code()), to_string(code)) << error.what();
    EXPECT_NE(std::string(error.what()).find(id), std::string::npos) << error.what();
  }
  return sink.data();
}

namespace {

// S3: exactly ceil(length/chunk) chunks numbered 0..k-1, no empty trailing chunk.
TEST_P(StoreContract, EdgeSizesRoundTripWithExactChunking) {
  for (const std::size_t size : {0U, 1U, kChunk - 1, kChunk, kChunk + 1, 3 * kChunk}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const std::string data = pattern(size);
    const FileInfo info = put(data);

    EXPECT_EQ(info.length, data.size());
    EXPECT_EQ(info.chunk_size, kChunk);
    EXPECT_EQ(info.sha256, sha256_hex(data));
    EXPECT_TRUE(is_file_id(info.id)) << info.id;
    EXPECT_EQ(read(info.id), data);

    const auto chunks = backend_->chunks(info.id);
    const std::size_t expected_count = (data.size() + kChunk - 1) / kChunk;
    ASSERT_EQ(chunks.size(), expected_count);
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      EXPECT_EQ(chunks[i].n, static_cast<std::int64_t>(i));
      const std::size_t expected_size = std::min<std::size_t>(kChunk, data.size() - i * kChunk);
      EXPECT_EQ(chunks[i].size, static_cast<std::int64_t>(expected_size)) << "chunk " << i;
    }
  }
}

TEST_P(StoreContract, EmptyFileHasFilesRecordAndNoChunks) {
  const FileInfo info = put("");
  EXPECT_EQ(backend_->count_files(), 1);
  EXPECT_EQ(backend_->count_chunks(), 0);
  EXPECT_EQ(store_->stat(info.id).length, 0U);
  EXPECT_EQ(read(info.id), "");
}

TEST_P(StoreContract, ShortReadsFromTheSourceStillMakeFullChunks) {
  const std::string data = pattern(5 * kChunk + 3);
  StringSource trickle(data, 3);
  const FileInfo info = store_->put("trickle", trickle, {});

  const auto chunks = backend_->chunks(info.id);
  ASSERT_EQ(chunks.size(), 6U);
  EXPECT_EQ(chunks[4].size, kChunk);
  EXPECT_EQ(chunks[5].size, 3);
  EXPECT_EQ(read(info.id), data);
}

TEST_P(StoreContract, StatReturnsWhatPutRecorded) {
  StringSource source("hello");
  const auto expires = system_clock::now() + hours(1);
  const FileInfo put_info = store_->put(
      "greeting.txt", source,
      {.content_type = "text/plain", .metadata = {{"owner", "tests"}}, .expires_at = expires});

  const FileInfo info = store_->stat(put_info.id);
  EXPECT_EQ(info.filename, "greeting.txt");
  EXPECT_EQ(info.length, 5U);
  EXPECT_EQ(info.content_type, "text/plain");
  EXPECT_EQ(info.metadata, nlohmann::json({{"owner", "tests"}}));
  EXPECT_EQ(info.sha256, sha256_hex("hello"));
  EXPECT_EQ(info.upload_date, put_info.upload_date);
  ASSERT_TRUE(info.expires_at.has_value());
  EXPECT_LE(*info.expires_at - expires, std::chrono::milliseconds(1));
  EXPECT_LE(system_clock::now() - info.upload_date, std::chrono::minutes(1));
}

TEST_P(StoreContract, RejectsMetadataThatIsNotAnObject) {
  StringSource source("x");
  EXPECT_THROW(store_->put("x", source, {.metadata = nlohmann::json::array()}), StoreError);
  EXPECT_EQ(backend_->count_chunks(), 0);
}

// S1: length 2N with chunk size N, but chunk 0 holds N-1 bytes.
TEST_P(StoreContract, ShortMiddleChunkIsCorruptAndNeverReachesTheSink) {
  const FileInfo info = put(pattern(2 * kChunk));
  backend_->replace_chunk(info.id, 0, pattern(kChunk - 1));

  EXPECT_EQ(expect_read_error(info.id, StoreErrc::kBadChunkSize), "");
}

// S1: a 1-byte file with chunk size 1 that has chunks n=0 and n=1.
TEST_P(StoreContract, ChunkBeyondTheLengthIsAnExtraChunk) {
  auto store = backend_->open(1);
  StringSource source("x");
  const FileInfo info = store->put("one-byte", source, {});
  backend_->insert_chunk(info.id, 1, "y");

  EXPECT_EQ(expect_read_error(info.id, StoreErrc::kExtraChunk), "");
}

TEST_P(StoreContract, EmptyTrailingChunkIsAnExtraChunk) {
  const FileInfo info = put(pattern(kChunk));
  backend_->insert_chunk(info.id, 1, "");

  expect_read_error(info.id, StoreErrc::kExtraChunk);
}

TEST_P(StoreContract, EmptiedChunkIsABadChunkSize) {
  const FileInfo info = put(pattern(2 * kChunk));
  backend_->replace_chunk(info.id, 1, "");

  expect_read_error(info.id, StoreErrc::kBadChunkSize);
}

TEST_P(StoreContract, OversizedLastChunkIsABadChunkSize) {
  const FileInfo info = put(pattern(kChunk + 1));
  backend_->replace_chunk(info.id, 1, pattern(kChunk + 1));

  expect_read_error(info.id, StoreErrc::kBadChunkSize);
}

// S2: the files record exists but every chunk was deleted.
TEST_P(StoreContract, AllChunksDeletedIsAMissingChunk) {
  const FileInfo info = put(pattern(3 * kChunk));
  backend_->delete_chunks(info.id);

  expect_read_error(info.id, StoreErrc::kMissingChunk);
  EXPECT_EQ(read(put("still works").id), "still works");
}

// A store may find a gap only after streaming the intact chunks before it; those may reach the
// sink, nothing else does.
TEST_P(StoreContract, MissingTailIsAMissingChunk) {
  const std::string data = pattern(3 * kChunk);
  const FileInfo info = put(data);
  backend_->delete_chunk(info.id, 2);

  const std::string received = expect_read_error(info.id, StoreErrc::kMissingChunk);
  EXPECT_LE(received.size(), 2 * kChunk);
  EXPECT_EQ(received, data.substr(0, received.size()));
}

TEST_P(StoreContract, GapInChunkNumbersIsABadChunkNumber) {
  const std::string data = pattern(3 * kChunk);
  const FileInfo info = put(data);
  backend_->delete_chunk(info.id, 1);

  const std::string received = expect_read_error(info.id, StoreErrc::kBadChunkNumber);
  EXPECT_LE(received.size(), kChunk);
  EXPECT_EQ(received, data.substr(0, received.size()));
}

TEST_P(StoreContract, NegativeChunkNumberIsABadChunkNumber) {
  const FileInfo info = put(pattern(kChunk));
  backend_->insert_chunk(info.id, -1, pattern(kChunk));

  expect_read_error(info.id, StoreErrc::kBadChunkNumber);
}

TEST_P(StoreContract, RecordedLengthDisagreeingWithTheChunksIsALengthMismatch) {
  const FileInfo info = put(pattern(2 * kChunk + 3));
  backend_->set_length(info.id, 2 * kChunk + 2);

  expect_read_error(info.id, StoreErrc::kLengthMismatch);
}

TEST_P(StoreContract, ChangedByteIsADigestMismatch) {
  const std::string data = pattern(2 * kChunk);
  const FileInfo info = put(data);
  std::string damaged = data.substr(kChunk);
  damaged[5] = static_cast<char>(damaged[5] ^ 0x01);
  backend_->replace_chunk(info.id, 1, damaged);

  expect_read_error(info.id, StoreErrc::kDigestMismatch);
}

// Found by the bad-input review: damaged metadata was reported as a store outage, so the
// resource server requeued the request forever instead of answering it.
TEST_P(StoreContract, MalformedMetadataIsADamagedRecordNotAnOutage) {
  const FileInfo info = put(pattern(kChunk));
  backend_->damage_metadata(info.id);

  try {
    (void)store_->stat(info.id);
    FAIL() << "expected StoreError";
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), StoreErrc::kBadRecord) << error.what();
    EXPECT_TRUE(error.is_corruption());
  }
}

// Found by the bad-input review: a recorded chunk size of 4e9 made a reader allocate 4 GB.
TEST_P(StoreContract, ChunkSizeBeyondTheMaximumIsRefusedBeforeAllocating) {
  const FileInfo info = put(pattern(kChunk));
  backend_->set_chunk_size(info.id, 4'000'000'000);

  expect_read_error(info.id, StoreErrc::kBadChunkSize);
}

// S4: lengths above 4 GiB pass through the files record unchanged, and a record claiming far
// more chunks than exist fails at once instead of scanning.
TEST_P(StoreContract, LengthAboveFourGibibytesIsKeptAsIs) {
  const FileInfo info = put(pattern(kChunk));
  constexpr std::int64_t kFiveGib = 5LL * 1024 * 1024 * 1024 + 1;
  backend_->set_length(info.id, kFiveGib);

  EXPECT_EQ(store_->stat(info.id).length, static_cast<std::uint64_t>(kFiveGib));
  expect_read_error(info.id, StoreErrc::kMissingChunk);
}

// S5: an upload killed halfway leaves no files record (and this process cleans its chunks).
TEST_P(StoreContract, InterruptedUploadLeavesNoFile) {
  auto store = backend_->open(64 * 1024);
  // Past 4 MiB, so at least one batch of chunks was written before the failure.
  GeneratedSource source(20 * 1024 * 1024, 7, 10 * 1024 * 1024);
  EXPECT_THROW(store->put("half.bin", source, {}), std::runtime_error);

  EXPECT_EQ(backend_->count_files(), 0);
  EXPECT_EQ(backend_->count_chunks(), 0);
}

// S5: chunks a crashed upload left behind are swept once older than the safety window.
TEST_P(StoreContract, SweepRemovesOnlyOldOrphanedChunks) {
  const auto now = system_clock::now();
  const std::string old_orphan = new_file_id(now - hours(2));
  const std::string young_orphan = new_file_id(now - std::chrono::minutes(5));
  backend_->insert_chunk(old_orphan, 0, "left");
  backend_->insert_chunk(old_orphan, 1, "over");
  backend_->insert_chunk(young_orphan, 0, "uploading");
  const std::string kept = put(pattern(2 * kChunk)).id;

  const SweepResult result = store_->sweep(now, hours(1));

  EXPECT_EQ(result.orphaned_chunks, 2U);
  EXPECT_EQ(result.expired_files, 0U);
  EXPECT_TRUE(backend_->chunks(old_orphan).empty());
  EXPECT_EQ(backend_->chunks(young_orphan).size(), 1U);
  EXPECT_EQ(read(kept), pattern(2 * kChunk));
}

TEST_P(StoreContract, SweepRemovesExpiredFiles) {
  const auto now = system_clock::now();
  StringSource expired_source(pattern(3 * kChunk));
  StringSource later_source("later");
  StringSource forever_source("forever");
  const auto expired = store_->put("a", expired_source, {.expires_at = now - hours(1)});
  const auto later = store_->put("b", later_source, {.expires_at = now + hours(1)});
  const auto forever = store_->put("c", forever_source, {});

  const SweepResult result = store_->sweep(now, hours(1));

  EXPECT_EQ(result.expired_files, 1U);
  EXPECT_THROW(store_->stat(expired.id), StoreError);
  EXPECT_TRUE(backend_->chunks(expired.id).empty());
  EXPECT_EQ(read(later.id), "later");
  EXPECT_EQ(read(forever.id), "forever");
}

// Answered-message records let a restarted consumer drop a redelivered request (issue 6).
TEST_P(StoreContract, RemembersAnsweredMessagesUntilTheyExpire) {
  const auto now = system_clock::now();
  store_->remember_message("request-1", now + hours(1));
  store_->remember_message("request-2", now - hours(1));

  EXPECT_TRUE(store_->seen_message("request-1", now));
  EXPECT_FALSE(store_->seen_message("request-2", now));
  EXPECT_FALSE(store_->seen_message("request-3", now));
  EXPECT_FALSE(store_->seen_message("request-1", now + hours(2)));
}

TEST_P(StoreContract, RememberingAMessageAgainReplacesItsExpiry) {
  const auto now = system_clock::now();
  store_->remember_message("request-1", now - hours(1));
  store_->remember_message("request-1", now + hours(1));

  EXPECT_TRUE(store_->seen_message("request-1", now));
}

TEST_P(StoreContract, AnsweredMessageKeepsItsReply) {
  const auto now = system_clock::now();
  store_->remember_message("with-reply", now + hours(1), R"({"response":"ok"})");
  store_->remember_message("without", now + hours(1));

  EXPECT_EQ(store_->seen_message("with-reply", now),
            std::optional<std::string>(R"({"response":"ok"})"));
  EXPECT_EQ(store_->seen_message("without", now), std::optional<std::string>(""));
}

TEST_P(StoreContract, SweepDropsExpiredMessageRecordsOnly) {
  const auto now = system_clock::now();
  store_->remember_message("old", now - hours(1));
  store_->remember_message("fresh", now + hours(1));

  const SweepResult result = store_->sweep(now, hours(1));

  EXPECT_EQ(result.expired_messages, 1U);
  EXPECT_TRUE(store_->seen_message("fresh", now));
}

// Found by the bad-input review: on GridFS, ids that differ after a NUL byte or only in invalid
// UTF-8 were one record, so the second request was dropped as a duplicate.
TEST_P(StoreContract, MessageIdsAreComparedByteForByte) {
  const auto now = system_clock::now();
  store_->remember_message(std::string("nul\0one", 7), now + hours(1));
  store_->remember_message("\xff\xfe", now + hours(1));

  EXPECT_FALSE(store_->seen_message(std::string("nul\0two", 7), now));
  EXPECT_FALSE(store_->seen_message("\xfe\xff", now));
  EXPECT_TRUE(store_->seen_message(std::string("nul\0one", 7), now));
  EXPECT_TRUE(store_->seen_message("\xff\xfe", now));
}

TEST_P(StoreContract, RefusesEmptyAndOverlongMessageIds) {
  const auto later = system_clock::now() + hours(1);
  for (const std::string& id : {std::string(), std::string(kMaxMessageIdBytes + 1, 'x')}) {
    try {
      store_->remember_message(id, later);
      ADD_FAILURE() << "a message id of " << id.size() << " bytes was accepted";
    } catch (const StoreError& error) {
      EXPECT_EQ(error.code(), StoreErrc::kInvalidArgument);
    }
  }
}

// S6: the same name stored twice gives two files, each with its own content.
TEST_P(StoreContract, SameNameTwiceGivesDistinctFiles) {
  const FileInfo first = put("first content", "report.pdf");
  const FileInfo second = put("second, different content", "report.pdf");

  EXPECT_NE(first.id, second.id);
  EXPECT_EQ(read(first.id), "first content");
  EXPECT_EQ(read(second.id), "second, different content");
}

TEST_P(StoreContract, RemoveDeletesRecordAndChunks) {
  const FileInfo info = put(pattern(3 * kChunk));

  EXPECT_TRUE(store_->remove(info.id));

  try {
    store_->stat(info.id);
    ADD_FAILURE() << "stat after remove succeeded";
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), StoreErrc::kNotFound);
    EXPECT_NE(std::string(error.what()).find(info.id), std::string::npos);
  }
  expect_read_error(info.id, StoreErrc::kNotFound);
  EXPECT_TRUE(backend_->chunks(info.id).empty());
  EXPECT_FALSE(store_->remove(info.id));
}

/// Removes the file through another Store the first time it receives bytes.
class RemovingSink final : public ByteSink {
 public:
  RemovingSink(Store& other, std::string id) : other_(other), id_(std::move(id)) {}
  void write(std::span<const std::byte> bytes) override {
    if (!removed_) {
      removed_ = other_.remove(id_);
    }
    hashing_.write(bytes);
  }
  HashingSink& received() { return hashing_; }

 private:
  Store& other_;
  std::string id_;
  bool removed_ = false;
  HashingSink hashing_;
};

// A reader racing a delete gets the whole file or a clean not-found, never a corruption error.
TEST_P(StoreContract, ReadRacingARemoveEndsWholeOrNotFound) {
  auto store = backend_->open(64 * 1024);
  auto other = backend_->open(64 * 1024);
  constexpr std::uint64_t kLength = 12 * 1024 * 1024;  // several read batches
  GeneratedSource source(kLength, 11);
  const FileInfo info = store->put("raced.bin", source, {});

  RemovingSink sink(*other, info.id);
  try {
    store->read(info.id, sink);
    EXPECT_EQ(sink.received().bytes(), kLength);
    EXPECT_EQ(sink.received().hex_digest(), GeneratedSource::sha256_of(kLength, 11));
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), StoreErrc::kNotFound) << error.what();
  }
  EXPECT_THROW(store->stat(info.id), StoreError);
}

TEST_P(StoreContract, MalformedIdIsAnInvalidArgument) {
  for (const std::string id : {"", "ABCDEF0123456789abcdef01", "../etc/passwd", "0123"}) {
    try {
      store_->stat(id);
      ADD_FAILURE() << "stat accepted id '" << id << "'";
    } catch (const StoreError& error) {
      EXPECT_EQ(error.code(), StoreErrc::kInvalidArgument);
      EXPECT_NE(std::string(error.what()).find("'" + id + "'"), std::string::npos);
    }
  }
}

void put_and_read_many(Store& store, int files, std::uint64_t seed) {
  for (int i = 0; i < files; ++i) {
    constexpr std::uint64_t kLength = 100'000;
    GeneratedSource source(kLength, seed + i);
    const FileInfo info = store.put("concurrent.bin", source, {});
    HashingSink sink;
    store.read(info.id, sink);
    EXPECT_EQ(sink.hex_digest(), GeneratedSource::sha256_of(kLength, seed + i));
    EXPECT_TRUE(store.remove(info.id));
  }
}

// Chunks of a few KiB here: the 16-byte chunks of the other tests would make this test measure
// the per-chunk cost of the wire-protocol test server rather than concurrency.
TEST_P(StoreContract, TwoStoresOnOneLocationWorkConcurrently) {
  auto store = backend_->open(4096);
  auto other = backend_->open(1000);
  std::thread first([&] { put_and_read_many(*store, 10, 100); });
  std::thread second([&] { put_and_read_many(*other, 10, 200); });
  first.join();
  second.join();

  EXPECT_EQ(backend_->count_chunks(), 0);
}

TEST_P(StoreContract, OneStoreSharedByTwoThreadsWorks) {
  auto store = backend_->open(4096);
  std::thread first([&] { put_and_read_many(*store, 5, 300); });
  std::thread second([&] { put_and_read_many(*store, 5, 400); });
  first.join();
  second.join();
}

TEST_P(StoreContract, GeneratedStreamOf64MibRoundTripsWithDefaultChunks) {
  auto store = backend_->open(kDefaultChunkSize);
  constexpr std::uint64_t kLength = 64ULL * 1024 * 1024;
  const std::string expected = GeneratedSource::sha256_of(kLength, 42);

  GeneratedSource source(kLength, 42);
  const FileInfo info = store->put("large.bin", source, {});
  EXPECT_EQ(info.length, kLength);
  EXPECT_EQ(info.sha256, expected);
  EXPECT_EQ(backend_->count_chunks(), (kLength + kDefaultChunkSize - 1) / kDefaultChunkSize);

  HashingSink sink;
  const FileInfo read_info = store->read(info.id, sink);
  EXPECT_EQ(sink.bytes(), kLength);
  EXPECT_EQ(sink.hex_digest(), expected);
  EXPECT_EQ(read_info.length, kLength);
}

}  // namespace
}  // namespace claimcheck::store::testing
