// SHA-256 / HMAC-SHA256 helpers over OpenSSL, as SigV4 needs them.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace firerun::cloud::aws {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(std::string_view data);
Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);
/// Lowercase hex, as SigV4 prints hashes and signatures.
std::string hex(std::span<const std::uint8_t> bytes);
inline std::string sha256_hex(std::string_view data) { return hex(sha256(data)); }

}  // namespace firerun::cloud::aws
