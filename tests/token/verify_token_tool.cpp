// claimcheck-verify-token: the token verifier as a command, for tests that drive it against
// other authorization servers (the Spring interop test).
//
//   claimcheck-verify-token --jwks-url URL --issuer ISS --audience AUD [--authority A] < token
//
// Prints the status name and the reason on one line. Exit codes: 0 valid, 1 refused, 2 usage.

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "claimcheck/common/logging.hpp"
#include "claimcheck/token/verifier.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Verify a JWT read on stdin with claimcheck's token verifier"};
  std::string jwks_url;
  claimcheck::token::VerifierSettings settings;
  std::string authority;
  app.add_option("--jwks-url", jwks_url, "JWKS endpoint")->required();
  app.add_option("--issuer", settings.issuer, "expected iss")->required();
  app.add_option("--audience", settings.audience, "expected aud")->required();
  app.add_option("--authority", authority, "required scope or authority");
  CLI11_PARSE(app, argc, argv);
  claimcheck::init_logging("verify-token", "info");  // logs on stderr, the verdict on stdout

  std::string token;
  std::getline(std::cin, token);
  constexpr std::chrono::seconds kTimeout{10};
  claimcheck::token::TokenVerifier verifier(
      settings, claimcheck::token::http_jwks_fetcher(jwks_url, kTimeout));
  const auto result = verifier.verify(token, authority);
  std::cout << claimcheck::token::status_name(result.status) << ": " << result.reason << '\n';
  return result.ok() ? 0 : 1;
}
