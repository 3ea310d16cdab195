#include "claimcheck/token/token_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>

#include "claimcheck/common/encoding.hpp"
#include "claimcheck/common/http_error.hpp"
#include "http_url.hpp"

namespace claimcheck::token {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;

// RFC 6749 makes expires_in optional; a server that leaves it out gets asked again soon.
constexpr seconds kAssumedLifetime{60};
constexpr seconds kMinRefreshMargin{5};
constexpr seconds kMaxRefreshMargin{60};

// How long before expiry a token is replaced: a tenth of its lifetime within [5 s, 60 s], and
// never more than half of it.
seconds refresh_margin(seconds lifetime) {
  return std::min(std::clamp(lifetime / 10, kMinRefreshMargin, kMaxRefreshMargin), lifetime / 2);
}

struct TokenResponse {
  std::string access_token;
  seconds lifetime;
};

}  // namespace

struct TokenClient::Impl {
  std::function<std::string()> endpoint;
  std::string client_id;
  std::string client_secret;
  std::string scope;
  std::chrono::milliseconds timeout;

  std::mutex mutex;
  std::string cached_token;             // guarded by mutex
  steady_clock::time_point refresh_at;  // guarded by mutex

  TokenResponse fetch(const std::optional<FileBinding>& file = std::nullopt) const;
  [[nodiscard]] std::string describe(const std::string& url) const {
    return "token endpoint " + url + " (client '" + client_id + "')";
  }
};

TokenResponse TokenClient::Impl::fetch(const std::optional<FileBinding>& file) const {
  std::string url_text;
  try {
    url_text = endpoint();
  } catch (const std::exception& error) {
    throw TokenClientError("no_endpoint", "cannot resolve the token endpoint for client '" +
                                              client_id + "': " + error.what());
  }
  const auto url = split_http_url(url_text);
  if (!url) {
    throw TokenClientError("no_endpoint",
                           "token endpoint '" + url_text + "' is not an http(s) URL");
  }

  // RFC 6749 section 2.3.1: the id and secret are form-encoded before they go into Basic.
  const std::string credentials = httplib::detail::encode_query_param(client_id) + ":" +
                                  httplib::detail::encode_query_param(client_secret);
  const httplib::Headers headers = {{"Authorization", "Basic " + base64_encode(credentials)},
                                    {"Accept", "application/json"}};
  httplib::Params form = {{"grant_type", "client_credentials"}};
  if (!scope.empty()) {
    form.emplace("scope", scope);
  }
  if (file) {
    form.emplace(kFileIdClaim, file->file_id);
    form.emplace(kFileSha256Claim, file->sha256);
  }
  const auto result = make_client(*url, timeout)->Post(url->path, headers, form);
  if (!result) {
    throw TokenClientError("unreachable", describe(url_text) + " is unreachable: " +
                                              describe_http_error(result.error()));
  }

  const auto body = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
  const bool is_object = !body.is_discarded() && body.is_object();
  if (result->status != 200) {
    std::string error = "http_" + std::to_string(result->status);
    std::string message = describe(url_text) + " answered HTTP " + std::to_string(result->status);
    if (is_object && body.contains("error") && body["error"].is_string()) {
      error = body["error"].get<std::string>();
      message += ": " + error;
      if (body.contains("error_description") && body["error_description"].is_string()) {
        message += " (" + body["error_description"].get<std::string>() + ")";
      }
    }
    throw TokenClientError(error, message);
  }

  if (!is_object || !body.contains("access_token") || !body["access_token"].is_string() ||
      body["access_token"].get<std::string>().empty() || !body.contains("token_type") ||
      !body["token_type"].is_string()) {
    throw TokenClientError("bad_response",
                           describe(url_text) + " sent no access_token/token_type in its answer");
  }
  std::string token_type = body["token_type"].get<std::string>();
  std::transform(token_type.begin(), token_type.end(), token_type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (token_type != "bearer") {
    throw TokenClientError("bad_response", describe(url_text) + " issued a token of type '" +
                                               token_type + "' instead of Bearer");
  }
  seconds lifetime = kAssumedLifetime;
  if (const auto expires_in = body.find("expires_in"); expires_in != body.end() &&
                                                       expires_in->is_number_integer() &&
                                                       expires_in->get<int64_t>() > 0) {
    lifetime = seconds(expires_in->get<std::int64_t>());
  }
  return TokenResponse{body["access_token"].get<std::string>(), lifetime};
}

TokenClient::TokenClient(std::function<std::string()> token_endpoint_url, std::string client_id,
                         std::string client_secret, std::string scope,
                         std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = std::move(token_endpoint_url);
  impl_->client_id = std::move(client_id);
  impl_->client_secret = std::move(client_secret);
  impl_->scope = std::move(scope);
  impl_->timeout = timeout;
}

TokenClient::~TokenClient() = default;

std::string TokenClient::access_token() {
  const std::lock_guard lock(impl_->mutex);
  const auto now = steady_clock::now();
  if (!impl_->cached_token.empty() && now < impl_->refresh_at) {
    return impl_->cached_token;
  }
  // Measured from before the request, so the cached expiry errs on the early side.
  auto response = impl_->fetch();
  impl_->cached_token = std::move(response.access_token);
  impl_->refresh_at = now + response.lifetime - refresh_margin(response.lifetime);
  spdlog::debug("obtained an access token for client '{}', valid for {} s", impl_->client_id,
                response.lifetime.count());
  return impl_->cached_token;
}

std::string TokenClient::access_token_for(const FileBinding& file) {
  return impl_->fetch(file).access_token;
}

void TokenClient::invalidate() {
  const std::lock_guard lock(impl_->mutex);
  impl_->cached_token.clear();
}

}  // namespace claimcheck::token
