#include "claimcheck/auth/auth_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <semaphore>
#include <sstream>
#include <variant>

#include "claimcheck/auth/client_file.hpp"
#include "claimcheck/auth/key_ring.hpp"
#include "claimcheck/auth/revocation_list.hpp"
#include "claimcheck/auth/secret_hash.hpp"
#include "claimcheck/common/encoding.hpp"
#include "claimcheck/token/verifier.hpp"
#include "oauth_request.hpp"

namespace claimcheck::auth {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

// Each Argon2id check takes 64 MiB and a noticeable slice of a core; more than this many at
// once would let a burst of requests exhaust the machine.
constexpr std::ptrdiff_t kConcurrentSecretChecks = 2;
constexpr seconds kSecretCheckQueueTimeout{5};
constexpr std::size_t kJtiBytes = 16;
constexpr std::size_t kMaxFileIdChars = 128;
constexpr std::size_t kSha256HexChars = 64;
// How long a secret that matched is remembered: a client asking again within it (a token every
// few minutes, or many services sharing one client) costs no Argon2id check.
constexpr seconds kVerifiedSecretLifetime{300};

using SecretCheckSlots = std::counting_semaphore<kConcurrentSecretChecks>;

struct SlotRelease {
  SecretCheckSlots& slots;
  ~SlotRelease() { slots.release(); }
};

/// What an endpoint answers: a JSON body (null for an empty 200) or an OAuth2 error.
using Outcome = std::variant<nlohmann::json, OAuthError>;

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

bool is_http_url(std::string_view text) {
  return text.starts_with("http://") || text.starts_with("https://");
}

std::string endpoint_base(const AuthSettings& settings) {
  std::string base = !settings.public_url.empty()   ? settings.public_url
                     : is_http_url(settings.issuer) ? settings.issuer
                                                    : std::string();
  if (!is_http_url(base)) {
    throw ConfigError("configuration key 'public-url' must be an http(s) URL when the issuer ('" +
                      settings.issuer + "') is not one");
  }
  while (base.ends_with('/')) {
    base.pop_back();
  }
  return base;
}

seconds longest_token_lifetime(const AuthSettings& settings) {
  seconds longest = settings.token_lifetime;
  for (const auto& client : settings.clients) {
    longest = std::max(longest, client.token_lifetime);
  }
  return longest;
}

std::int64_t epoch_seconds(system_clock::time_point time) {
  return std::chrono::duration_cast<seconds>(time.time_since_epoch()).count();
}

}  // namespace

class AuthServer::Impl {
 public:
  Impl(ServiceHttp& http, MetricsRegistry& metrics, AuthSettings settings)
      : settings_(std::move(settings)),
        endpoint_base_(endpoint_base(settings_)),
        keys_(settings_.keys_dir, settings_.key_algorithm, longest_token_lifetime(settings_)),
        revocations_(settings_.revocation_file),
        decoy_hash_(hash_secret(random_hex(16))),
        tokens_issued_(
            metrics.counter("claimcheck_auth_tokens_issued_total", "Access tokens issued")),
        authentication_failures_(
            metrics.counter("claimcheck_auth_client_authentication_failures_total",
                            "Requests whose client failed authentication")),
        request_errors_(metrics.counter("claimcheck_auth_token_request_errors_total",
                                        "Requests refused for another reason than the client")),
        introspections_(metrics.counter("claimcheck_auth_introspections_total",
                                        "Introspection requests answered")),
        active_introspections_(metrics.counter("claimcheck_auth_introspections_active_total",
                                               "Introspections that found the token active")),
        tokens_revoked_(
            metrics.counter("claimcheck_auth_tokens_revoked_total", "Access tokens revoked")) {
    clients_ = load_clients();
    // A token answer is written in two parts; with Nagle's algorithm the second waits for the
    // client's delayed ACK (tens of milliseconds) on every kept-alive request.
    http.routes().set_tcp_nodelay(true);
    add_routes(http);
    http.add_health_check({"signingKey", [this](std::string& detail) {
                             detail = "kid " + keys_.active().kid();
                             return true;
                           }});
    spdlog::info("auth server ready: issuer '{}', signing key {}, {} clients, tokens valid {} s",
                 settings_.issuer, keys_.active().kid(), clients_->clients.size(),
                 settings_.token_lifetime.count());
  }

