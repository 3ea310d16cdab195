#include "store_contract_test.hpp"

namespace claimcheck::store::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Values(&make_sqlite_backend),
                         [](const auto& /*info*/) { return "embedded"; });

}  // namespace
}  // namespace claimcheck::store::testing
