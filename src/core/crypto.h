// The hashing and comparison primitives every area uses (SigV4, webhook
// signatures, fleet MACs, API tokens, image digests, pool keys), once, over
// OpenSSL.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace firerun::detail {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(std::string_view data);
Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);
Digest hmac_sha256(std::string_view key, std::string_view data);
/// Lowercase hex (SigV4, webhook signatures and image digests all print it so).
std::string hex(std::span<const std::uint8_t> bytes);
inline std::string sha256_hex(std::string_view data) { return hex(sha256(data)); }

/// Equal contents, in time that depends only on the longer length: neither
/// where they differ nor whether the lengths match leaks through timing.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

}  // namespace firerun::detail