  [[nodiscard]] token::SigningKey signing_key() { return keys_.active(); }

 private:
  void add_routes(ServiceHttp& http) {
    auto& routes = http.routes();
    const auto post = [&](const char* path, Outcome (Impl::*handler)(const httplib::Request&)) {
      routes.Post(path,
                  [this, handler](const httplib::Request& request, httplib::Response& response) {
                    // RFC 6749 section 5.1 and RFC 7662 section 4: answers, errors included, hold
                    // token material and must not be cached.
                    response.set_header("Cache-Control", "no-store");
                    response.set_header("Pragma", "no-cache");
                    respond((this->*handler)(request), response);
                  });
    };
    post("/oauth2/token", &Impl::issue);
    post("/oauth2/introspect", &Impl::introspect);
    post("/oauth2/revoke", &Impl::revoke);
    routes.Get("/oauth2/jwks", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(keys_.jwks(), "application/json");
    });
    for (const char* path :
         {"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}) {
      routes.Get(path, [this](const httplib::Request&, httplib::Response& response) {
        response.set_content(metadata_document().dump(), "application/json");
      });
    }
  }

  void respond(Outcome outcome, httplib::Response& response) {
    if (auto* error = std::get_if<OAuthError>(&outcome)) {
      (error->status == 401 ? authentication_failures_ : request_errors_).increment();
      write_error(response, *error);
      return;
    }
    const auto& body = std::get<nlohmann::json>(outcome);
    if (!body.is_null()) {
      response.set_content(body.dump(), "application/json");
    }
  }

  // The clients of the configuration and of the client file, with the verifier for their
  // tokens.
  struct ClientTable {
    std::map<std::string, RegisteredClient, std::less<>> clients;
    std::shared_ptr<token::TokenVerifier> verifier;
    std::optional<std::filesystem::file_time_type> file_time;
  };

  std::shared_ptr<const ClientTable> load_clients() {
    auto table = std::make_shared<ClientTable>();
    std::error_code error;
    const auto file_time = std::filesystem::last_write_time(settings_.clients_file, error);
    if (!error) {
      table->file_time = file_time;
    }
    for (const auto& client : settings_.clients) {
      table->clients.emplace(client.id, client);
    }
    for (auto& client : load_client_file(settings_.clients_file)) {
      if (table->clients.contains(client.id)) {
        spdlog::warn("client '{}' in '{}' is also in the configuration; the configuration wins",
                     client.id, settings_.clients_file.string());
        continue;
      }
      table->clients.emplace(client.id, std::move(client));
    }
    table->verifier = make_own_token_verifier(table->clients);
    return table;
  }

  // The client table, re-read when the client file changed (looked at most once a second). A
  // file that cannot be read keeps the clients already known.
  std::shared_ptr<const ClientTable> clients() {
    const std::lock_guard lock(clients_mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now < next_clients_check_) {
      return clients_;
    }
    next_clients_check_ = now + seconds(1);
    std::error_code error;
    const auto file_time = std::filesystem::last_write_time(settings_.clients_file, error);
    const auto current = error ? std::nullopt : std::optional(file_time);
    if (current == clients_->file_time) {
      return clients_;
    }
    try {
      clients_ = load_clients();
      spdlog::info("client file '{}' changed: {} clients", settings_.clients_file.string(),
                   clients_->clients.size());
    } catch (const std::exception& problem) {
      spdlog::warn("cannot reload client file '{}': {}; keeping {} clients",
                   settings_.clients_file.string(), problem.what(), clients_->clients.size());
    }
    return clients_;
  }

