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

}  // namespace claimcheck
