#include "claimcheck/resource/operation.hpp"

#include <fmt/format.h>

#include "claimcheck/common/sha256.hpp"
#include "file_type.hpp"

namespace claimcheck::resource {
namespace {

/// Measures a file as it streams by: length, SHA-256, and the head for type detection.
class InspectRun final : public OperationRun {
 public:
  explicit InspectRun(const FileTypeDetector& detector) : detector_(detector) {}

  void write(std::span<const std::byte> bytes) override {
    length_ += bytes.size();
    hash_.update(bytes);
    const std::size_t wanted = std::min(bytes.size(), kFileTypeHeadBytes - head_.size());
    head_.append(reinterpret_cast<const char*>(bytes.data()), wanted);
  }

  OperationResult finish(const store::FileInfo& file) override {
    OperationResult outcome;
    const std::string sha256 = hash_.hex_digest();
    const std::string content_type = length_ == 0 ? "application/x-empty" : detector_.detect(head_);
    outcome.result = {{"length", length_},
                      {"sha256", sha256},
                      {"contentType", content_type},
                      {"declaredContentType", file.content_type}};
    outcome.response = fmt::format("inspected {} bytes, {}", length_, content_type);
    return outcome;
  }

 private:
  const FileTypeDetector& detector_;
  std::uint64_t length_ = 0;
  Sha256 hash_;
  std::string head_;
};

class InspectOperation final : public Operation {
 public:
  [[nodiscard]] std::string_view name() const override { return "inspect"; }
  [[nodiscard]] std::string_view required_authority() const override {
    return message::kSendAuthority;
  }
  std::unique_ptr<OperationRun> start(const message::FileRequest& /*request*/) override {
    return std::make_unique<InspectRun>(detector_);
  }

 private:
  FileTypeDetector detector_;
};

}  // namespace

void OperationCatalog::add(std::unique_ptr<Operation> operation) {
  std::string name(operation->name());
  operations_[std::move(name)] = std::move(operation);
}

Operation* OperationCatalog::find(std::string_view name) const {
  const auto found = operations_.find(name);
  return found == operations_.end() ? nullptr : found->second.get();
}

void register_builtin_operations(OperationCatalog& catalog) {
  catalog.add(std::make_unique<InspectOperation>());
}

}  // namespace claimcheck::resource
