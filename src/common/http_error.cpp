#include "claimcheck/common/http_error.hpp"

namespace claimcheck {

std::string describe_http_error(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "connection refused or host unreachable";
    case httplib::Error::ConnectionTimeout:
      return "timed out connecting";
    case httplib::Error::Read:
      return "no complete answer (read failed or timed out)";
    case httplib::Error::Write:
      return "could not send the request (write failed or timed out)";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate was not trusted";
    case httplib::Error::Canceled:
      return "request cancelled";
    default:
      return "request failed (" + httplib::to_string(error) + ")";
  }
}

}  // namespace claimcheck
