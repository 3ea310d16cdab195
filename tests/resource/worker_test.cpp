// The worker against a real RabbitMQ node (the CTest fixture's), a real auth server in this
// process and a real embedded store: duplicates, bounded retries, dead-lettering (case B3) and a
// request queue declared with other arguments (case B4).

#include "claimcheck/resource/worker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "auth_fixture.hpp"
#include "broker_test_support.hpp"
#include "claimcheck/store/store.hpp"
#include "claimcheck/token/verifier.hpp"
#include "store_test_support.hpp"

namespace claimcheck::resource {
namespace {

using broker::testing::kConfirmTimeout;
using broker::testing::kQuietPeriod;
using std::chrono::milliseconds;

constexpr milliseconds kReplyTimeout{15'000};
constexpr milliseconds kNothingMoreWait{3000};
constexpr const char* kClientId = "worker-test-client";

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.destinations.requests = broker::testing::unique_name("requests");
    settings_.destinations.replies = broker::testing::unique_name("replies");
    settings_.destinations.group = "resource";
    settings_.retry_backoff = milliseconds(100);
    settings_.retry_backoff_max = milliseconds(400);
    settings_.max_attempts = 3;

    store_ = store::open_store(files_.file("store.db"));
    verifier_ = std::make_unique<token::TokenVerifier>(
        token::VerifierSettings{.issuer = auth::testing::kIssuer, .audience = "claimcheck"},
        token::http_jwks_fetcher(auth_.url("/oauth2/jwks"), milliseconds(5000)));
    register_builtin_operations(operations_);
    handler_ = std::make_unique<RequestHandler>(*store_, *verifier_, operations_, metrics_);
    sender_tokens_ = std::make_unique<token::TokenClient>(
        [this] { return auth_.url("/oauth2/token"); }, "sender", auth::testing::kSenderSecret,
        "files.send", milliseconds(5000));
    worker_tokens_ = std::make_unique<token::TokenClient>(
        [this] { return auth_.url("/oauth2/token"); }, "worker", auth::testing::kWorkerSecret,
        "files.reply", milliseconds(5000));

    connection_ = broker::Connection::open(broker::testing::node_settings());
    const std::string reply_queue = broker::declare_reply_queue(
        *connection_, settings_.destinations.replies, kClientId, std::chrono::minutes(5));
    connection_->start_consuming(reply_queue, 16);
  }

  void TearDown() override { stop_worker(); }

