#include <spdlog/spdlog.h>

#include <stdexcept>

#include "claimcheck/token/verifier.hpp"
#include "http_url.hpp"

namespace claimcheck::token {
namespace {

// Far more than any real key set (a JWKS with a few RSA keys is a few KB).
constexpr std::size_t kMaxJwksBytes = 1 << 20;

}  // namespace

JwksFetcher http_jwks_fetcher(std::string jwks_url, std::chrono::milliseconds timeout) {
  auto url = split_http_url(jwks_url);
  if (!url) {
    throw std::invalid_argument("JWKS URL '" + jwks_url + "' is not an http(s) URL");
  }
  return [jwks_url = std::move(jwks_url), url = std::move(*url),
          timeout]() -> std::optional<std::string> {
    const auto client = make_client(url, timeout);
    std::string body;
    bool too_large = false;
    const auto result = client->Get(url.path, {{"Accept", "application/json"}},
                                    [&](const char* data, std::size_t length) {
                                      if (body.size() + length > kMaxJwksBytes) {
                                        too_large = true;
                                        return false;
                                      }
                                      body.append(data, length);
                                      return true;
                                    });
    if (too_large) {
      spdlog::warn("JWKS at {} is larger than {} bytes; ignoring it", jwks_url, kMaxJwksBytes);
      return std::nullopt;
    }
    if (!result) {
      spdlog::warn("cannot fetch JWKS from {}: {}", jwks_url, httplib::to_string(result.error()));
      return std::nullopt;
    }
    if (result->status != 200) {
      spdlog::warn("JWKS endpoint {} answered HTTP {}", jwks_url, result->status);
      return std::nullopt;
    }
    return body;
  };
}

}  // namespace claimcheck::token
