#include "claimcheck/common/bytes.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

namespace claimcheck {
namespace {

/// Serves `chunks` reads of one byte each.
class CountingSource final : public ByteSource {
 public:
  explicit CountingSource(int chunks) : left_(chunks) {}
  std::size_t read(std::span<std::byte> buffer) override {
    if (left_ == 0 || buffer.empty()) {
      return 0;
    }
    --left_;
    buffer[0] = std::byte{'x'};
    return 1;
  }

 private:
  int left_;
};

class CollectingSink final : public ByteSink {
 public:
  void write(std::span<const std::byte> bytes) override { received += bytes.size(); }
  std::size_t received = 0;
};

void drain(ByteSource& source) {
  std::byte buffer[16];
  while (source.read(buffer) > 0) {
  }
}

TEST(KeepAlive, TicksOnEveryReadOnceTheIntervalHasPassed) {
  int calls = 0;
  KeepAliveTicker ticker([&] { ++calls; }, std::chrono::milliseconds(0));
  CountingSource file(5);
  KeepAliveSource source(file, ticker);
  drain(source);
  EXPECT_EQ(calls, 6);  // five bytes and the read that found the end
}

TEST(KeepAlive, StaysQuietWithinTheInterval) {
  int calls = 0;
  KeepAliveTicker ticker([&] { ++calls; }, std::chrono::hours(1));
  CountingSource file(1000);
  KeepAliveSource source(file, ticker);
  drain(source);
  EXPECT_EQ(calls, 0);
}

TEST(KeepAlive, SinkPassesEverythingOnAndTicks) {
  int calls = 0;
  KeepAliveTicker ticker([&] { ++calls; }, std::chrono::milliseconds(0));
  CollectingSink collected;
  KeepAliveSink sink(collected, ticker);
  const std::string data = "abc";
  sink.write(std::as_bytes(std::span(data)));
  sink.write(std::as_bytes(std::span(data)));
  EXPECT_EQ(collected.received, 6U);
  EXPECT_EQ(calls, 2);
}

TEST(KeepAlive, WhatTheCallbackThrowsStopsTheTransfer) {
  KeepAliveTicker ticker([] { throw std::runtime_error("connection lost"); },
                         std::chrono::milliseconds(0));
  CountingSource file(3);
  KeepAliveSource source(file, ticker);
  EXPECT_THROW(drain(source), std::runtime_error);
}

}  // namespace
}  // namespace claimcheck
