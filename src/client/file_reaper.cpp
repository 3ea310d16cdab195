#include "file_reaper.hpp"

namespace claimcheck::client {

FileReaper::FileReaper(std::function<void(const std::string&)> remove)
    : remove_(std::move(remove)), thread_([this](const std::stop_token& stop) { run(stop); }) {}

FileReaper::~FileReaper() {
  thread_.request_stop();
  thread_.join();
}

void FileReaper::enqueue(std::string id) {
  {
    const std::lock_guard lock(mutex_);
    queue_.push_back(std::move(id));
  }
  wake_.notify_one();
}

void FileReaper::run(const std::stop_token& stop) {
  for (;;) {
    std::string id;
    {
      std::unique_lock lock(mutex_);
      // Returns false only when stop is requested with nothing left to delete.
      if (!wake_.wait(lock, stop, [this] { return !queue_.empty(); })) {
        return;
      }
      id = std::move(queue_.front());
      queue_.pop_front();
    }
    remove_(id);
  }
}

}  // namespace claimcheck::client
