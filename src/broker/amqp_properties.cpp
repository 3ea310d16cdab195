#include "amqp_properties.hpp"

#include <optional>

namespace claimcheck::broker {
namespace {

constexpr std::uint8_t kDeliveryModeTransient = 1;
constexpr std::uint8_t kDeliveryModePersistent = 2;

void set_if_present(amqp_basic_properties_t& properties, amqp_flags_t flag, amqp_bytes_t& field,
                    const std::string& value) noexcept {
  if (!value.empty()) {
    field = as_bytes(value);
    properties._flags |= flag;
  }
}

std::string read_if_present(const amqp_basic_properties_t& properties, amqp_flags_t flag,
                            amqp_bytes_t field) {
  return (properties._flags & flag) != 0 ? to_string(field) : std::string();
}

// Other producers (Spring among them) put numbers and booleans into headers; they are kept as
// text. Nested tables, arrays, floats and decimals have no string form we rely on and are
// skipped.
std::optional<std::string> header_text(const amqp_field_value_t& value) {
  switch (value.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
      return to_string(value.value.bytes);
    case AMQP_FIELD_KIND_BOOLEAN:
      return value.value.boolean != 0 ? "true" : "false";
    case AMQP_FIELD_KIND_I8:
      return std::to_string(value.value.i8);
    case AMQP_FIELD_KIND_U8:
      return std::to_string(value.value.u8);
    case AMQP_FIELD_KIND_I16:
      return std::to_string(value.value.i16);
    case AMQP_FIELD_KIND_U16:
      return std::to_string(value.value.u16);
    case AMQP_FIELD_KIND_I32:
      return std::to_string(value.value.i32);
    case AMQP_FIELD_KIND_U32:
      return std::to_string(value.value.u32);
    case AMQP_FIELD_KIND_I64:
    case AMQP_FIELD_KIND_TIMESTAMP:
      return std::to_string(value.value.i64);
    case AMQP_FIELD_KIND_U64:
      return std::to_string(value.value.u64);
    default:
      return std::nullopt;
  }
}

}  // namespace

amqp_bytes_t as_bytes(const std::string& text) noexcept {
  amqp_bytes_t bytes;
  bytes.len = text.size();
  // rabbitmq-c takes a non-const pointer for both directions but only reads when sending.
  bytes.bytes = const_cast<char*>(text.data());
  return bytes;
}

std::string to_string(amqp_bytes_t bytes) {
  if (bytes.len == 0) {
    return {};
  }
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

amqp_table_entry_t string_entry(const char* key, const std::string& value) noexcept {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  entry.value.kind = AMQP_FIELD_KIND_UTF8;
  entry.value.value.bytes = as_bytes(value);
  return entry;
}

amqp_table_entry_t integer_entry(const char* key, std::int64_t value) noexcept {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  entry.value.kind = AMQP_FIELD_KIND_I64;
  entry.value.value.i64 = value;
  return entry;
}

EncodedProperties::EncodedProperties(const MessageProperties& properties) {
  value_._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  value_.delivery_mode = properties.persistent ? kDeliveryModePersistent : kDeliveryModeTransient;

  set_if_present(value_, AMQP_BASIC_CONTENT_TYPE_FLAG, value_.content_type,
                 properties.content_type);
  set_if_present(value_, AMQP_BASIC_MESSAGE_ID_FLAG, value_.message_id, properties.message_id);
  set_if_present(value_, AMQP_BASIC_CORRELATION_ID_FLAG, value_.correlation_id,
                 properties.correlation_id);
  set_if_present(value_, AMQP_BASIC_TYPE_FLAG, value_.type, properties.type);
  set_if_present(value_, AMQP_BASIC_REPLY_TO_FLAG, value_.reply_to, properties.reply_to);
  set_if_present(value_, AMQP_BASIC_EXPIRATION_FLAG, value_.expiration, properties.expiration);
  if (properties.timestamp != 0) {
    value_.timestamp = static_cast<std::uint64_t>(properties.timestamp);
    value_._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
  }

  if (!properties.headers.empty()) {
    header_entries_.reserve(properties.headers.size());
    for (const auto& [key, value] : properties.headers) {
      amqp_table_entry_t entry{};
      entry.key = as_bytes(key);
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = as_bytes(value);
      header_entries_.push_back(entry);
    }
    value_.headers.num_entries = static_cast<int>(header_entries_.size());
    value_.headers.entries = header_entries_.data();
    value_._flags |= AMQP_BASIC_HEADERS_FLAG;
  }
}

MessageProperties decode_properties(const amqp_basic_properties_t& properties) {
  MessageProperties decoded;
  decoded.content_type =
      read_if_present(properties, AMQP_BASIC_CONTENT_TYPE_FLAG, properties.content_type);
  decoded.message_id =
      read_if_present(properties, AMQP_BASIC_MESSAGE_ID_FLAG, properties.message_id);
  decoded.correlation_id =
      read_if_present(properties, AMQP_BASIC_CORRELATION_ID_FLAG, properties.correlation_id);
  decoded.type = read_if_present(properties, AMQP_BASIC_TYPE_FLAG, properties.type);
  decoded.reply_to = read_if_present(properties, AMQP_BASIC_REPLY_TO_FLAG, properties.reply_to);
  decoded.expiration =
      read_if_present(properties, AMQP_BASIC_EXPIRATION_FLAG, properties.expiration);
  if ((properties._flags & AMQP_BASIC_TIMESTAMP_FLAG) != 0) {
    decoded.timestamp = static_cast<std::int64_t>(properties.timestamp);
  }
  decoded.persistent = (properties._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) != 0 &&
                       properties.delivery_mode == kDeliveryModePersistent;

  if ((properties._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
    for (int i = 0; i < properties.headers.num_entries; ++i) {
      const amqp_table_entry_t& entry = properties.headers.entries[i];
      if (auto text = header_text(entry.value)) {
        decoded.headers.emplace(to_string(entry.key), std::move(*text));
      }
    }
  }
  return decoded;
}

}  // namespace claimcheck::broker
