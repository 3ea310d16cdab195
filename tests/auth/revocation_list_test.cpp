#include "claimcheck/auth/revocation_list.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "auth_fixture.hpp"

namespace claimcheck::auth {
namespace {

using std::chrono::hours;
using std::chrono::system_clock;
using testing::TempDir;

TEST(RevocationList, SharedFileShowsEachOthersRevocations) {
  const TempDir dir;
  const auto file = dir.path() / "state" / "revoked";
  RevocationList first(file);
  RevocationList second(file);

  first.revoke("jti-1", system_clock::now() + hours(1));
  second.revoke("jti-2", system_clock::now() + hours(1));

  EXPECT_TRUE(second.is_revoked("jti-1"));
  EXPECT_TRUE(first.is_revoked("jti-2"));
  EXPECT_FALSE(first.is_revoked("jti-3"));
  EXPECT_TRUE(RevocationList(file).is_revoked("jti-1")) << "a new process reads the file";
}

TEST(RevocationList, ExpiredEntriesAreDroppedOnOpenWhileOthersKeepReading) {
  const TempDir dir;
  const auto file = dir.path() / "revoked";
  RevocationList running(file);
  running.revoke("old", system_clock::now() - hours(1));
  running.revoke("live", system_clock::now() + hours(1));

  RevocationList restarted(file);
  running.revoke("after", system_clock::now() + hours(1));

  EXPECT_EQ(restarted.size(), 2u);
  EXPECT_FALSE(restarted.is_revoked("old"));
  EXPECT_TRUE(restarted.is_revoked("live"));
  EXPECT_TRUE(restarted.is_revoked("after"));
  EXPECT_TRUE(running.is_revoked("live")) << "the compacted file replaced the one it read";
  EXPECT_TRUE(running.is_revoked("after"));
}

TEST(RevocationList, RefusesJtisThatWouldBreakTheFile) {
  const TempDir dir;
  RevocationList list(dir.path() / "revoked");
  const auto later = system_clock::now() + hours(1);
  EXPECT_THROW(list.revoke("", later), std::invalid_argument);
  EXPECT_THROW(list.revoke("two words", later), std::invalid_argument);
  EXPECT_THROW(list.revoke("line\nbreak", later), std::invalid_argument);
  EXPECT_THROW(list.revoke(std::string(257, 'a'), later), std::invalid_argument);
  EXPECT_EQ(list.size(), 0u);
}

TEST(RevocationList, MalformedLinesAreSkippedNotFatal) {
  const TempDir dir;
  std::filesystem::create_directories(dir.path());
  std::ofstream(dir.path() / "revoked") << "garbage\njti-ok 99999999999\n";
  RevocationList list(dir.path() / "revoked");
  EXPECT_TRUE(list.is_revoked("jti-ok"));
}

TEST(RevocationList, UnwritableLocationIsAnErrorNamingIt) {
  const TempDir dir;
  std::filesystem::create_directories(dir.path());
  std::ofstream(dir.path() / "a-file") << "x";
  try {
    RevocationList list(dir.path() / "a-file" / "revoked");
    FAIL() << "expected RevocationError";
  } catch (const RevocationError& error) {
    EXPECT_NE(std::string(error.what()).find("a-file"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace claimcheck::auth
