#include "ci/webhook_auth.h"

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

Status verify_hub_signature_256(std::string_view header_value, std::string_view secret, std::string_view body) {
  // Never echo the presented value: it is attacker-controlled and may be logged.
  if (!header_value.starts_with(kSignaturePrefix))
    return make_error(Errc::auth, "X-Hub-Signature-256 must start with 'sha256='");
  auto hex = header_value.substr(kSignaturePrefix.size());
  if (hex.size() != 2 * std::tuple_size_v<::firerun::detail::Digest>)
    return make_error(Errc::auth, "X-Hub-Signature-256 must carry 64 hex digits after 'sha256=', got " +
                                      std::to_string(hex.size()) + " characters");
  ::firerun::detail::Digest presented{};
  for (std::size_t i = 0; i < presented.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return make_error(Errc::auth, "X-Hub-Signature-256 contains a non-hex character");
    presented[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  if (!::firerun::detail::constant_time_equal(::firerun::detail::hmac_sha256(secret, body), presented))
    return make_error(Errc::auth, "X-Hub-Signature-256 does not match the body (wrong webhook secret or altered body)");
  return {};
}

bool TokenDigest::matches(std::string_view presented) const {
  return ::firerun::detail::constant_time_equal(::firerun::detail::sha256(presented), digest_);
}

}  // namespace firerun::ci
