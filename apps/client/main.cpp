// claimcheck-client: sends files by claim check and prints what came back.
//
//   claimcheck-client send FILE...   store each file, publish its claim, wait for the replies
//   claimcheck-client listen         print replies (also to earlier runs) until stopped
//
// Exit codes: 0 every file came back verified, 1 some did not, 2 could not start.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "claimcheck/broker/connection.hpp"
#include "claimcheck/client/file_client.hpp"
#include "claimcheck/common/bytes.hpp"
#include "claimcheck/common/service_http.hpp"
#include "claimcheck/common/service_options.hpp"
#include "claimcheck/common/shutdown.hpp"
#include "claimcheck/runtime/service.hpp"

namespace {

using namespace claimcheck;

constexpr int kAllVerified = 0;
constexpr int kSomeFailed = 1;
constexpr int kCouldNotStart = 2;

struct SendOptions {
  std::vector<std::filesystem::path> files;
  std::string operation = "inspect";
  std::string timeout = "300s";
};

std::string human_size(std::uint64_t bytes) {
  if (bytes < 1024) {
    return fmt::format("{} B", bytes);
  }
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

void print_outcome(const client::Outcome& outcome) {
  if (outcome.ok) {
    fmt::print("ok    {}  {}  {}  sha256 {}  {:.2f} s\n", outcome.file_name,
               human_size(outcome.length),
               outcome.content_type.empty() ? "-" : outcome.content_type,
               outcome.sha256.substr(0, 16), static_cast<double>(outcome.elapsed.count()) / 1000);
  } else {
    fmt::print("FAIL  {}  {}\n", outcome.file_name, outcome.detail);
  }
  std::fflush(stdout);
}

/// What it took, on standard error beside the logs: the figures a test or an operator checks.
void print_stats(const client::ClientStats& stats) {
  fmt::print(stderr,
             "claimcheck-client: {} requests confirmed ({} publish retries, {} reconnects, {} "
             "store retries, {} resent), {} replies, {} duplicate replies dropped\n",
             stats.requests_confirmed, stats.publish_retries, stats.reconnects, stats.store_retries,
             stats.resent, stats.replies, stats.duplicate_replies);
}

/// Everything a running client needs, connected in an order that names the first broken
/// dependency: configuration, store, registry, auth, broker.
struct Session {
  MetricsRegistry metrics;
  ServiceHttp http{metrics};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<registry::RegistryClient> registry;
  std::unique_ptr<token::TokenVerifier> verifier;
  std::unique_ptr<token::TokenClient> tokens;
  std::unique_ptr<client::FileClient> client;

  explicit Session(const Config& config) {
    const int port = http.bind(config.get_string("server.host", "127.0.0.1"),
                               static_cast<int>(config.get_int("server.port", 0)));
    store = store::open_store(config);
    registry = runtime::make_registry_client(config);
    http.start();
    runtime::register_service(*registry, config, runtime::kClientApp, port);
    verifier = runtime::make_token_verifier(config, *registry);
    tokens = runtime::make_token_client(config, *registry);
    (void)tokens->access_token();
    client = std::make_unique<client::FileClient>(
        client::ClientSettings::from_config(config),
        [broker = broker::BrokerSettings::from_config(config)] {
          return broker::Connection::open(broker);
        },
        *store, *tokens, *verifier);
    client->open();
  }
};

int send_files(const Config& config, const SendOptions& options) {
  const auto timeout = parse_duration(options.timeout);
  if (!timeout || *timeout <= std::chrono::milliseconds::zero()) {
    throw ConfigError("--timeout '" + options.timeout + "' is not a duration such as 90s or 5m");
  }
  // Every input is checked, and opened, before anything is sent, so a typo or a missing
  // permission does not leave half a batch sent.
  for (const auto& path : options.files) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      throw std::runtime_error(
          "cannot send '" + path.string() +
          "': " + (std::filesystem::exists(path, error) ? "not a regular file" : "no such file"));
    }
    const FileSource readable(path);
  }

  Session session(config);
  const auto started = std::chrono::steady_clock::now();
  std::size_t verified = 0;
  std::size_t failed = 0;
  for (const auto& path : options.files) {
    try {
      session.client->send(path, options.operation);
    } catch (const std::exception& error) {
      ++failed;
      fmt::print("FAIL  {}  {}\n", path.filename().string(), error.what());
    }
  }
  session.client->await_replies(*timeout, [&](const client::Outcome& outcome) {
    print_outcome(outcome);
    ++(outcome.ok ? verified : failed);
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("{} of {} files verified in {:.2f} s\n", verified, options.files.size(), seconds);
  print_stats(session.client->stats());
  session.registry->stop();
  return failed == 0 && verified == options.files.size() ? kAllVerified : kSomeFailed;
}

int listen(const Config& config, ShutdownSignal& shutdown) {
  Session session(config);
  spdlog::info("listening for replies; stop with Ctrl-C");
  session.client->listen([&shutdown] { return shutdown.wait_for(std::chrono::milliseconds(0)); },
                         print_outcome);
  session.registry->stop();
  return kAllVerified;
}

}  // namespace

int main(int argc, char** argv) {
  claimcheck::ShutdownSignal shutdown;
  CLI::App app{"claimcheck client: sends files by claim check and prints the replies."};
  app.require_subcommand(1);
  claimcheck::ServiceOptions options;
  claimcheck::add_service_options(app, options);

  SendOptions send_options;
  auto* send = app.add_subcommand("send", "Send files and wait for their replies");
  send->add_option("files", send_options.files, "Files to send")->required();
  send->add_option("--operation", send_options.operation, "Operation to request")
      ->capture_default_str();
  send->add_option("--timeout", send_options.timeout, "How long to wait for the replies")
      ->capture_default_str();
  auto* listen_command =
      app.add_subcommand("listen", "Print replies, including those to earlier runs, until stopped");
  app.footer(
      "Examples:\n"
      "  claimcheck-client -c config/client.yaml send report.pdf photo.png\n"
      "  claimcheck-client -c config/client.yaml --set broker.port=5673 listen");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : kCouldNotStart;
  }
  try {
    const auto config = claimcheck::load_service_config(options, "client", "CLAIMCHECK_CLIENT_");
    if (*listen_command) {
      return listen(config, shutdown);
    }
    return send_files(config, send_options);
  } catch (const std::exception& error) {
    std::cerr << "claimcheck-client: " << error.what() << '\n';
    return kCouldNotStart;
  }
}
