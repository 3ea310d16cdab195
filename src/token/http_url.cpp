#include "http_url.hpp"

namespace claimcheck::token {

std::optional<HttpUrl> split_http_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return std::nullopt;
  }
  const auto path_start = url.find('/', scheme_end + 3);
  const std::string_view authority = url.substr(scheme_end + 3, path_start - (scheme_end + 3));
  if (authority.empty() || authority.starts_with(':')) {
    return std::nullopt;
  }
  return HttpUrl{std::string(url.substr(0, path_start)),
                 path_start == std::string_view::npos ? "/" : std::string(url.substr(path_start))};
}

std::unique_ptr<httplib::Client> make_client(const HttpUrl& url,
                                             std::chrono::milliseconds timeout) {
  auto client = std::make_unique<httplib::Client>(url.origin);
  client->set_connection_timeout(timeout);
  client->set_read_timeout(timeout);
  client->set_write_timeout(timeout);
  return client;
}

}  // namespace claimcheck::token
