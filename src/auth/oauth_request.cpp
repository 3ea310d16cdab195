#include "oauth_request.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "claimcheck/common/encoding.hpp"

namespace claimcheck::auth {
namespace {

constexpr std::size_t kMaxLoggedChars = 64;
constexpr std::string_view kFormMediaType = "application/x-www-form-urlencoded";

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

}  // namespace

OAuthError invalid_request(std::string description) {
  return {400, "invalid_request", std::move(description)};
}

OAuthError invalid_client(std::string description, bool basic) {
  return {401, "invalid_client", std::move(description), basic};
}

bool is_form_content_type(std::string_view content_type) {
  return equal_ignoring_case(trim(content_type.substr(0, content_type.find(';'))), kFormMediaType);
}

std::optional<OAuthError> check_form(const httplib::Request& request) {
  if (!is_form_content_type(request.get_header_value("Content-Type"))) {
    return invalid_request("the body must be application/x-www-form-urlencoded");
  }
  if (request.target.find('?') != std::string::npos) {
    return invalid_request("parameters belong in the request body, not the URL");
  }
  for (const auto& [name, value] : request.params) {
    if (request.get_param_value_count(name) > 1) {
      return invalid_request("parameter '" + printable(name) + "' is repeated");
    }
  }
  return std::nullopt;
}

std::variant<Credentials, OAuthError> read_credentials(const httplib::Request& request) {
  const std::string authorization = request.get_header_value("Authorization");
  const bool form_secret = request.has_param("client_secret");
  if (!authorization.empty()) {
    const std::string_view scheme = std::string_view(authorization).substr(0, 6);
    if (!equal_ignoring_case(scheme, "Basic ")) {
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

void write_error(httplib::Response& response, const OAuthError& error) {
  if (error.basic_challenge) {
    response.set_header("WWW-Authenticate", "Basic realm=\"claimcheck-auth\"");
  }
  response.status = error.status;
  response.set_content(
      nlohmann::json{{"error", error.error}, {"error_description", error.description}}.dump(),
      "application/json");
}

std::string printable(std::string_view text) {
  std::string result;
  for (const char c : text.substr(0, kMaxLoggedChars)) {
    result.push_back(c >= ' ' && c < 0x7f ? c : '?');
  }
  return text.size() > kMaxLoggedChars ? result + "..." : result;
}

}  // namespace claimcheck::auth
