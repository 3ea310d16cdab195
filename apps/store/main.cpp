// claimcheck-store: the operator's view of a store, the same one the services use.
//
//   claimcheck-store [--config FILE] [--set key=value]... [--location LOC] COMMAND
//     put FILE [--name NAME] [--content-type TYPE]   store a file, print its record as JSON
//     get ID OUTPUT                                   write a verified file to OUTPUT ("-": stdout)
//     stat ID                                         print a file's record as JSON
//     remove ID                                       delete a file (record first, then chunks)
//     sweep [--safety-window DURATION]                remove expired files and old orphaned chunks
//
// The store is store.location, store.bucket and store.chunk-size from the configuration (as for
// claimcheck-client and claimcheck-resource; environment prefix CLAIMCHECK_STORE_), or
// --location. Exit codes: 0 done, 1 the file is missing or damaged, 2 could not run (bad
// arguments, configuration or an unreachable store).

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "claimcheck/common/config.hpp"
#include "claimcheck/common/service_options.hpp"
#include "claimcheck/store/store.hpp"

namespace {

using namespace claimcheck;

constexpr int kDone = 0;
constexpr int kFileFailed = 1;
constexpr int kCouldNotRun = 2;

/// One JSON line; names that are not UTF-8 (a file name is any bytes) get U+FFFD.
std::string json_line(const nlohmann::json& document) {
  return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json to_json(const store::FileInfo& info) {
  nlohmann::json record = {{"id", info.id},
                           {"filename", info.filename},
                           {"length", info.length},
                           {"chunkSize", info.chunk_size},
                           {"sha256", info.sha256},
                           {"contentType", info.content_type},
                           {"uploadDate", std::chrono::duration_cast<std::chrono::milliseconds>(
                                              info.upload_date.time_since_epoch())
                                              .count()},
                           {"metadata", info.metadata}};
  if (info.expires_at) {
    record["expiresAt"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(info.expires_at->time_since_epoch())
            .count();
  }
  return record;
}

/// Writes to a fresh temporary file beside `path` and renames it into place only once the store
/// has verified the whole file, so a damaged file never appears under its name and two runs
/// never write into one file. `path` must not exist or be a regular file: replacing a device
/// or a symbolic link such as /dev/null would destroy it.
class VerifiedFileSink final : public ByteSink {
 public:
  explicit VerifiedFileSink(std::filesystem::path path) : path_(std::move(path)) {
    std::error_code error;
    const auto status = std::filesystem::symlink_status(path_, error);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
      throw std::runtime_error("'" + path_.string() +
                               "' exists and is not a regular file; give a new file name or -");
    }
    std::string pattern = path_.string() + ".partial-XXXXXX";
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot create a temporary file beside '" + path_.string() + "'");
    }
    partial_ = pattern;
    out_ = ::fdopen(fd, "wb");
    if (out_ == nullptr) {
      ::close(fd);
      discard();
      throw std::system_error(errno, std::generic_category(), "cannot write '" + partial_ + "'");
    }
  }
  ~VerifiedFileSink() override {
    if (out_ != nullptr) {
      std::fclose(out_);
    }
    if (!committed_) {
      discard();
    }
  }
  VerifiedFileSink(const VerifiedFileSink&) = delete;
  VerifiedFileSink& operator=(const VerifiedFileSink&) = delete;

  void write(std::span<const std::byte> bytes) override {
    if (std::fwrite(bytes.data(), 1, bytes.size(), out_) != bytes.size()) {
      throw std::system_error(errno, std::generic_category(), "cannot write '" + partial_ + "'");
    }
  }

  void commit() {
    const bool flushed = std::fflush(out_) == 0 && ::fsync(::fileno(out_)) == 0;
    const int closed = std::fclose(out_);
    out_ = nullptr;
    if (!flushed || closed != 0) {
      throw std::system_error(errno, std::generic_category(), "cannot write '" + partial_ + "'");
    }
    std::filesystem::rename(partial_, path_);
    committed_ = true;
  }

 private:
  void discard() noexcept {
    std::error_code ignored;
    std::filesystem::remove(partial_, ignored);
  }

  std::filesystem::path path_;
  std::string partial_;
  std::FILE* out_ = nullptr;
  bool committed_ = false;
};

/// Standard output; a damaged file may have been partly written before the error.
class StdoutSink final : public ByteSink {
 public:
  void write(std::span<const std::byte> bytes) override {
    if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) {
      throw std::runtime_error("cannot write to standard output");
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"claimcheck store: put, get, inspect, remove and sweep stored files"};
  app.require_subcommand(1);
  ServiceOptions options;
  add_service_options(app, options);
  std::string location;
  app.add_option("--location", location,
                 "Store location (store.location): sqlite:PATH or mongodb://...");