  void start_worker() {
    worker_ = std::make_unique<Worker>(settings_, broker::testing::node_settings(), *handler_,
                                       *store_, *worker_tokens_, metrics_);
    stopping_ = false;
    thread_ = std::thread([this] { worker_->run([this] { return stopping_.load(); }); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!worker_->consuming() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    ASSERT_TRUE(worker_->consuming());
  }

  void stop_worker() {
    stopping_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  message::FileRequest request_for(const std::string& content) {
    store::testing::StringSource source(content);
    const store::FileInfo stored = store_->put("sample.txt", source, {});
    message::FileRequest request;
    request.message_id = random_hex(8);
    request.correlation_id = request.message_id;
    request.file_id = stored.id;
    request.file_name = stored.filename;
    request.length = stored.length;
    request.sha256 = stored.sha256;
    request.operation = "inspect";
    request.store = std::string(store_->kind());
    request.token = sender_tokens_->access_token();
    return request;
  }

  /// Publishes `request`; with `set_message_id` false the AMQP property is left out, as
  /// Spring's producers do, and only the body carries the id.
  void publish(const message::FileRequest& request, bool set_message_id = true) {
    broker::OutgoingMessage message;
    message.body = message::encode(request);
    message.properties.message_id = set_message_id ? request.message_id : std::string();
    message.properties.correlation_id = request.correlation_id;
    message.properties.reply_to = kClientId;
    ASSERT_EQ(
        connection_->publish(settings_.destinations.requests, "inspect", message, kConfirmTimeout),
        broker::PublishOutcome::kConfirmed);
  }

  /// The replies that arrive until `expected` came and then a quiet period passed; with
  /// `expected` 0, those of the next few seconds (the worker answers within milliseconds).
  std::vector<message::FileReply> replies(std::size_t expected) {
    std::vector<message::FileReply> received;
    auto wait = expected == 0 ? kNothingMoreWait : kReplyTimeout;
    while (auto delivery = connection_->next_delivery(wait)) {
      connection_->ack(delivery->delivery_tag);
      auto decoded = message::decode_reply(delivery->body);
      EXPECT_TRUE(std::holds_alternative<message::FileReply>(decoded)) << delivery->body;
      if (auto* reply = std::get_if<message::FileReply>(&decoded)) {
        received.push_back(std::move(*reply));
      }
      wait = received.size() >= expected ? kQuietPeriod * 2 : kReplyTimeout;
    }
    return received;
  }

  std::uint64_t metric(const std::string& name) { return metrics_.counter(name, "").value(); }

  auth::testing::TempDir keys_;
  auth::testing::RunningAuthServer auth_{auth::testing::test_settings(keys_.path())};
  store::testing::TempDir files_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<token::TokenVerifier> verifier_;
  OperationCatalog operations_;
  MetricsRegistry metrics_;
  std::unique_ptr<RequestHandler> handler_;
  std::unique_ptr<token::TokenClient> sender_tokens_;
  std::unique_ptr<token::TokenClient> worker_tokens_;
  std::unique_ptr<broker::Connection> connection_;
  WorkerSettings settings_;
  std::unique_ptr<Worker> worker_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

TEST_F(WorkerTest, RequestPublishedTwiceIsAnsweredOnce) {
  start_worker();
  const message::FileRequest request = request_for("hello twice");
  publish(request);
  ASSERT_EQ(replies(1).size(), 1U);

  publish(request);

  EXPECT_TRUE(replies(0).empty());
  EXPECT_EQ(metric("claimcheck_duplicate_requests_total"), 1U);
}

// Found by the bad-input review: without the AMQP property, duplicates went undetected.
TEST_F(WorkerTest, DuplicateWithoutTheAmqpMessageIdIsKnownByTheBodysId) {
  start_worker();
  const message::FileRequest request = request_for("no property, id in the body");
  publish(request, /*set_message_id=*/false);
  ASSERT_EQ(replies(1).size(), 1U);

  publish(request, /*set_message_id=*/false);

  EXPECT_TRUE(replies(0).empty());
  EXPECT_EQ(metric("claimcheck_duplicate_requests_total"), 1U);
}

TEST_F(WorkerTest, RestartedWorkerStillKnowsAnsweredRequests) {
  start_worker();
  const message::FileRequest request = request_for("answered before the restart");
  publish(request);
  ASSERT_EQ(replies(1).size(), 1U);
  stop_worker();

  start_worker();
  publish(request);

  EXPECT_TRUE(replies(0).empty());
}

// B3: a request for a file that is not in the store is tried a bounded number of times, then
// answered with an error and dead-lettered; it never loops.
TEST_F(WorkerTest, MissingFileIsTriedABoundedNumberOfTimesThenDeadLettered) {
  start_worker();
  message::FileRequest request = request_for("soon gone");
  ASSERT_TRUE(store_->remove(request.file_id));
  publish(request);

  const auto received = replies(1);

  ASSERT_EQ(received.size(), 1U);
  EXPECT_EQ(received[0].error_code, "file-not-found");
  EXPECT_EQ(received[0].correlation_id, request.correlation_id);
  EXPECT_EQ(received[0].result.value("attempts", 0), 3);
  EXPECT_TRUE(received[0].result.value("deadLettered", false));
  EXPECT_EQ(metric("claimcheck_request_retries_total"), 2U);
  EXPECT_EQ(metric("claimcheck_requests_dead_lettered_total"), 1U);

  const std::string dead_letters =
      broker::group_queue_name(settings_.destinations.requests, "resource") + ".dlq";
  auto reader = broker::Connection::open(broker::testing::node_settings());
  reader->start_consuming(dead_letters, 1);
  const auto dead = reader->next_delivery(broker::testing::kDeliveryTimeout);
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(dead->properties.message_id, request.message_id);
}

TEST_F(WorkerTest, CorruptFileIsAnsweredAtOnceWithoutRetries) {
  start_worker();
  message::FileRequest request = request_for("claimed wrongly");
  request.sha256 = std::string(64, '0');
  publish(request);

  const auto received = replies(1);

  ASSERT_EQ(received.size(), 1U);
  EXPECT_EQ(received[0].error_code, "corrupt-file");
  EXPECT_EQ(metric("claimcheck_request_retries_total"), 0U);
}

// B4: a request queue that exists with other arguments stops the worker with an error naming
// the queue, instead of a reconnect storm.
TEST_F(WorkerTest, QueueDeclaredWithOtherArgumentsStopsTheWorkerNamingIt) {
  const std::string queue =
      broker::group_queue_name(settings_.destinations.requests, settings_.destinations.group);
  broker::QueueSpec plain;
  plain.name = queue;
  connection_->declare_queue(plain);

  Worker worker(settings_, broker::testing::node_settings(), *handler_, *store_, *worker_tokens_,
                metrics_);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  try {
    worker.run([give_up] { return std::chrono::steady_clock::now() > give_up; });
    ADD_FAILURE() << "the worker ran on a queue with other arguments";
  } catch (const broker::BrokerError& error) {
    EXPECT_EQ(error.reply_code(), 406);
    EXPECT_NE(std::string(error.what()).find(queue), std::string::npos) << error.what();
  }
  EXPECT_EQ(metric("claimcheck_broker_reconnects_total"), 0U);
}

}  // namespace
}  // namespace claimcheck::resource
