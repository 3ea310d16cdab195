#include <spdlog/spdlog.h>

#include <stdexcept>

#include "claimcheck/common/http_error.hpp"
#include "claimcheck/token/verifier.hpp"
#include "http_url.hpp"

namespace claimcheck::token {
namespace {

// An introspection answer is a small JSON object; anything far larger is not one.
constexpr std::size_t kMaxIntrospectionBytes = std::size_t{64} * 1024;

}  // namespace

RevocationCheck http_introspection_check(std::string introspection_url,
                                         const std::string& client_id,
                                         const std::string& client_secret,
                                         std::chrono::milliseconds timeout) {
  auto url = split_http_url(introspection_url);
  if (!url) {
    throw std::invalid_argument("introspection URL '" + introspection_url +
                                "' is not an http(s) URL");
  }
  // RFC 6749 section 2.3.1: Basic carries the id and secret form-encoded.
  const std::string user = httplib::detail::encode_query_param(client_id);
  const std::string password = httplib::detail::encode_query_param(client_secret);
  return [introspection_url = std::move(introspection_url), url = std::move(*url), user, password,
          timeout](std::string_view token, const VerifiedToken& verified) {
    const auto client = make_client(url, timeout);
    client->set_basic_auth(user, password);
    const httplib::Params form{{"token", std::string(token)}, {"token_type_hint", "access_token"}};
    const auto result = client->Post(url.path, form);
    if (!result) {
      spdlog::warn("cannot ask {} about token {}: {}", introspection_url, verified.jti,
                   describe_http_error(result.error()));
      return RevocationState::kUnknown;
    }
    if (result->status != 200 || result->body.size() > kMaxIntrospectionBytes) {
      spdlog::warn("introspection endpoint {} answered HTTP {} about token {}", introspection_url,
                   result->status, verified.jti);
      return RevocationState::kUnknown;
    }
    const auto answer = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
    if (!answer.is_object() || !answer.contains("active") || !answer["active"].is_boolean()) {
      spdlog::warn("introspection endpoint {} gave no \"active\" flag for token {}",
                   introspection_url, verified.jti);
      return RevocationState::kUnknown;
    }
    return answer["active"].get<bool>() ? RevocationState::kActive : RevocationState::kRevoked;
  };
}

}  // namespace claimcheck::token
