#pragma once

/// What went wrong with an HTTP request cpp-httplib could not complete, in words for an error
/// message ("connection refused or host unreachable" rather than httplib's "Connection").

#include <httplib.h>

#include <string>

namespace claimcheck {

std::string describe_http_error(httplib::Error error);

}  // namespace claimcheck
