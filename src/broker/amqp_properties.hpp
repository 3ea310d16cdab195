#pragma once

// Conversion between MessageProperties and rabbitmq-c's amqp_basic_properties_t and between
// strings and amqp_bytes_t. Private to the broker module: rabbitmq-c's headers stay out of the
// public headers.

#include <amqp.h>
#include <amqp_framing.h>

#include <cstdint>
#include <string>
#include <vector>

#include "claimcheck/broker/connection.hpp"

namespace claimcheck::broker {

/// A non-owning view of `text` for rabbitmq-c, which never writes through it.
amqp_bytes_t as_bytes(const std::string& text) noexcept;

std::string to_string(amqp_bytes_t bytes);

/// rabbitmq-c properties that point into a MessageProperties; valid while that object lives
/// and is not modified. Neither copyable nor movable: `value` points into `header_entries_`.
class EncodedProperties {
 public:
  explicit EncodedProperties(const MessageProperties& properties);
  EncodedProperties(const EncodedProperties&) = delete;
  EncodedProperties& operator=(const EncodedProperties&) = delete;

  [[nodiscard]] const amqp_basic_properties_t* get() const noexcept { return &value_; }

 private:
  std::vector<amqp_table_entry_t> header_entries_;
  amqp_basic_properties_t value_{};
};

/// Copies the properties out of a frame; the result owns its strings.
MessageProperties decode_properties(const amqp_basic_properties_t& properties);

/// A string-valued table entry pointing into `key` and `value`.
amqp_table_entry_t string_entry(const char* key, const std::string& value) noexcept;

/// A 64-bit integer table entry.
amqp_table_entry_t integer_entry(const char* key, std::int64_t value) noexcept;

}  // namespace claimcheck::broker
