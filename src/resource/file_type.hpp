#pragma once

// libmagic behind a small RAII class; the only place that includes magic.h.

#include <memory>
#include <string>
#include <string_view>

namespace claimcheck::resource {

/// Detects a MIME type ("image/png", "text/plain; charset=us-ascii") from a file's first bytes.
/// One instance per thread: libmagic handles are not thread-safe.
class FileTypeDetector {
 public:
  /// Loads the system's magic database; throws std::runtime_error if it cannot.
  FileTypeDetector();

  [[nodiscard]] std::string detect(std::string_view head) const;

 private:
  struct Handle;
  std::shared_ptr<Handle> handle_;
};

/// How many leading bytes detection looks at; libmagic's own default read size.
inline constexpr std::size_t kFileTypeHeadBytes = std::size_t{1024} * 1024;

}  // namespace claimcheck::resource
