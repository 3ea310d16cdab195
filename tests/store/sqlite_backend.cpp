#include "claimcheck/store/store.hpp"
#include "store_backend.hpp"

namespace claimcheck::store::testing {
namespace {

class SqliteBackend final : public StoreBackend {
 public:
  std::unique_ptr<Store> open(std::uint32_t chunk_size) override {
    return open_store("sqlite:" + path_, {.chunk_size = chunk_size});
  }
  std::vector<ChunkRow> chunks(const std::string& id) override { return tamper_.chunks(id); }
  void replace_chunk(const std::string& id, std::int64_t n, std::string_view data) override {
    tamper_.replace_chunk(id, n, data);
  }
  void insert_chunk(const std::string& id, std::int64_t n, std::string_view data) override {
    tamper_.insert_chunk(id, n, data);
  }
  void delete_chunk(const std::string& id, std::int64_t n) override { tamper_.delete_chunk(id, n); }
  void delete_chunks(const std::string& id) override { tamper_.delete_chunks(id); }
  void set_length(const std::string& id, std::int64_t length) override {
    tamper_.set_length(id, length);
  }
  void set_chunk_size(const std::string& id, std::int64_t chunk_size) override {
    tamper_.exec("UPDATE files SET chunk_size = " + std::to_string(chunk_size) + " WHERE id = '" +
                 id + "'");
  }
  void damage_metadata(const std::string& id) override {
    tamper_.exec("UPDATE files SET metadata = '{oops' WHERE id = '" + id + "'");
  }
  std::int64_t count_files() override { return tamper_.count("SELECT count(*) FROM files"); }
  std::int64_t count_chunks() override { return tamper_.count("SELECT count(*) FROM chunks"); }

 private:
  TempDir dir_;
  std::string path_ = dir_.file("store.db");
  // Opening a store first creates the schema the tamperer works on.
  std::unique_ptr<Store> schema_ = open(kDefaultChunkSize);
  SqliteTamper tamper_{path_};
};

}  // namespace

std::unique_ptr<StoreBackend> make_sqlite_backend() { return std::make_unique<SqliteBackend>(); }

}  // namespace claimcheck::store::testing
