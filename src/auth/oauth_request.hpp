#pragma once

/// What every OAuth2 endpoint of the auth server does the same way (private to src/auth):
/// form checks, client credentials, RFC 6749 section 5.2 error answers.

#include <httplib.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace claimcheck::auth {

/// An RFC 6749 section 5.2 error answer.
struct OAuthError {
  int status;
  std::string error;
  std::string description;
  /// Adds a Basic WWW-Authenticate challenge (401 after a failed Basic authentication).
  bool basic_challenge = false;
};

OAuthError invalid_request(std::string description);
OAuthError invalid_client(std::string description, bool basic);

struct Credentials {
  std::string id;
  std::string secret;
  bool basic = false;
};

/// True when `content_type` is application/x-www-form-urlencoded, parameters (charset) allowed;
/// the media type is compared whole and case-insensitively, never by prefix.
bool is_form_content_type(std::string_view content_type);

/// The body must be a form, with no parameter in the URL (it would leak into access logs) and
/// none repeated (RFC 6749 section 3.2).
std::optional<OAuthError> check_form(const httplib::Request& request);

/// The client's credentials from exactly one of Basic and the form (RFC 6749 section 2.3.1).
std::variant<Credentials, OAuthError> read_credentials(const httplib::Request& request);

/// Writes `error` as the JSON answer, with the challenge header when it asks for one.
void write_error(httplib::Response& response, const OAuthError& error);

/// Outside text (client ids, scopes) made safe for logs and messages: cut short, control
/// characters replaced.
std::string printable(std::string_view text);

}  // namespace claimcheck::auth
