#include "claimcheck/common/encoding.hpp"

#include <sodium.h>

#include <stdexcept>
#include <vector>

namespace claimcheck {
namespace {

void ensure_sodium() {
  // sodium_init is idempotent and thread-safe; a negative result means no usable randomness.
  if (sodium_init() < 0) {
    throw std::runtime_error("libsodium failed to initialise");
  }
}

std::string encode(std::string_view bytes, int variant) {
  std::string text(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(text.data(), text.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  text.resize(text.size() - 1);  // drop the terminating NUL sodium writes
  return text;
}

std::optional<std::string> decode(std::string_view text, int variant) {
  std::string bytes(text.size() / 4 * 3 + 3, '\0');
  std::size_t length = 0;
  const char* end = nullptr;
  const int rc =
      sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                        text.size(), /*ignore=*/nullptr, &length, &end, variant);
  if (rc != 0 || end != text.data() + text.size()) {
    return std::nullopt;
  }
  bytes.resize(length);
  return bytes;
}

}  // namespace

std::string to_hex(std::span<const std::byte> bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  hex.pop_back();
  return hex;
}

std::string base64url_encode(std::string_view bytes) {
  return encode(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  return decode(text, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::string base64_encode(std::string_view bytes) {
  return encode(bytes, sodium_base64_VARIANT_ORIGINAL);
}

std::optional<std::string> base64_decode(std::string_view text) {
  return decode(text, sodium_base64_VARIANT_ORIGINAL);
}

std::string random_hex(std::size_t byte_count) {
  ensure_sodium();
  std::vector<std::byte> bytes(byte_count);
  randombytes_buf(bytes.data(), bytes.size());
  return to_hex(bytes);
}

}  // namespace claimcheck
