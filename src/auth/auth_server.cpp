#include "claimcheck/auth/auth_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <semaphore>
#include <sstream>
#include <variant>

#include "claimcheck/auth/secret_hash.hpp"
#include "claimcheck/common/encoding.hpp"

namespace claimcheck::auth {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

// Each Argon2id check takes 64 MiB and a noticeable slice of a core; more than this many at
// once would let a burst of requests exhaust the machine.
constexpr std::ptrdiff_t kConcurrentSecretChecks = 2;
constexpr seconds kSecretCheckQueueTimeout{5};
constexpr std::size_t kJtiBytes = 16;
// Client ids echoed in logs come from outside: cut short and stripped of control characters.
constexpr std::size_t kMaxLoggedIdChars = 64;

/// An RFC 6749 section 5.2 error answer.
struct OAuthError {
  int status;
  std::string error;
  std::string description;
  bool basic_challenge = false;
};

using SecretCheckSlots = std::counting_semaphore<kConcurrentSecretChecks>;

struct SlotRelease {
  SecretCheckSlots& slots;
  ~SlotRelease() { slots.release(); }
};

struct Credentials {
  std::string id;
  std::string secret;
  bool basic = false;
};

OAuthError invalid_request(std::string description) {
  return {400, "invalid_request", std::move(description)};
}

OAuthError invalid_client(std::string description, bool basic) {
  return {401, "invalid_client", std::move(description), basic};
}

std::string printable(std::string_view text) {
  std::string result;
  for (const char c : text.substr(0, kMaxLoggedIdChars)) {
    result.push_back(c >= ' ' && c < 0x7f ? c : '?');
  }
  return text.size() > kMaxLoggedIdChars ? result + "..." : result;
}

std::vector<std::string> split_scope(const std::string& scope) {
  std::vector<std::string> values;
  std::istringstream words(scope);
  for (std::string word; words >> word;) {
    if (std::find(values.begin(), values.end(), word) == values.end()) {
      values.push_back(word);
    }
  }
  return values;
}

std::string join_scope(const std::vector<std::string>& values) {
  std::string joined;
  for (const auto& value : values) {
    joined += (joined.empty() ? "" : " ") + value;
  }
  return joined;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

// The client's credentials from exactly one of Basic and the form (RFC 6749 section 2.3.1).
std::variant<Credentials, OAuthError> read_credentials(const httplib::Request& request) {
  const std::string authorization = request.get_header_value("Authorization");
  const bool form_secret = request.has_param("client_secret");
  if (!authorization.empty()) {
    if (!starts_with_ignoring_case(authorization, "Basic ")) {
      return invalid_client("only Basic client authentication is supported", true);
    }
    if (form_secret) {
      return invalid_request("use either HTTP Basic or client_secret, not both");
    }
    const auto decoded = base64_decode(authorization.substr(6));
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return invalid_client("malformed Basic credentials", true);
    }
    // Basic carries the id and secret form-encoded.
    Credentials credentials{httplib::detail::decode_url(decoded->substr(0, colon), true),
                            httplib::detail::decode_url(decoded->substr(colon + 1), true), true};
    if (request.has_param("client_id") && request.get_param_value("client_id") != credentials.id) {
      return invalid_request("client_id does not match the Basic credentials");
    }
    return credentials;
  }
  if (form_secret && request.has_param("client_id")) {
    return Credentials{request.get_param_value("client_id"),
                       request.get_param_value("client_secret"), false};
  }
  return invalid_client("client authentication is required", false);
}

}  // namespace

