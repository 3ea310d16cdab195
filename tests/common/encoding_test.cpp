#include "claimcheck/common/encoding.hpp"

#include <gtest/gtest.h>

namespace claimcheck {
namespace {

TEST(Base64Url, RoundTripsBinary) {
  const std::string bytes("\xfb\xff\x00\x01", 4);
  const std::string text = base64url_encode(bytes);
  EXPECT_EQ(text, "-_8AAQ");
  EXPECT_EQ(base64url_decode(text), bytes);
}

// Case T4: padding, '+' and '/' are not base64url and must be refused outright.
TEST(Base64Url, RejectsPaddingAndStandardAlphabet) {
  EXPECT_FALSE(base64url_decode("-_8AAQ==").has_value());
  EXPECT_FALSE(base64url_decode("+/8AAQ").has_value());
  EXPECT_FALSE(base64url_decode("-_8A AQ").has_value());
}

TEST(Base64, DecodesBasicCredentials) {
  EXPECT_EQ(base64_decode("dXNlcjpwYXNz"), "user:pass");
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_FALSE(base64_decode("dXNlcjpwYXNz!").has_value());
}

TEST(RandomHex, HasRequestedLengthAndVaries) {
  const std::string first = random_hex(12);
  EXPECT_EQ(first.size(), 24U);
  EXPECT_NE(first, random_hex(12));
}

}  // namespace
}  // namespace claimcheck
