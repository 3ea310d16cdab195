#include <spdlog/spdlog.h>

#include <stdexcept>

#include "claimcheck/common/http_error.hpp"
#include "claimcheck/token/verifier.hpp"
#include "http_url.hpp"

namespace claimcheck::token {
namespace {

// Far more than any real key set (a JWKS with a few RSA keys is a few KB).
constexpr std::size_t kMaxJwksBytes = 1 << 20;
constexpr std::size_t kMaxMetadataBytes = std::size_t{64} * 1024;

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
      spdlog::warn("cannot fetch JWKS from {}: {}", jwks_url, describe_http_error(result.error()));
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

namespace claimcheck::token {

std::optional<std::string> advertised_issuer(const std::string& base,
                                             std::chrono::milliseconds timeout) {
  const std::string metadata_url = base + "/.well-known/oauth-authorization-server";
  const auto url = split_http_url(metadata_url);
  if (!url) {
    spdlog::warn("auth server URL '{}' is not an http(s) URL", base);
    return std::nullopt;
  }
  const auto result = make_client(*url, timeout)->Get(url->path);
  if (!result || result->status != 200 || result->body.size() > kMaxMetadataBytes) {
    spdlog::warn(
        "cannot read authorization server metadata at {}: {}", metadata_url,
        result ? "HTTP " + std::to_string(result->status) : describe_http_error(result.error()));
    return std::nullopt;
  }
  const auto metadata = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
  if (!metadata.is_object() || !metadata.contains("issuer") || !metadata["issuer"].is_string()) {
    spdlog::warn("authorization server metadata at {} names no issuer", metadata_url);
    return std::nullopt;
  }
  return metadata["issuer"].get<std::string>();
}

JwksFetcher issuer_checked_jwks_fetcher(std::function<std::optional<std::string>()> base_url,
                                        std::string issuer, std::chrono::milliseconds timeout) {
  return [base_url = std::move(base_url), issuer = std::move(issuer),
          timeout]() -> std::optional<std::string> {
    auto base = base_url();
    if (!base) {
      return std::nullopt;
    }
    while (base->ends_with('/')) {
      base->pop_back();
    }
    const auto advertised = advertised_issuer(*base, timeout);
    if (!advertised) {
      return std::nullopt;
    }
    if (*advertised != issuer) {
      spdlog::warn(
          "auth server at {} claims issuer '{}', not the configured '{}'; not loading its keys",
          *base, advertised->substr(0, 128), issuer);
      return std::nullopt;
    }
    return http_jwks_fetcher(*base + "/oauth2/jwks", timeout)();
  };
}

}  // namespace claimcheck::token