  // The server checks its own tokens (introspection, revocation) with the verifier every
  // resource server uses, fed the server's own key set and revocation list.
  std::shared_ptr<token::TokenVerifier> make_own_token_verifier(
      const std::map<std::string, RegisteredClient, std::less<>>& clients) {
    token::VerifierSettings verifier_settings{.issuer = settings_.issuer, .audience = "claimcheck"};
    for (const auto& [id, client] : clients) {
      verifier_settings.other_audiences.push_back(client.audience);
    }
    // The server's own clock decides; a resource server applies its leeway on top.
    verifier_settings.leeway = seconds(0);
    verifier_settings.jwks_min_refresh_interval = seconds(0);
    verifier_settings.revocation_check = [this](std::string_view,
                                                const token::VerifiedToken& verified) {
      return revocations_.is_revoked(verified.jti) ? token::RevocationState::kRevoked
                                                   : token::RevocationState::kActive;
    };
    return std::make_shared<token::TokenVerifier>(std::move(verifier_settings),
                                                  [this] { return std::optional(keys_.jwks()); });
  }

  nlohmann::json metadata_document() {
    const nlohmann::json auth_methods = {"client_secret_basic", "client_secret_post"};
    std::vector<std::string> scopes;
    for (const auto& [id, client] : clients()->clients) {
      for (const auto& scope : client.scopes) {
        if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
          scopes.push_back(scope);
        }
      }
    }
    return {
        {"issuer", settings_.issuer},
        {"token_endpoint", endpoint_base_ + "/oauth2/token"},
        {"jwks_uri", endpoint_base_ + "/oauth2/jwks"},
        {"introspection_endpoint", endpoint_base_ + "/oauth2/introspect"},
        {"revocation_endpoint", endpoint_base_ + "/oauth2/revoke"},
        {"grant_types_supported", {"client_credentials"}},
        {"token_endpoint_auth_methods_supported", auth_methods},
        {"introspection_endpoint_auth_methods_supported", auth_methods},
        {"revocation_endpoint_auth_methods_supported", auth_methods},
        {"scopes_supported", scopes},
        {"response_types_supported", nlohmann::json::array()},
        // OpenID discovery fields, so OpenID-style clients can read the document; this server
        // issues access tokens only, no ID tokens.
        {"subject_types_supported", {"public"}},
        {"id_token_signing_alg_values_supported", {keys_.active().algorithm()}},
    };
  }

  // Form checks and client authentication shared by every POST endpoint.
  std::variant<RegisteredClient, OAuthError> authenticated_client(const httplib::Request& request,
                                                                  std::string_view endpoint) {
    auto credentials_or_error = read_credentials(request);
    if (auto* error = std::get_if<OAuthError>(&credentials_or_error)) {
      spdlog::warn("audit: {} request from {} refused: {}", endpoint, request.remote_addr,
                   error->description);
      return std::move(*error);
    }
    return authenticate(std::get<Credentials>(credentials_or_error), request.remote_addr);
  }

  Outcome issue(const httplib::Request& request) {
    if (auto error = check_form(request)) {
      return std::move(*error);
    }
    if (!request.has_param("grant_type")) {
      return invalid_request("grant_type is missing");
    }
    if (request.get_param_value("grant_type") != "client_credentials") {
      return OAuthError{400, "unsupported_grant_type", "only client_credentials is supported"};
    }
    auto client_or_error = authenticated_client(request, "token");
    if (auto* error = std::get_if<OAuthError>(&client_or_error)) {
      return std::move(*error);
    }
    const auto& client = std::get<RegisteredClient>(client_or_error);

    std::vector<std::string> granted = client.scopes;
    if (request.has_param("scope") && !request.get_param_value("scope").empty()) {
      granted = split_scope(request.get_param_value("scope"));
      for (const auto& scope : granted) {
        if (std::find(client.scopes.begin(), client.scopes.end(), scope) == client.scopes.end()) {
          spdlog::warn("audit: token refused client={} reason=scope '{}' not allowed", client.id,
                       printable(scope));
          return OAuthError{400, "invalid_scope",
                            "scope '" + printable(scope) + "' is not allowed for this client"};
        }
      }
    }
    auto binding = file_binding(request);
    if (auto* error = std::get_if<OAuthError>(&binding)) {
      return std::move(*error);
    }
    return make_token_response(client, join_scope(granted),
                               std::get<std::optional<token::FileBinding>>(binding));
  }

  // The optional file binding of a token request: file_id and file_sha256 together, or neither.
  static std::variant<std::optional<token::FileBinding>, OAuthError> file_binding(
      const httplib::Request& request) {
    const bool has_id = request.has_param(std::string(token::kFileIdClaim));
    const bool has_sha256 = request.has_param(std::string(token::kFileSha256Claim));
    if (!has_id && !has_sha256) {
      return std::nullopt;
    }
    token::FileBinding file{request.get_param_value(std::string(token::kFileIdClaim)),
                            request.get_param_value(std::string(token::kFileSha256Claim))};
    const bool id_valid = !file.file_id.empty() && file.file_id.size() <= kMaxFileIdChars &&
                          std::all_of(file.file_id.begin(), file.file_id.end(),
                                      [](char c) { return c > ' ' && c < 0x7f; });
    const bool sha256_valid = file.sha256.size() == kSha256HexChars &&
                              std::all_of(file.sha256.begin(), file.sha256.end(), [](char c) {
                                return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                              });
    if (!id_valid || !sha256_valid) {
      return invalid_request(
          "a file binding needs file_id (1-128 printable characters) and file_sha256 (64 "
          "lower-case hex digits)");
    }
    return file;
  }

  Outcome introspect(const httplib::Request& request) {
    if (auto error = check_form(request)) {
      return std::move(*error);
    }
    auto client_or_error = authenticated_client(request, "introspection");
    if (auto* error = std::get_if<OAuthError>(&client_or_error)) {
      return std::move(*error);
    }
    const auto& client = std::get<RegisteredClient>(client_or_error);
    if (!request.has_param("token")) {
      return invalid_request("token is missing");
    }

    introspections_.increment();
    const token::VerifyResult result =
        clients()->verifier->verify(request.get_param_value("token"), "");
    if (!result.ok()) {
      spdlog::debug("introspection by client '{}': inactive ({})", client.id,
                    token::status_name(result.status));
      return nlohmann::json{{"active", false}};
    }
    active_introspections_.increment();
    const auto& claims = result.token->claims;
    nlohmann::json answer = {{"active", true}, {"token_type", "Bearer"}};
    for (const char* name :
         {"scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti"}) {
      if (claims.contains(name)) {
        answer[name] = claims[name];
      }
    }
    spdlog::debug("introspection by client '{}': token {} active", client.id, result.token->jti);
    return answer;
  }

  Outcome revoke(const httplib::Request& request) {
    if (auto error = check_form(request)) {
      return std::move(*error);
    }
    auto client_or_error = authenticated_client(request, "revocation");
    if (auto* error = std::get_if<OAuthError>(&client_or_error)) {
      return std::move(*error);
    }
    const auto& client = std::get<RegisteredClient>(client_or_error);
    if (!request.has_param("token")) {
      return invalid_request("token is missing");
    }

    const token::VerifyResult result =
        clients()->verifier->verify(request.get_param_value("token"), "");
    // RFC 7009 section 2.2: an invalid, expired or already revoked token is answered 200, as
    // there is nothing left to revoke.
    if (!result.ok()) {
      spdlog::info("audit: revocation by client={} of an inactive token ({}); nothing to do",
                   client.id, token::status_name(result.status));
      return nlohmann::json();
    }
    const auto owner = result.token->claims.value("client_id", result.token->subject);
    if (owner != client.id) {
      spdlog::warn("audit: revocation refused client={} jti={} reason=issued to '{}'", client.id,
                   result.token->jti, printable(owner));
      return OAuthError{400, "unauthorized_client", "the token was not issued to this client"};
    }
    try {
      revocations_.revoke(result.token->jti, result.token->expires_at);
    } catch (const RevocationError& error) {
      spdlog::error("audit: revocation of jti={} for client={} failed: {}; answering 503",
                    result.token->jti, client.id, error.what());
      return OAuthError{503, "temporarily_unavailable", "the revocation could not be recorded"};
    }
    tokens_revoked_.increment();
    spdlog::info("audit: token revoked client={} jti={} expires={}", client.id, result.token->jti,
                 epoch_seconds(result.token->expires_at));
    return nlohmann::json();
  }

  std::variant<RegisteredClient, OAuthError> authenticate(const Credentials& credentials,
                                                          const std::string& peer) {
    const auto table = clients();
    const auto found = table->clients.find(credentials.id);
    // Only the right secret is fast: the cache holds secrets that matched, so a guess never hits
    // and costs the full Argon2id check below.
    if (found != table->clients.end() &&
        verified_secrets_.contains(credentials.id, credentials.secret, found->second.secret_hash)) {
      return found->second;
    }
    if (!secret_checks_.try_acquire_for(kSecretCheckQueueTimeout)) {
      spdlog::warn("audit: request from {} refused: too many secret checks at once", peer);
      return OAuthError{503, "temporarily_unavailable", "the server is busy; retry shortly"};
    }
    bool matches = false;
    {
      const SlotRelease release{secret_checks_};
      // An unknown id costs the same Argon2id check as a known one, so response times do not
      // tell which client ids exist.
      matches =
          verify_secret(credentials.secret,
                        found == table->clients.end() ? decoy_hash_ : found->second.secret_hash);
    }
    if (found == table->clients.end() || !matches) {
      spdlog::warn("audit: client authentication failed client={} peer={} reason={}",
                   printable(credentials.id), peer,
                   found == table->clients.end() ? "unknown client" : "wrong secret");
      return invalid_client("client authentication failed", credentials.basic);
    }
    verified_secrets_.remember(credentials.id, credentials.secret, found->second.secret_hash);
    return found->second;
  }

  nlohmann::json make_token_response(const RegisteredClient& client, const std::string& scope,
                                     const std::optional<token::FileBinding>& file) {
    const auto lifetime =
        client.token_lifetime > seconds(0) ? client.token_lifetime : settings_.token_lifetime;
    const auto now = std::chrono::duration_cast<seconds>(system_clock::now().time_since_epoch());
    const std::string jti = random_hex(kJtiBytes);
    nlohmann::json claims = {
        {"iss", settings_.issuer},
        {"sub", client.id},
        {"aud", client.audience},
        {"iat", now.count()},
        {"nbf", now.count()},
        {"exp", (now + lifetime).count()},
        {"jti", jti},
        {"client_id", client.id},
        {"scope", scope},
    };
    if (file) {
      claims[token::kFileIdClaim] = file->file_id;
      claims[token::kFileSha256Claim] = file->sha256;
    }
    const token::SigningKey key = keys_.active();
    std::string token = token::sign_jwt(claims, key);
    tokens_issued_.increment();
    spdlog::info("audit: token issued client={} jti={} scope='{}' aud={} kid={} expires_in={}{}",
                 client.id, jti, scope, client.audience, key.kid(), lifetime.count(),
                 file ? " file=" + printable(file->file_id) : std::string());
    return {{"access_token", std::move(token)},
            {"token_type", "Bearer"},
            {"expires_in", lifetime.count()},
            {"scope", scope}};
  }

  const AuthSettings settings_;
  const std::string endpoint_base_;
  KeyRing keys_;
  RevocationList revocations_;
  const std::string decoy_hash_;
  std::mutex clients_mutex_;
  std::shared_ptr<const ClientTable> clients_;                // guarded by clients_mutex_
  std::chrono::steady_clock::time_point next_clients_check_;  // guarded by clients_mutex_
  SecretCheckSlots secret_checks_{kConcurrentSecretChecks};
  VerifiedSecretCache verified_secrets_{kVerifiedSecretLifetime};
  Counter& tokens_issued_;
  Counter& authentication_failures_;
  Counter& request_errors_;
  Counter& introspections_;
  Counter& active_introspections_;
  Counter& tokens_revoked_;
};

AuthServer::AuthServer(ServiceHttp& http, MetricsRegistry& metrics, AuthSettings settings)
    : impl_(std::make_unique<Impl>(http, metrics, std::move(settings))) {}

AuthServer::~AuthServer() = default;

token::SigningKey AuthServer::signing_key() const { return impl_->signing_key(); }

}  // namespace claimcheck::auth
