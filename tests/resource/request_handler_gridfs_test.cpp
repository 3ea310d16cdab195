#include "gridfs_backend.hpp"
#include "request_handler_test.hpp"

namespace claimcheck::resource {
namespace {

std::unique_ptr<store::testing::StoreBackend> make_gridfs_backend() {
  return std::make_unique<store::testing::GridFsBackend>();
}

INSTANTIATE_TEST_SUITE_P(GridFs, RequestHandlerTest, ::testing::Values(&make_gridfs_backend),
                         [](const auto& /*info*/) { return "wire_server"; });

}  // namespace
}  // namespace claimcheck::resource
