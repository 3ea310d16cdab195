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

FileSink::FileSink(const std::filesystem::path& path)
    : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
  if (!out_) {
    throw std::runtime_error("cannot open '" + path.string() + "' for writing");
  }
}

void FileSink::write(std::span<const std::byte> bytes) {
  out_.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  if (!out_) {
    throw std::runtime_error("write error on '" + path_.string() + "'");
  }
}

void FileSink::close() {
  out_.flush();
  out_.close();
  if (out_.fail()) {
    throw std::runtime_error("could not finish writing '" + path_.string() + "'");
  }
}

}  // namespace claimcheck
