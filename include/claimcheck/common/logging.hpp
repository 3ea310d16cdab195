#pragma once

/// Process-wide logging set-up over spdlog.
///
/// Every service calls init_logging once at start; afterwards spdlog's level functions
/// (spdlog::info, spdlog::warn, ...) write one line per event to stderr, prefixed with the
/// service name. Never log tokens, secrets or file contents.

#include <string>
#include <string_view>

namespace claimcheck {

/// Sets the default logger's pattern and level ("trace", "debug", "info", "warn", "error").
/// Throws ConfigError for an unknown level.
void init_logging(std::string_view service_name, std::string_view level);

}  // namespace claimcheck
