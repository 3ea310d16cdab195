#pragma once

/// OAuth2 client_credentials client for the services' own access tokens.
///
/// access_token() returns a cached token until shortly before it expires (a tenth of its
/// lifetime, at least 5 s and at most 60 s early) and otherwise fetches a new one from the token
/// endpoint with client_secret_basic authentication. The endpoint URL is resolved on every fetch,
/// so it may come from service discovery. TokenClient is thread-safe: concurrent callers share
/// one fetch. Every network wait of a fetch (connecting, each write and each read) is bounded by
/// the timeout given at construction, so an unreachable or hung endpoint fails, never hangs.

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "claimcheck/token/verifier.hpp"

namespace claimcheck::token {

/// A token could not be obtained. error_code() is the OAuth2 error the server answered
/// (invalid_client, invalid_scope, ...) or one of our own: "unreachable" (network error or
/// timeout), "bad_response" (not a usable token response), "no_endpoint" (the URL function
/// gave no valid URL). The message names the endpoint and the client, never the secret.
class TokenClientError : public std::runtime_error {
 public:
  TokenClientError(std::string error_code, const std::string& message)
      : std::runtime_error(message), error_code_(std::move(error_code)) {}
  [[nodiscard]] const std::string& error_code() const { return error_code_; }

 private:
  std::string error_code_;
};

class TokenClient {
 public:
  /// `scope` may be empty to ask for every scope the client is allowed.
  TokenClient(std::function<std::string()> token_endpoint_url, std::string client_id,
              std::string client_secret, std::string scope, std::chrono::milliseconds timeout);
  ~TokenClient();
  TokenClient(const TokenClient&) = delete;
  TokenClient& operator=(const TokenClient&) = delete;

  /// A valid access token; throws TokenClientError when none can be obtained.
  std::string access_token();

  /// A fresh token bound to `file` (its id and SHA-256 as claims), for one message; never
  /// cached. Throws TokenClientError like access_token().
  std::string access_token_for(const FileBinding& file);

  /// Drops the cached token so the next access_token() fetches a new one (for instance after a
  /// receiver rejected it).
  void invalidate();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::token
