#include "claimcheck/broker/topology.hpp"

namespace claimcheck::broker {

FlowDestinations FlowDestinations::from_config(const Config& config) {
  FlowDestinations destinations;
  destinations.requests = config.get_string("messaging.requests", destinations.requests);
  destinations.group = config.get_string("messaging.group", destinations.group);
  destinations.replies = config.get_string("messaging.replies", destinations.replies);
  return destinations;
}

std::string group_queue_name(const std::string& destination, const std::string& group) {
  return destination + "." + group;
}

void declare_destination_queue(Connection& connection, const std::string& destination,
                               const std::string& group, const QueueSpec& base) {
  QueueSpec spec = base;
  spec.name = group_queue_name(destination, group);

  connection.declare_topic_exchange(destination);
  connection.declare_queue(spec);
  connection.bind_queue(spec.name, destination, "#");
}

std::string declare_reply_queue(Connection& connection, const std::string& destination,
                                const std::string& client_id, std::chrono::milliseconds expires) {
  QueueSpec spec;
  spec.name = group_queue_name(destination, client_id);
  spec.expires = expires;

  connection.declare_topic_exchange(destination);
  connection.declare_queue(spec);
  connection.bind_queue(spec.name, destination, client_id);
  return spec.name;
}

}  // namespace claimcheck::broker
