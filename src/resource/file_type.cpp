#include "file_type.hpp"

#include <magic.h>

#include <stdexcept>

namespace claimcheck::resource {

struct FileTypeDetector::Handle {
  struct Deleter {
    void operator()(magic_t cookie) const noexcept { magic_close(cookie); }
  };
  std::unique_ptr<magic_set, Deleter> cookie{magic_open(MAGIC_MIME)};
};

FileTypeDetector::FileTypeDetector() : handle_(std::make_shared<Handle>()) {
  if (!handle_->cookie) {
    throw std::runtime_error("libmagic could not be initialised");
  }
  if (magic_load(handle_->cookie.get(), nullptr) != 0) {
    throw std::runtime_error(std::string("libmagic could not load its database: ") +
                             magic_error(handle_->cookie.get()));
  }
}

std::string FileTypeDetector::detect(std::string_view head) const {
  const char* type = magic_buffer(handle_->cookie.get(), head.data(), head.size());
  return type != nullptr ? type : "application/octet-stream";
}

}  // namespace claimcheck::resource
