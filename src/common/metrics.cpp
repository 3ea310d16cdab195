#include "claimcheck/common/metrics.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace claimcheck {

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help) {
  const std::scoped_lock lock(mutex_);
  Entry& entry = entries_[name];
  if (entry.gauge) {
    throw std::logic_error("metric " + name + " is already a gauge");
  }
  if (!entry.counter) {
    entry.help = help;
    entry.counter = std::make_unique<Counter>();
  }
  return *entry.counter;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help) {
  const std::scoped_lock lock(mutex_);
  Entry& entry = entries_[name];
  if (entry.counter) {
    throw std::logic_error("metric " + name + " is already a counter");
  }
  if (!entry.gauge) {
    entry.help = help;
    entry.gauge = std::make_unique<Gauge>();
  }
  return *entry.gauge;
}

std::string MetricsRegistry::render() const {
  const std::scoped_lock lock(mutex_);
  std::string text;
  for (const auto& [name, entry] : entries_) {
    if (entry.counter) {
      text += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, entry.help,
                          entry.counter->value());
    } else if (entry.gauge) {
      text += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, entry.help,
                          entry.gauge->value());
    }
  }
  return text;
}

}  // namespace claimcheck
