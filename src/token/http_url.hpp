#pragma once

/// Splitting an http(s) URL into the parts cpp-httplib's Client wants (private to src/token).

#include <httplib.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace claimcheck::token {

struct HttpUrl {
  std::string origin;  ///< scheme://host[:port], what httplib::Client is constructed with
  std::string path;    ///< the rest, "/" at least; query included
};

/// nullopt unless `url` is http:// or https:// with a non-empty host.
std::optional<HttpUrl> split_http_url(std::string_view url);

/// A client for `url.origin` with every network wait bounded by `timeout`.
std::unique_ptr<httplib::Client> make_client(const HttpUrl& url, std::chrono::milliseconds timeout);

}  // namespace claimcheck::token
