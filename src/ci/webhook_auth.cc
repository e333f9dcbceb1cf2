#include "ci/webhook_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <string>

namespace firerun::ci {
namespace {

constexpr std::string_view kSignaturePrefix = "sha256=";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Sha256Digest hmac_sha256(std::string_view key, std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  // A zero-length key still needs a valid pointer for OpenSSL.
  static const unsigned char kEmpty = 0;
  const void* key_ptr = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out.data(), &len);
  return out;
}

Sha256Digest sha256(std::string_view data) {
  Sha256Digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

Status verify_hub_signature_256(std::string_view header_value, std::string_view secret, std::string_view body) {
  // Never echo the presented value: it is attacker-controlled and may be logged.
  if (!header_value.starts_with(kSignaturePrefix))
    return make_error(Errc::auth, "X-Hub-Signature-256 must start with 'sha256='");
  auto hex = header_value.substr(kSignaturePrefix.size());
  if (hex.size() != 2 * std::tuple_size_v<Sha256Digest>)
    return make_error(Errc::auth, "X-Hub-Signature-256 must carry 64 hex digits after 'sha256=', got " +
                                      std::to_string(hex.size()) + " characters");
  Sha256Digest presented{};
  for (std::size_t i = 0; i < presented.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return make_error(Errc::auth, "X-Hub-Signature-256 contains a non-hex character");
    presented[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  auto expected = hmac_sha256(secret, body);
  if (CRYPTO_memcmp(expected.data(), presented.data(), expected.size()) != 0)
    return make_error(Errc::auth, "X-Hub-Signature-256 does not match the body (wrong webhook secret or altered body)");
  return {};
}

bool TokenDigest::matches(std::string_view presented) const {
  auto digest = sha256(presented);
  return CRYPTO_memcmp(digest.data(), digest_.data(), digest.size()) == 0;
}

}  // namespace firerun::ci
