#include "claimcheck/auth/revocation_list.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "claimcheck/common/encoding.hpp"
#include "file_lock.hpp"

namespace claimcheck::auth {
namespace {

using std::chrono::system_clock;

constexpr std::size_t kMaxJtiChars = 256;

std::string errno_text() { return std::strerror(errno); }  // NOLINT(concurrency-mt-unsafe)

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// Appends and compactions take turns across processes on the lock file; readers never lock,
// they notice a replaced file by its inode.
class ExclusiveLock {
 public:
  explicit ExclusiveLock(const std::filesystem::path& lock_file) : lock_(take(lock_file)) {}

 private:
  static FileLock take(const std::filesystem::path& lock_file) {
    try {
      return FileLock(lock_file);
    } catch (const std::runtime_error& error) {
      throw RevocationError(error.what());
    }
  }
  FileLock lock_;
};

void write_all(int fd, std::string_view text, const std::filesystem::path& path) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw RevocationError("cannot write '" + path.string() + "': " + errno_text());
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd) != 0) {
    throw RevocationError("cannot sync '" + path.string() + "': " + errno_text());
  }
}

bool valid_jti(std::string_view jti) {
  return !jti.empty() && jti.size() <= kMaxJtiChars &&
         std::all_of(jti.begin(), jti.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

std::string line_for(std::string_view jti, system_clock::time_point expires_at) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch()).count();
  return std::string(jti) + " " + std::to_string(seconds) + "\n";
}

std::uintmax_t inode_of(const std::filesystem::path& path) {
  struct stat status {};
  return ::stat(path.c_str(), &status) == 0 ? status.st_ino : 0;
}

// Rewrites `file` with only the entries whose tokens have not expired; called under the lock.
void compact(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string live;
  std::size_t dropped = 0;
  const auto now = system_clock::now();
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string jti;
    std::int64_t expiry = 0;
    if (fields >> jti >> expiry && system_clock::time_point(std::chrono::seconds(expiry)) > now) {
      live += line + "\n";
    } else {
      ++dropped;
    }
  }
  in.close();
  if (dropped == 0) {
    return;
  }
  const std::filesystem::path temporary = file.string() + ".tmp-" + random_hex(8);
  {
    const Descriptor out(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (out.get() < 0) {
      throw RevocationError("cannot create '" + temporary.string() + "': " + errno_text());
    }
    write_all(out.get(), live, temporary);
  }
  std::error_code error;
  std::filesystem::rename(temporary, file, error);
  if (error) {
    std::filesystem::remove(temporary);
    throw RevocationError("cannot replace '" + file.string() + "': " + error.message());
  }
  spdlog::info("revocation list '{}': dropped {} entries of expired tokens", file.string(),
               dropped);
}

}  // namespace

RevocationList::RevocationList(std::filesystem::path file)
    : file_(std::move(file)), lock_file_(file_.string() + ".lock") {
  std::error_code error;
  if (file_.has_parent_path()) {
    std::filesystem::create_directories(file_.parent_path(), error);
  }
  if (error) {
    throw RevocationError("cannot create the directory of '" + file_.string() +
                          "': " + error.message());
  }
  {
    const ExclusiveLock lock(lock_file_);
    const Descriptor created(::open(file_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    if (created.get() < 0) {
      throw RevocationError("cannot open revocation file '" + file_.string() +
                            "': " + errno_text());
    }
    compact(file_);
  }
  const std::lock_guard guard(mutex_);
  read_new_lines();
}

void RevocationList::revoke(std::string_view jti, system_clock::time_point expires_at) {
  if (!valid_jti(jti)) {
    throw std::invalid_argument("a jti must be 1-256 printable characters without spaces");
  }
  {
    const ExclusiveLock lock(lock_file_);
    const Descriptor out(::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (out.get() < 0) {
      throw RevocationError("cannot open revocation file '" + file_.string() +
                            "': " + errno_text());
    }
    write_all(out.get(), line_for(jti, expires_at), file_);
  }
  const std::lock_guard guard(mutex_);
  read_new_lines();
}

bool RevocationList::is_revoked(std::string_view jti) {
  const std::lock_guard guard(mutex_);
  read_new_lines();
  return revoked_.find(jti) != revoked_.end();
}

std::size_t RevocationList::size() {
  const std::lock_guard guard(mutex_);
  read_new_lines();
  return revoked_.size();
}

void RevocationList::read_new_lines() {
  std::error_code error;
  const auto size = std::filesystem::file_size(file_, error);
  const auto inode = inode_of(file_);
  if (error || inode == 0) {
    // The file vanished (removed by hand): keep what we know rather than forget revocations.
    spdlog::warn("cannot read revocation file '{}'; keeping {} known revocations", file_.string(),
                 revoked_.size());
    return;
  }
  if (inode != file_id_ || size < read_offset_) {
    // Replaced by a compaction (here or in another process): everything live is in the new file.
    revoked_.clear();
    read_offset_ = 0;
    file_id_ = inode;
  }
  if (size == read_offset_) {
    return;
  }
  std::ifstream in(file_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(read_offset_));
  std::string chunk(size - read_offset_, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<std::size_t>(in.gcount()));
  // Only complete lines count; a line still being appended is read next time.
  const auto complete = chunk.rfind('\n');
  if (complete == std::string::npos) {
    return;
  }
  std::istringstream lines(chunk.substr(0, complete + 1));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string jti;
    std::int64_t expiry = 0;
    if (fields >> jti >> expiry) {
      revoked_[jti] = system_clock::time_point(std::chrono::seconds(expiry));
    } else {
      spdlog::warn("revocation file '{}': skipping a malformed line", file_.string());
    }
  }
  read_offset_ += complete + 1;
}

}  // namespace claimcheck::auth
