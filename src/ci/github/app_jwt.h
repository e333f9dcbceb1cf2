// GitHub App authentication: the RS256 JSON Web Token an App signs with its
// private key to ask for installation access tokens. OpenSSL EVP does the
// RSA work; this file only assembles the three base64url parts.
#pragma once

#include "core/secret.h"
#include "firerun/error.h"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace firerun::ci::github {

/// base64url without padding (RFC 7515 §2).
std::string base64url_encode(std::string_view bytes);
/// Inverse of base64url_encode; rejects padding and characters outside the alphabet.
Result<std::string> base64url_decode(std::string_view text);

/// A GitHub App's RSA private key, parsed once.
class AppPrivateKey {
 public:
  /// Parses a PEM private key (PKCS#1 "RSA PRIVATE KEY" as GitHub issues it, or PKCS#8).
  /// Errors never contain the key material.
  static Result<AppPrivateKey> from_pem(const SecretString& pem);
  /// Reads the PEM from a file (mode is not checked; keep it 0600).
  static Result<AppPrivateKey> from_file(const std::string& path);
  /// Reads the PEM from an environment variable (literal "\n" sequences become newlines).
  static Result<AppPrivateKey> from_env(const std::string& variable);

  /// RS256 signature over `data`.
  Result<std::string> sign_rs256(std::string_view data) const;

 private:
  struct Key;
  explicit AppPrivateKey(std::shared_ptr<Key> key) : key_(std::move(key)) {}
  std::shared_ptr<Key> key_;
};

/// Claims of an App JWT: iat = now - 60 s (clock drift), exp = now + lifetime (at most 10 min).
struct AppJwtClaims {
  std::string app_id;  ///< "iss": the App id (sent as a number when numeric) or its client id
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  std::chrono::seconds lifetime{540};
};

/// header.payload.signature, RS256. Errc::invalid_argument for an empty app id or a lifetime
/// outside (0, 600] s.
Result<SecretString> make_app_jwt(const AppPrivateKey& key, const AppJwtClaims& claims);

}  // namespace firerun::ci::github
