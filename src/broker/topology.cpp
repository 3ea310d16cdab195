#include "claimcheck/broker/topology.hpp"

namespace claimcheck::broker {

FlowDestinations FlowDestinations::from_config(const Config& config) {
  FlowDestinations destinations;
  destinations.requests = config.get_string("messaging.requests", destinations.requests);
  destinations.group = config.get_string("messaging.group", destinations.group);
  destinations.replies = config.get_string("messaging.replies", destinations.replies);
  return destinations;
}

RequestQueueSettings RequestQueueSettings::from_config(const Config& config) {
  RequestQueueSettings settings;
  settings.queue_type = config.get_string("messaging.queue-type", settings.queue_type);
  if (settings.queue_type != "classic" && settings.queue_type != "quorum") {
    throw ConfigError("messaging.queue-type must be 'classic' or 'quorum', not '" +
                      settings.queue_type + "'");
  }
  settings.dead_letter = config.get_bool("messaging.dead-letter", settings.dead_letter);
  settings.dead_letter_exchange =
      config.get_string("messaging.dead-letter-exchange", settings.dead_letter_exchange);
  if (settings.dead_letter && settings.dead_letter_exchange.empty()) {
    throw ConfigError("messaging.dead-letter-exchange must name an exchange");
  }
  const bool quorum = settings.queue_type == "quorum";
  settings.delivery_limit = config.get_int("messaging.delivery-limit", quorum ? 10 : 0);
  if (settings.delivery_limit < 0 || settings.delivery_limit > 1000) {
    throw ConfigError("messaging.delivery-limit must be between 0 and 1000");
  }
  if (!quorum && settings.delivery_limit != 0) {
    throw ConfigError(
        "messaging.delivery-limit needs messaging.queue-type quorum; classic queues do not count "
        "deliveries");
  }
  return settings;
}

RequestQueues declare_request_topology(Connection& connection, const FlowDestinations& destinations,
                                       const RequestQueueSettings& settings) {
  RequestQueues names;
  names.queue = group_queue_name(destinations.requests, destinations.group);
  names.retry = names.queue + ".retry";

  QueueSpec main;
  main.queue_type = settings.queue_type;
  if (settings.dead_letter) {
    names.dead_letter = names.queue + ".dlq";
    connection.declare_exchange(settings.dead_letter_exchange, "direct");
    QueueSpec dead_letters;
    dead_letters.name = names.dead_letter;
    dead_letters.queue_type = settings.queue_type;
    connection.declare_queue(dead_letters);
    connection.bind_queue(names.dead_letter, settings.dead_letter_exchange, names.queue);
    main.dead_letter_exchange = settings.dead_letter_exchange;
    main.dead_letter_routing_key = names.queue;
  }
  if (settings.delivery_limit > 0) {
    main.delivery_limit = settings.delivery_limit;
  }
  declare_destination_queue(connection, destinations.requests, destinations.group, main);

  // Expired messages leave through the default exchange, which routes by queue name.
  QueueSpec retry;
  retry.name = names.retry;
  retry.queue_type = settings.queue_type;
  retry.dead_letter_exchange = "";
  retry.dead_letter_routing_key = names.queue;
  connection.declare_queue(retry);
  return names;
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
