#pragma once

// Deletes the files whose replies are in, on a thread of its own: deleting gigabytes of chunks
// can take longer than the broker's heartbeat window, and the thread that serves the broker
// connection must not fall silent meanwhile.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

namespace claimcheck::client {

class FileReaper {
 public:
  /// `remove` deletes one file by id; it runs on the reaper's thread and must not throw.
  explicit FileReaper(std::function<void(const std::string&)> remove);
  /// Finishes every queued delete, then stops the thread.
  ~FileReaper();
  FileReaper(const FileReaper&) = delete;
  FileReaper& operator=(const FileReaper&) = delete;

  void enqueue(std::string id);

 private:
  void run(const std::stop_token& stop);

  std::function<void(const std::string&)> remove_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<std::string> queue_;
  std::jthread thread_;  // last: starts once the members it uses exist
};

}  // namespace claimcheck::client