class AuthServer::Impl {
 public:
  Impl(ServiceHttp& http, MetricsRegistry& metrics, AuthSettings settings)
      : settings_(std::move(settings)),
        signing_key_(token::load_or_create_key(settings_.keys_dir)),
        jwks_(build_jwks()),
        decoy_hash_(hash_secret(random_hex(16))),
        tokens_issued_(
            metrics.counter("claimcheck_auth_tokens_issued_total", "Access tokens issued")),
        authentication_failures_(
            metrics.counter("claimcheck_auth_client_authentication_failures_total",
                            "Token requests whose client failed authentication")),
        request_errors_(metrics.counter("claimcheck_auth_token_request_errors_total",
                                        "Token requests refused for another reason")) {
    for (const auto& client : settings_.clients) {
      clients_.emplace(client.id, client);
    }
    auto& routes = http.routes();
    routes.Post("/oauth2/token",
                [this](const httplib::Request& request, httplib::Response& response) {
                  handle_token(request, response);
                });
    routes.Get("/oauth2/jwks", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(jwks_, "application/json");
    });
    routes.Get("/.well-known/oauth-authorization-server",
               [this](const httplib::Request& request, httplib::Response& response) {
                 handle_metadata(request, response);
               });
    http.add_health_check({"signingKey", [this](std::string& detail) {
                             detail = "kid " + signing_key_.kid();
                             return true;
                           }});
    spdlog::info("auth server ready: issuer '{}', signing key {}, {} clients, tokens valid {} s",
                 settings_.issuer, signing_key_.kid(), clients_.size(),
                 settings_.token_lifetime.count());
  }

  [[nodiscard]] const token::SigningKey& signing_key() const { return signing_key_; }

 private:
  std::string build_jwks() const {
    nlohmann::json keys = nlohmann::json::array({signing_key_.public_jwk()});
    for (const auto& entry : std::filesystem::directory_iterator(settings_.keys_dir)) {
      const auto name = entry.path().filename().string();
      if (entry.path().extension() != ".pem" || name == token::kSigningKeyFileName ||
          name.starts_with(".")) {
        continue;
      }
      const auto retired = token::SigningKey::load_pem(entry.path());
      if (retired.kid() != signing_key_.kid()) {
        spdlog::info("publishing retired key {} from '{}'", retired.kid(), entry.path().string());
        keys.push_back(retired.public_jwk());
      }
    }
    return nlohmann::json{{"keys", keys}}.dump();
  }

  void handle_metadata(const httplib::Request& request, httplib::Response& response) const {
    // Endpoint URLs as the caller reached us; the issuer is configured and may differ.
    const std::string base = "http://" + request.get_header_value("Host");
    const nlohmann::json metadata = {
        {"issuer", settings_.issuer},
        {"token_endpoint", base + "/oauth2/token"},
        {"jwks_uri", base + "/oauth2/jwks"},
        {"grant_types_supported", {"client_credentials"}},
        {"token_endpoint_auth_methods_supported", {"client_secret_basic", "client_secret_post"}},
        {"response_types_supported", nlohmann::json::array()}};
    response.set_content(metadata.dump(), "application/json");
  }

  void handle_token(const httplib::Request& request, httplib::Response& response) {
    // RFC 6749 section 5.1: token responses, errors included, must not be cached.
    response.set_header("Cache-Control", "no-store");
    response.set_header("Pragma", "no-cache");
    auto outcome = issue(request);
    if (auto* error = std::get_if<OAuthError>(&outcome)) {
      (error->status == 401 ? authentication_failures_ : request_errors_).increment();
      if (error->basic_challenge) {
        response.set_header("WWW-Authenticate", "Basic realm=\"claimcheck-auth\"");
      }
      response.status = error->status;
      response.set_content(
          nlohmann::json{{"error", error->error}, {"error_description", error->description}}.dump(),
          "application/json");
      return;
    }
    tokens_issued_.increment();
    response.set_content(std::get<nlohmann::json>(outcome).dump(), "application/json");
  }

  std::variant<nlohmann::json, OAuthError> issue(const httplib::Request& request) {
    if (!starts_with_ignoring_case(request.get_header_value("Content-Type"),
                                   "application/x-www-form-urlencoded")) {
      return invalid_request("the body must be application/x-www-form-urlencoded");
    }
    // Parameters in the URL would leak secrets into access logs; RFC 6749 wants the body.
    if (request.target.find('?') != std::string::npos) {
      return invalid_request("parameters belong in the request body, not the URL");
    }
    for (const auto& [name, value] : request.params) {
      if (request.get_param_value_count(name) > 1) {
        return invalid_request("parameter '" + printable(name) + "' is repeated");
      }
    }
    if (!request.has_param("grant_type")) {
      return invalid_request("grant_type is missing");
    }
    if (request.get_param_value("grant_type") != "client_credentials") {
      return OAuthError{400, "unsupported_grant_type", "only client_credentials is supported"};
    }

    auto credentials_or_error = read_credentials(request);
    if (auto* error = std::get_if<OAuthError>(&credentials_or_error)) {
      spdlog::warn("token request from {} refused: {}", request.remote_addr, error->description);
      return std::move(*error);
    }
    const auto& credentials = std::get<Credentials>(credentials_or_error);
    auto client_or_error = authenticate(credentials, request.remote_addr);
    if (auto* error = std::get_if<OAuthError>(&client_or_error)) {
      return std::move(*error);
    }
    const RegisteredClient& client = *std::get<const RegisteredClient*>(client_or_error);

    std::vector<std::string> granted = client.scopes;
    if (request.has_param("scope") && !request.get_param_value("scope").empty()) {
      granted = split_scope(request.get_param_value("scope"));
      for (const auto& scope : granted) {
        if (std::find(client.scopes.begin(), client.scopes.end(), scope) == client.scopes.end()) {
          spdlog::warn("client '{}' asked for scope '{}' it may not have", client.id,
                       printable(scope));
          return OAuthError{400, "invalid_scope",
                            "scope '" + printable(scope) + "' is not allowed for this client"};
        }
      }
    }
    return make_token_response(client, join_scope(granted));
  }

  std::variant<const RegisteredClient*, OAuthError> authenticate(const Credentials& credentials,
                                                                 const std::string& peer) {
    if (!secret_checks_.try_acquire_for(kSecretCheckQueueTimeout)) {
      spdlog::warn("token request from {} refused: too many secret checks at once", peer);
      return OAuthError{503, "temporarily_unavailable", "the server is busy; retry shortly"};
    }
    const auto found = clients_.find(credentials.id);
    bool matches = false;
    {
      const SlotRelease release{secret_checks_};
      // An unknown id costs the same Argon2id check as a known one, so response times do not
      // tell which client ids exist.
      matches = verify_secret(credentials.secret,
                              found == clients_.end() ? decoy_hash_ : found->second.secret_hash);
    }
    if (found == clients_.end() || !matches) {
      spdlog::warn("client '{}' from {} failed authentication ({}); answering invalid_client",
                   printable(credentials.id), peer,
                   found == clients_.end() ? "unknown client" : "wrong secret");
      return invalid_client("client authentication failed", credentials.basic);
    }
    return &found->second;
  }

  nlohmann::json make_token_response(const RegisteredClient& client, const std::string& scope) {
    const auto now = std::chrono::duration_cast<seconds>(system_clock::now().time_since_epoch());
    const std::string jti = random_hex(kJtiBytes);
    const nlohmann::json claims = {
        {"iss", settings_.issuer},
        {"sub", client.id},
        {"aud", client.audience},
        {"iat", now.count()},
        {"nbf", now.count()},
        {"exp", (now + settings_.token_lifetime).count()},
        {"jti", jti},
        {"client_id", client.id},
        {"scope", scope},
    };
    spdlog::info("issued token {} to client '{}' for scope '{}'", jti, client.id, scope);
    return {{"access_token", token::sign_jwt(claims, signing_key_)},
            {"token_type", "Bearer"},
            {"expires_in", settings_.token_lifetime.count()},
            {"scope", scope}};
  }

  const AuthSettings settings_;
  const token::SigningKey signing_key_;
  const std::string jwks_;
  const std::string decoy_hash_;
  std::map<std::string, RegisteredClient, std::less<>> clients_;
  SecretCheckSlots secret_checks_{kConcurrentSecretChecks};
  Counter& tokens_issued_;
  Counter& authentication_failures_;
  Counter& request_errors_;
};

AuthServer::AuthServer(ServiceHttp& http, MetricsRegistry& metrics, AuthSettings settings)
    : impl_(std::make_unique<Impl>(http, metrics, std::move(settings))) {}

AuthServer::~AuthServer() = default;

const token::SigningKey& AuthServer::signing_key() const { return impl_->signing_key(); }

}  // namespace claimcheck::auth
