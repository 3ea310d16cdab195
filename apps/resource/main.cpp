// claimcheck-resource: the worker that redeems claims. It consumes requests, verifies each
// token, streams the file from the store, runs the operation and replies with its own token.

#include <spdlog/spdlog.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "claimcheck/broker/connection.hpp"
#include "claimcheck/common/service_http.hpp"
#include "claimcheck/common/service_options.hpp"
#include "claimcheck/common/shutdown.hpp"
#include "claimcheck/resource/sweeper.hpp"
#include "claimcheck/resource/worker.hpp"
#include "claimcheck/runtime/service.hpp"

namespace {

using namespace claimcheck;

int run(const Config& config, ShutdownSignal& shutdown) {
  MetricsRegistry metrics;
  ServiceHttp http(metrics);
  const int port = http.bind(config.get_string("server.host", "127.0.0.1"),
                             static_cast<int>(config.get_int("server.port", 0)));

  const auto store = store::open_store(config);
  const auto registry = runtime::make_registry_client(config);
  const auto verifier = runtime::make_token_verifier(config, *registry);
  const auto tokens = runtime::make_token_client(config, *registry);
  // Fetching the first token now makes a wrong secret or a missing auth server fail at start,
  // not on the first request.
  (void)tokens->access_token();

  resource::OperationCatalog operations;
  resource::register_builtin_operations(operations);
  resource::RequestHandler handler(*store, *verifier, operations, metrics);
  resource::Worker worker(resource::WorkerSettings::from_config(config),
                          broker::BrokerSettings::from_config(config), handler, *store, *tokens,
                          metrics);
  const resource::Sweeper sweeper(*store, resource::SweepSettings::from_config(config), metrics);

  http.add_health_check({"broker", [&worker](std::string& detail) {
                           detail = worker.consuming() ? "consuming" : "not connected";
                           return worker.consuming();
                         }});
  http.start();
  runtime::register_service(*registry, config, runtime::kResourceApp, port);
  spdlog::info("resource server ready: store {}, HTTP on port {}", store->describe(), port);

  std::atomic<bool> stopping{false};
  std::exception_ptr failure;
  std::thread consumer([&] {
    try {
      worker.run([&stopping] { return stopping.load(); });
    } catch (...) {
      failure = std::current_exception();
      stopping = true;
    }
  });
  while (!stopping && !shutdown.wait_for(std::chrono::milliseconds(500))) {
  }
  stopping = true;
  consumer.join();
  registry->stop();
  http.stop();
  if (failure) {
    std::rethrow_exception(failure);
  }
  spdlog::info("resource server stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  claimcheck::ShutdownSignal shutdown;
  CLI::App app{
      "claimcheck resource server: consumes file requests, verifies their tokens, "
      "processes the files and replies."};
  claimcheck::ServiceOptions options;
  claimcheck::add_service_options(app, options);
  CLI11_PARSE(app, argc, argv);
  try {
    const auto config =
        claimcheck::load_service_config(options, "resource", "CLAIMCHECK_RESOURCE_");
    return run(config, shutdown);
  } catch (const std::exception& error) {
    std::cerr << "claimcheck-resource: " << error.what() << '\n';
    return 2;
  }
}
