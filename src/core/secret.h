// A string that holds a credential (AWS secret key, API token, private key,
// runner token). It never prints its value: operator<< and fmt both write
// "<redacted>", so secrets cannot leak into logs or error messages by
// accident. Code that must send the value calls reveal() explicitly.
#pragma once

#include "firerun/error.h"

#include <fmt/format.h>

#include <filesystem>

#include <ostream>
#include <string>
#include <string_view>

namespace firerun {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  SecretString(const SecretString&) = default;
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(const SecretString& other);
  SecretString& operator=(SecretString&& other) noexcept;
  ~SecretString();

  /// The secret itself; call only where it goes on the wire or into a MAC.
  std::string_view reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

  /// Constant-time comparison (length may leak, content does not).
  friend bool operator==(const SecretString& a, const SecretString& b) noexcept;

  /// Always writes "<redacted>" (or "<empty>" so configuration problems stay diagnosable).
  friend std::ostream& operator<<(std::ostream& os, const SecretString& s);

  /// What operator<< and fmt print.
  std::string_view redacted() const noexcept { return value_.empty() ? "<empty>" : "<redacted>"; }

 private:
  void wipe() noexcept;
  std::string value_;
};

/// `bytes` random bytes from the kernel's CSPRNG (getrandom): for guest
/// reseeding, ids and tokens. Aborts if the kernel has no entropy source at
/// all, rather than hand out guessable bytes.
std::string random_bytes(std::size_t bytes);

/// `bytes` random bytes from the kernel's CSPRNG (getrandom), as lowercase
/// hex: for ids and tokens that must not be guessable. Aborts if the kernel
/// has no entropy source at all, rather than hand out a guessable value.
std::string random_hex(std::size_t bytes);

/// Reads a secret from a file (a token, a webhook secret, a private key).
/// Refused (invalid_argument) when the file is not a regular file or group or
/// others may access it, since then the secret is not one; not_found when it
/// cannot be opened. Trailing newlines and blanks are dropped; empty is refused.
/// `what` names the setting in errors ("auth.token_file").
Result<SecretString> read_secret_file(const std::filesystem::path& path, std::string_view what);

}  // namespace firerun

template <>
struct fmt::formatter<firerun::SecretString> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const firerun::SecretString& s, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(s.redacted(), ctx);
  }
};
