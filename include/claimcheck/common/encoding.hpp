#pragma once

/// Text encodings of binary data, done by libsodium (never by hand).

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace claimcheck {

/// Lower-case hex of `bytes`.
std::string to_hex(std::span<const std::byte> bytes);

/// Unpadded base64url (RFC 4648 section 5), as JWTs and JWKS use it.
std::string base64url_encode(std::string_view bytes);

/// Strict unpadded base64url decoding: '=' padding, '+', '/', whitespace or any other stray
/// character gives std::nullopt.
std::optional<std::string> base64url_decode(std::string_view text);

/// Standard padded base64 (RFC 4648 section 4), as HTTP Basic authentication uses it.
std::string base64_encode(std::string_view bytes);

/// Strict padded base64 decoding; std::nullopt on any malformed input.
std::optional<std::string> base64_decode(std::string_view text);

/// Cryptographically random bytes rendered as lower-case hex (2 * byte_count digits).
std::string random_hex(std::size_t byte_count);

}  // namespace claimcheck
