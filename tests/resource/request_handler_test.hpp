#pragma once

// The request handler's tests run once per store backend: resource_test instantiates them on
// the embedded store, resource_gridfs_test on GridFS.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "claimcheck/common/metrics.hpp"
#include "claimcheck/resource/request_handler.hpp"
#include "claimcheck/token/signing_key.hpp"
#include "claimcheck/token/verifier.hpp"
#include "store_backend.hpp"

namespace claimcheck::resource {

using BackendFactory = std::unique_ptr<store::testing::StoreBackend> (*)();

class RequestHandlerTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;

  [[nodiscard]] std::string token(
      const std::string& scope, std::chrono::seconds lifetime = std::chrono::seconds(300),
      std::chrono::system_clock::time_point issued = std::chrono::system_clock::now()) const;
  /// Stores `content` and returns a valid request for it.
  message::FileRequest request_for(const std::string& content);
  message::FileReply handle(const message::FileRequest& request);

  std::unique_ptr<store::testing::StoreBackend> backend_ = GetParam()();
  std::unique_ptr<store::Store> store_;
  token::SigningKey key_ = token::SigningKey::generate_rs256();
  std::unique_ptr<token::TokenVerifier> verifier_;
  OperationCatalog operations_;
  MetricsRegistry metrics_;
  std::unique_ptr<RequestHandler> handler_;
};

}  // namespace claimcheck::resource
