#include "claimcheck/common/shutdown.hpp"

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace claimcheck {
namespace {

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

ShutdownSignal::ShutdownSignal() {
  const sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void ShutdownSignal::wait() {
  const sigset_t set = shutdown_signals();
  int signal_number = 0;
  sigwait(&set, &signal_number);
}

bool ShutdownSignal::wait_for(std::chrono::milliseconds timeout) {
  const sigset_t set = shutdown_signals();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const timespec wait_time{
      seconds.count(),
      std::chrono::duration_cast<std::chrono::nanoseconds>(timeout - seconds).count()};
  return sigtimedwait(&set, nullptr, &wait_time) > 0;
}

}  // namespace claimcheck
