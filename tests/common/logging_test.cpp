#include "claimcheck/common/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "claimcheck/common/config.hpp"

namespace claimcheck {
namespace {

// Found by the bad-input review: a message id holding a newline forged a second log line, and
// a NUL in a registry app name made the log binary to grep.
TEST(Logging, ControlCharactersAreEscapedAndLongMessagesCut) {
  init_logging("logging-test", "info");
  testing::internal::CaptureStderr();
  spdlog::info("request {} failed", "m-1\n2026-01-01 error [resource] FORGED");
  spdlog::info("app {}", std::string("A\0B", 3));
  spdlog::info("{}", std::string(5000, 'x'));
  const std::string output = testing::internal::GetCapturedStderr();
  spdlog::drop("logging-test");

  EXPECT_NE(output.find("m-1\\x0a2026-01-01 error [resource] FORGED"), std::string::npos);
  EXPECT_NE(output.find("app A\\x00B"), std::string::npos);
  EXPECT_NE(output.find("... (2952 more bytes)"), std::string::npos);
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 3);
}

TEST(Logging, UnknownLevelIsAConfigError) {
  EXPECT_THROW(init_logging("logging-test-level", "loud"), ConfigError);
}

}  // namespace
}  // namespace claimcheck
