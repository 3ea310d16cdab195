#include "claimcheck/common/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "claimcheck/common/config.hpp"

namespace claimcheck {
namespace {

// Log lines quote values that come from outside (message ids, instance ids, error texts). A
// newline or NUL among them could forge a log line or make the log unreadable to tools, and a
// huge value would flood it; so every message is written with control characters escaped and
// cut at a bounded length, whatever the call site passes.
constexpr std::size_t kMaxMessageBytes = 2048;

class SafeMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& /*time*/,
              spdlog::memory_buf_t& out) override {
    const std::string_view text(message.payload.data(), message.payload.size());
    const std::size_t shown = std::min(text.size(), kMaxMessageBytes);
    for (std::size_t i = 0; i < shown; ++i) {
      const auto byte = static_cast<unsigned char>(text[i]);
      if (byte < 0x20 || byte == 0x7f) {
        fmt::format_to(std::back_inserter(out), "\\x{:02x}", byte);
      } else {
        out.push_back(static_cast<char>(byte));
      }
    }
    if (shown < text.size()) {
      fmt::format_to(std::back_inserter(out), "... ({} more bytes)", text.size() - shown);
    }
  }

  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SafeMessageFlag>();
  }
};

}  // namespace

void init_logging(std::string_view service_name, std::string_view level) {
  const auto parsed = spdlog::level::from_str(std::string(level));
  // from_str maps anything unknown to "off"; only an explicit "off" may mean that.
  if (parsed == spdlog::level::off && level != "off") {
    throw ConfigError("unknown log level '" + std::string(level) +
                      "' (use trace, debug, info, warn, error or off)");
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<SafeMessageFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %*");
  auto logger = spdlog::stderr_color_mt(std::string(service_name));
  logger->set_formatter(std::move(formatter));
  logger->set_level(parsed);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace claimcheck
