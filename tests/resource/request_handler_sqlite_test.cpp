#include "request_handler_test.hpp"

namespace claimcheck::resource {
namespace {

INSTANTIATE_TEST_SUITE_P(Sqlite, RequestHandlerTest,
                         ::testing::Values(&store::testing::make_sqlite_backend),
                         [](const auto& /*info*/) { return "embedded"; });

}  // namespace
}  // namespace claimcheck::resource