  std::string input;
  std::string name;
  std::string content_type;
  auto* put = app.add_subcommand("put", "Store a file and print its record as JSON");
  put->add_option("FILE", input, "File to store")->required()->check(CLI::ExistingFile);
  put->add_option("--name", name, "Name to record (default: the file's name)");
  put->add_option("--content-type", content_type, "Content type to record");

  std::string id;
  std::string output;
  auto* get = app.add_subcommand("get", "Write a stored file, verified, to OUTPUT");
  get->add_option("ID", id, "File id (24 hex digits)")->required();
  get->add_option("OUTPUT", output, "Output path, or - for standard output")->required();

  auto* stat = app.add_subcommand("stat", "Print a file's record as JSON");
  stat->add_option("ID", id, "File id")->required();
  auto* remove = app.add_subcommand("remove", "Delete a file");
  remove->add_option("ID", id, "File id")->required();

  std::string safety_window = "1h";
  auto* sweep = app.add_subcommand("sweep", "Remove expired files and old orphaned chunks");
  sweep->add_option("--safety-window", safety_window,
                    "Age below which orphaned chunks are kept: an upload may still be running");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version exit 0; every other parse error is "could not run", as documented.
    return app.exit(error) == 0 ? kDone : kCouldNotRun;
  }

  std::unique_ptr<store::Store> store;
  std::chrono::milliseconds window{};
  try {
    if (!location.empty()) {
      options.overrides.push_back("store.location=" + location);
    }
    const Config config = load_service_config(options, "store", "CLAIMCHECK_STORE_");
    const auto parsed_window = parse_duration(safety_window);
    if (!parsed_window || parsed_window->count() <= 0) {
      throw ConfigError("--safety-window '" + safety_window + "' is not a positive duration");
    }
    window = *parsed_window;
    // Only put may create the store; reading a mistyped location must not make an empty one.
    store = store::open_store(config, /*create_if_missing=*/static_cast<bool>(*put));
  } catch (const std::exception& error) {
    std::cerr << "claimcheck-store: " << error.what() << '\n';
    return kCouldNotRun;
  }

  try {
    if (*put) {
      FileSource source(input);
      const auto info =
          store->put(name.empty() ? std::filesystem::path(input).filename().string() : name, source,
                     {.content_type = content_type});
      std::cout << json_line(to_json(info)) << '\n';
    } else if (*get) {
      if (output == "-") {
        StdoutSink sink;
        store->read(id, sink);
      } else {
        VerifiedFileSink sink(output);
        const auto info = store->read(id, sink);
        sink.commit();
        std::cout << json_line(to_json(info)) << '\n';
      }
    } else if (*stat) {
      std::cout << json_line(to_json(store->stat(id))) << '\n';
    } else if (*remove) {
      if (!store->remove(id)) {
        std::cerr << "claimcheck-store: no file " << id << " in " << store->describe() << '\n';
        return kFileFailed;
      }
    } else if (*sweep) {
      const auto result = store->sweep(std::chrono::system_clock::now(),
                                       std::chrono::duration_cast<std::chrono::seconds>(window));
      std::cout << nlohmann::json{{"expiredFiles", result.expired_files},
                                  {"orphanedChunks", result.orphaned_chunks}}
                       .dump()
                << '\n';
    }
    return kDone;
  } catch (const store::StoreError& error) {
    std::cerr << "claimcheck-store: " << store::to_string(error.code()) << ": " << error.what()
              << '\n';
    return error.code() == store::StoreErrc::kBackend ||
                   error.code() == store::StoreErrc::kInvalidArgument
               ? kCouldNotRun
               : kFileFailed;
  } catch (const std::exception& error) {
    std::cerr << "claimcheck-store: " << error.what() << '\n';
    return kCouldNotRun;
  }
}
