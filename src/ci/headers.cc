#include "ci/headers.h"

#include <algorithm>
#include <cctype>

namespace firerun::ci {
namespace {

unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c - 'A' + 'a') : c; }

}  // namespace

bool HeaderNameLess::operator()(std::string_view a, std::string_view b) const noexcept {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return lower(static_cast<unsigned char>(x)) < lower(static_cast<unsigned char>(y));
  });
}

Result<std::optional<std::string_view>> single_header(const Headers& headers, std::string_view name,
                                                      Errc duplicate_errc) {
  auto [first, last] = headers.equal_range(name);
  if (first == last) return std::optional<std::string_view>{};
  if (std::next(first) != last)
    return make_error(duplicate_errc, "header " + std::string(name) + " was sent more than once");
  return std::optional<std::string_view>{first->second};
}

Result<std::string_view> required_header(const Headers& headers, std::string_view name, Errc missing_errc,
                                         std::string_view hint) {
  FIRERUN_TRY(auto value, single_header(headers, name, missing_errc));
  if (!value || value->empty())
    return make_error(missing_errc, "missing " + std::string(name) + " header (" + std::string(hint) + ")");
  return *value;
}

Status require_json_content_type(const Headers& headers) {
  FIRERUN_TRY(auto type, single_header(headers, "Content-Type"));
  if (!type) return {};
  std::string_view media = type->substr(0, type->find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  std::string lowered(media);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](char c) { return static_cast<char>(lower(c)); });
  if (lowered != "application/json")
    return make_error(Errc::invalid_argument, "webhook Content-Type is " + quote_untrusted(*type) +
                                                  "; configure the webhook to send application/json");
  return {};
}

Status check_delivery_id(std::string_view id, std::string_view header_name) {
  bool ok = !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-';
  });
  if (!ok)
    return make_error(Errc::invalid_argument, std::string(header_name) + " " + quote_untrusted(id) +
                                                  " is not a valid delivery id (1-128 of A-Z a-z 0-9 . _ : -)");
  return {};
}

std::string quote_untrusted(std::string_view value, std::size_t max_len) {
  std::string out = "'";
  for (std::size_t i = 0; i < value.size() && i < max_len; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    out += (c >= 0x20 && c < 0x7f && c != '\'') ? static_cast<char>(c) : '?';
  }
  if (value.size() > max_len) out += "...";
  out += "'";
  return out;
}

}  // namespace firerun::ci
