// Reading single-valued headers from a webhook delivery.
#pragma once

#include "firerun/ci.h"

#include <optional>
#include <string_view>

namespace firerun::ci {

/// The value of header `name`, nullopt when absent. A header sent more than
/// once is an error with `duplicate_errc` (auth for signature headers), so a
/// proxy cannot smuggle a second value past whoever reads the first.
Result<std::optional<std::string_view>> single_header(const Headers& headers, std::string_view name,
                                                      Errc duplicate_errc = Errc::invalid_argument);

/// Like single_header() but absence is an error with `missing_errc`; `hint` tells the operator what to fix.
Result<std::string_view> required_header(const Headers& headers, std::string_view name, Errc missing_errc,
                                         std::string_view hint);

/// Rejects a Content-Type other than application/json (when one is sent).
Status require_json_content_type(const Headers& headers);

/// Checks a provider-supplied delivery/idempotency id: 1-128 characters of
/// [A-Za-z0-9._:-], so it is safe as a key, in logs and in file names.
Status check_delivery_id(std::string_view id, std::string_view header_name);

/// Printable, bounded form of an untrusted value for error messages.
std::string quote_untrusted(std::string_view value, std::size_t max_len = 64);

}  // namespace firerun::ci
