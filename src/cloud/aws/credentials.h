// AWS credentials as the signer consumes them. Secret parts are SecretString,
// so printing a Credentials value never reveals them.
#pragma once

#include "cloud/aws/secret.h"

#include <chrono>
#include <optional>
#include <ostream>
#include <string>

namespace firerun::cloud::aws {

struct Credentials {
  std::string access_key_id;       ///< an identifier, not a secret (shown in Authorization)
  SecretString secret_access_key;  ///< never printed
  SecretString session_token;      ///< empty for long-term keys; never printed
  /// When temporary credentials stop working; nullopt for long-term keys.
  std::optional<std::chrono::system_clock::time_point> expiration;
  /// Where they came from ("environment", "shared-credentials-file", "imds"), for diagnostics.
  std::string source;
};

/// "Credentials{access_key_id=AKID..., secret=<redacted>, token=<redacted>, source=...}".
std::ostream& operator<<(std::ostream& os, const Credentials& c);

}  // namespace firerun::cloud::aws
