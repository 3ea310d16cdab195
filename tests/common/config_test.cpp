#include "claimcheck/common/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

namespace claimcheck {
namespace {

/// A YAML file in the temp directory, removed when the test is done.
class YamlFile {
 public:
  explicit YamlFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("claimcheck-config-" + std::to_string(::getpid()) + ".yaml")) {
    std::ofstream(path_) << text;
  }
  ~YamlFile() { std::filesystem::remove(path_); }
  YamlFile(const YamlFile&) = delete;
  YamlFile& operator=(const YamlFile&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(Config, LayersOverridesOverEnvironmentOverFile) {
  const YamlFile file("broker:\n  host: file-host\n  port: 5672\n  vhost: /\n");
  ::setenv("CCTEST_BROKER_PORT", "5673", 1);
  ::setenv("CCTEST_BROKER_VHOST", "env-vhost", 1);
  const Config config = Config::load(file.path(), "CCTEST_", {"broker.vhost=flag-vhost"});
  EXPECT_EQ(config.get_string("broker.host", "x"), "file-host");
  EXPECT_EQ(config.get_int("broker.port", 0), 5673);
  EXPECT_EQ(config.get_string("broker.vhost", "x"), "flag-vhost");
  EXPECT_EQ(config.get_string("broker.user", "guest"), "guest");
  ::unsetenv("CCTEST_BROKER_PORT");
  ::unsetenv("CCTEST_BROKER_VHOST");
}

TEST(Config, WrongTypeNamesKeyAndFile) {
  const YamlFile file("broker:\n  port: many\n");
  const Config config = Config::load(file.path(), "CCTEST_", {});
  try {
    (void)config.get_int("broker.port", 0);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("broker.port"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find(file.path().string()), std::string::npos);
  }
}

// Found by the bad-input review: a nested list gave yaml-cpp's "bad conversion", naming neither
// the key nor the file.
TEST(Config, NestedListNamesKeyAndFile) {
  const YamlFile file("registry:\n  urls: [[http://a/eureka], http://b/eureka]\n");
  const Config config = Config::load(file.path(), "CCTEST_", {});
  try {
    (void)config.get_list("registry.urls", {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("registry.urls"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find(file.path().string()), std::string::npos)
        << error.what();
  }
}

TEST(Config, MissingFileAndBadOverrideAreErrors) {
  EXPECT_THROW(Config::load("/nonexistent/claimcheck.yaml", "CCTEST_", {}), ConfigError);
  EXPECT_THROW(Config::load(std::nullopt, "CCTEST_", {"novalue"}), ConfigError);
}

TEST(Config, ParsesDurationsAndLists) {
  const YamlFile file("lease: 90s\npoll: 250ms\nurls: [a, b]\n");
  const Config config = Config::load(file.path(), "CCTEST_", {"extra=c, d"});
  EXPECT_EQ(config.get_duration("lease", {}), std::chrono::seconds(90));
  EXPECT_EQ(config.get_duration("poll", {}), std::chrono::milliseconds(250));
  EXPECT_EQ(config.get_list("urls", {}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config.get_list("extra", {}), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(parse_duration("7d"), std::chrono::hours(24 * 7));
  EXPECT_FALSE(parse_duration("5 parsecs").has_value());
  // Found by the bad-input review: these were accepted and overflowed into negative waits.
  EXPECT_FALSE(parse_duration("nan").has_value());
  EXPECT_FALSE(parse_duration("inf").has_value());
  EXPECT_FALSE(parse_duration("1e300h").has_value());
}

}  // namespace
}  // namespace claimcheck
