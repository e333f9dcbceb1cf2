// Webhook authentication primitives. All comparisons of secret-derived bytes
// are constant time, and no error message contains the secret or the
// presented credential.
#pragma once

#include "core/crypto.h"
#include "firerun/error.h"

#include <string_view>

namespace firerun::ci {

/// Checks a GitHub `X-Hub-Signature-256` value ("sha256=<64 hex>") against
/// HMAC-SHA256(secret, body). Malformed or wrong -> Errc::auth.
Status verify_hub_signature_256(std::string_view header_value, std::string_view secret, std::string_view body);

/// A shared-secret token (GitLab `X-Gitlab-Token`) kept only as its SHA-256,
/// so comparing takes the same time whatever the presented token's length.
class TokenDigest {
 public:
  explicit TokenDigest(std::string_view secret) : digest_(::firerun::detail::sha256(secret)) {}
  /// Constant-time comparison of sha256(presented) with the stored digest.
  bool matches(std::string_view presented) const;

 private:
  ::firerun::detail::Digest digest_;
};

}  // namespace firerun::ci
