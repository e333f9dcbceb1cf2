// Bytes that must travel as text: guest output in JSON answers, file
// contents in base64 fields.
#pragma once

#include "firerun/error.h"

#include <string>
#include <string_view>

namespace firerun {

/// True when `bytes` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool is_valid_utf8(std::string_view bytes) noexcept;
/// `bytes` with every ill-formed sequence replaced by U+FFFD (one per maximal
/// invalid subpart, as WHATWG and Unicode §3.9 recommend), so it can go into
/// JSON; valid input is returned unchanged.
std::string to_valid_utf8(std::string_view bytes);
/// Standard base64 (RFC 4648 §4) with padding.
std::string base64_encode(std::string_view bytes);
/// Inverse of base64_encode; line breaks are ignored and padding may be left
/// out, anything else outside the alphabet (or bad padding) is invalid_argument.
Result<std::string> base64_decode(std::string_view text);

}  // namespace firerun
