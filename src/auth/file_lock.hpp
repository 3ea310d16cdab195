#pragma once

/// An exclusive flock on a lock file, held for the object's life (private to src/auth): lets
/// processes sharing a directory take turns at changing it.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace claimcheck::auth {

class FileLock {
 public:
  /// Blocks until the lock is held. Throws std::runtime_error naming the file.
  explicit FileLock(const std::filesystem::path& lock_file)
      : fd_(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ < 0) {
      throw std::runtime_error("cannot open lock file '" + lock_file.string() +
                               "': " + std::strerror(errno));  // NOLINT(concurrency-mt-unsafe)
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const std::string reason = std::strerror(errno);  // NOLINT(concurrency-mt-unsafe)
        ::close(fd_);
        throw std::runtime_error("cannot lock '" + lock_file.string() + "': " + reason);
      }
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

}  // namespace claimcheck::auth
