// Webhook authentication primitives. All comparisons of secret-derived bytes
// are constant time, and no error message contains the secret or the
// presented credential.
#pragma once

#include "firerun/error.h"

#include <array>
#include <string_view>

namespace firerun::ci {

using Sha256Digest = std::array<unsigned char, 32>;

/// HMAC-SHA256(key, data).
Sha256Digest hmac_sha256(std::string_view key, std::string_view data);

/// SHA-256(data).
Sha256Digest sha256(std::string_view data);

/// Checks a GitHub `X-Hub-Signature-256` value ("sha256=<64 hex>") against
/// HMAC-SHA256(secret, body). Malformed or wrong -> Errc::auth.
Status verify_hub_signature_256(std::string_view header_value, std::string_view secret, std::string_view body);

/// A shared-secret token (GitLab `X-Gitlab-Token`) kept only as its SHA-256,
/// so comparing takes the same time whatever the presented token's length.
class TokenDigest {
 public:
  explicit TokenDigest(std::string_view secret) : digest_(sha256(secret)) {}
  /// Constant-time comparison of sha256(presented) with the stored digest.
  bool matches(std::string_view presented) const;

 private:
  Sha256Digest digest_;
};

}  // namespace firerun::ci
