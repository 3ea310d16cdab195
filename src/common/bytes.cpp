#include "claimcheck/common/bytes.hpp"

#include <stdexcept>
#include <string>

namespace claimcheck {

FileSource::FileSource(const std::filesystem::path& path)
    : path_(path), in_(path, std::ios::binary) {
  if (std::filesystem::is_directory(path)) {
    throw std::runtime_error("cannot read '" + path.string() + "': it is a directory");
  }
  if (!in_) {
    throw std::runtime_error("cannot open '" + path.string() + "' for reading");
  }
}

std::size_t FileSource::read(std::span<std::byte> buffer) {
  in_.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
  if (in_.bad()) {
    throw std::runtime_error("read error on '" + path_.string() + "'");
  }
  return static_cast<std::size_t>(in_.gcount());
}

KeepAliveTicker::KeepAliveTicker(std::function<void()> keep_alive,
                                 std::chrono::milliseconds interval)
    : keep_alive_(std::move(keep_alive)),
      interval_(interval),
      last_call_(std::chrono::steady_clock::now()) {}

void KeepAliveTicker::tick() {
  const auto now = std::chrono::steady_clock::now();
  if (keep_alive_ && now - last_call_ >= interval_) {
    keep_alive_();
    last_call_ = now;
  }
}

std::size_t KeepAliveSource::read(std::span<std::byte> buffer) {
  const std::size_t got = next_.read(buffer);
  keep_alive_.tick();
  return got;
}

void KeepAliveSink::write(std::span<const std::byte> bytes) {
  next_.write(bytes);
  keep_alive_.tick();
}

}  // namespace claimcheck
