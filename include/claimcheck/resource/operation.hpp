#pragma once

/// Operations the resource server runs on a redeemed file, chosen by a request's `operation`.
///
/// An operation sees the file as a stream: start() returns a run that receives the bytes while
/// the store reads and verifies them, and finish() is called only once the store has confirmed
/// the whole file (chunk order, sizes, length, SHA-256). A run whose file turns out corrupt is
/// dropped without finish(), so nothing is ever made from a partial or damaged file.
/// Adding an operation is a class implementing Operation plus one line in
/// register_builtin_operations().

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "claimcheck/common/bytes.hpp"
#include "claimcheck/message/envelope.hpp"
#include "claimcheck/store/store.hpp"

namespace claimcheck::resource {

struct OperationResult {
  std::string response;  ///< one-line summary for people
  nlohmann::json result = nlohmann::json::object();
  std::string result_file_id;  ///< a file the operation stored, if any
};

/// One execution of an operation on one file. Not thread-safe.
class OperationRun : public ByteSink {
 public:
  /// Called after the store verified every byte written so far is the whole, intact file.
  virtual OperationResult finish(const store::FileInfo& file) = 0;
};

class Operation {
 public:
  virtual ~Operation() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  /// The authority the caller's token must carry to ask for this operation.
  [[nodiscard]] virtual std::string_view required_authority() const = 0;
  virtual std::unique_ptr<OperationRun> start(const message::FileRequest& request) = 0;
};

/// Operations by name. Filled at start-up, then only read.
class OperationCatalog {
 public:
  void add(std::unique_ptr<Operation> operation);
  /// nullptr when no operation has that name.
  [[nodiscard]] Operation* find(std::string_view name) const;

 private:
  std::map<std::string, std::unique_ptr<Operation>, std::less<>> operations_;
};

/// Adds every operation claimcheck ships: "inspect" (length, SHA-256, detected content type).
void register_builtin_operations(OperationCatalog& catalog);

}  // namespace claimcheck::resource
