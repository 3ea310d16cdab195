// Throughput of the auth server's token endpoint and of the token verifier.
//
//   cmake --build build --target auth_bench && build/bench/auth_bench
//
// token_endpoint runs a real AuthServer on 127.0.0.1 and asks it for tokens over HTTP with
// client_secret_basic, as a service does: the first request of a client costs an Argon2id check
// of its secret (64 MiB, two passes), later ones hit the server's cache of verified secrets.
// token_endpoint_wrong_secret measures the refusal path, which always takes the Argon2id check.
// The others measure signing and verification alone, in process.

#include <benchmark/benchmark.h>
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "claimcheck/auth/auth_server.hpp"
#include "claimcheck/auth/secret_hash.hpp"
#include "claimcheck/common/encoding.hpp"
#include "claimcheck/common/logging.hpp"
#include "claimcheck/token/signing_key.hpp"
#include "claimcheck/token/verifier.hpp"

namespace {

using namespace claimcheck;
using std::chrono::seconds;

constexpr const char* kIssuer = "http://bench.auth";
constexpr const char* kSecret = "bench-secret";

class BenchAuthServer {
 public:
  BenchAuthServer()
      : dir_(std::filesystem::temp_directory_path() / ("claimcheck-bench-" + random_hex(8))),
        server_(http_, metrics_, settings(dir_)),
        port_(http_.bind("127.0.0.1", 0)) {
    http_.start();
  }
  ~BenchAuthServer() {
    http_.stop();
    std::filesystem::remove_all(dir_);
  }
  BenchAuthServer(const BenchAuthServer&) = delete;
  BenchAuthServer& operator=(const BenchAuthServer&) = delete;

  [[nodiscard]] int port() const { return port_; }

 private:
  static auth::AuthSettings settings(const std::filesystem::path& dir) {
    auth::AuthSettings settings;
    settings.issuer = kIssuer;
    settings.keys_dir = dir / "keys";
    settings.revocation_file = dir / "revoked";
    settings.clients_file = dir / "clients.yaml";
    settings.clients = {
        {.id = "bench", .secret_hash = auth::hash_secret(kSecret), .scopes = {"files.send"}}};
    return settings;
  }

  std::filesystem::path dir_;
  MetricsRegistry metrics_;
  ServiceHttp http_{metrics_};
  auth::AuthServer server_;
  int port_;
};

BenchAuthServer& shared_server() {
  static BenchAuthServer server;
  return server;
}

void token_endpoint(benchmark::State& state) {
  httplib::Client client("127.0.0.1", shared_server().port());
  client.set_basic_auth("bench", kSecret);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_read_timeout(seconds(30));
  const httplib::Params form{{"grant_type", "client_credentials"}};
  while (state.KeepRunning()) {
    const auto result = client.Post("/oauth2/token", form);
    if (!result || result->status != 200) {
      state.SkipWithError("token request failed");
      break;
    }
    benchmark::DoNotOptimize(result->body);
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(token_endpoint)->Threads(1)->Threads(2)->Threads(4)->UseRealTime()->MinTime(2.0);

void token_endpoint_wrong_secret(benchmark::State& state) {
  httplib::Client client("127.0.0.1", shared_server().port());
  client.set_basic_auth("bench", "not-the-secret");
  client.set_keep_alive(true);
  client.set_read_timeout(seconds(30));
  const httplib::Params form{{"grant_type", "client_credentials"}};
  while (state.KeepRunning()) {
    const auto result = client.Post("/oauth2/token", form);
    if (!result || result->status != 401) {
      state.SkipWithError("a wrong secret was not refused");
      break;
    }
  }
  state.counters["refusals/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(token_endpoint_wrong_secret)->Threads(2)->UseRealTime()->MinTime(2.0);

token::SigningKey key_for(bool es256) {
  static const token::SigningKey rs256 = token::SigningKey::generate_rs256();
  static const token::SigningKey ec = token::SigningKey::generate_es256();
  return es256 ? ec : rs256;
}

nlohmann::json bench_claims() {
  const auto now =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return {{"iss", kIssuer}, {"sub", "bench"},    {"aud", "claimcheck"}, {"iat", now},
          {"nbf", now},     {"exp", now + 3600}, {"jti", "bench-1"},    {"scope", "files.send"}};
}

void sign_token(benchmark::State& state) {
  const token::SigningKey key = key_for(state.range(0) == 1);
  const nlohmann::json claims = bench_claims();
  while (state.KeepRunning()) {
    benchmark::DoNotOptimize(token::sign_jwt(claims, key));
  }
  state.SetLabel(key.algorithm());
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(sign_token)->Arg(0)->Arg(1)->UseRealTime();

void verify_token(benchmark::State& state) {
  const token::SigningKey key = key_for(state.range(0) == 1);
  const std::string jwks = nlohmann::json{{"keys", {key.public_jwk()}}}.dump();
  token::TokenVerifier verifier({.issuer = kIssuer, .audience = "claimcheck"},
                                [jwks] { return std::optional(jwks); });
  const std::string token = token::sign_jwt(bench_claims(), key);
  while (state.KeepRunning()) {
    const auto result = verifier.verify(token, "files.send");
    if (!result.ok()) {
      state.SkipWithError(result.reason.c_str());
      break;
    }
  }
  state.SetLabel(key.algorithm());
  state.counters["verifications/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(verify_token)->Arg(0)->Arg(1)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // The audit lines of thousands of tokens (and refusals) would drown the figures.
  claimcheck::init_logging("auth-bench", "error");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
