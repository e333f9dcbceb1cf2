#include "firerun/text.h"

#include <openssl/evp.h>

namespace firerun {
namespace {

/// Length of the well-formed UTF-8 sequence starting at `i`, or 0 with
/// `bad` set to the length of its maximal invalid subpart (at least 1).
std::size_t sequence_length(std::string_view s, std::size_t i, std::size_t& bad) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  bad = 1;
  if (b0 < 0x80) return 1;
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) need = 2;
  else if (b0 == 0xe0) need = 3, lo = 0xa0;
  else if (b0 == 0xed) need = 3, hi = 0x9f;  // no UTF-16 surrogates
  else if (b0 >= 0xe1 && b0 <= 0xef) need = 3;
  else if (b0 == 0xf0) need = 4, lo = 0x90;
  else if (b0 == 0xf4) need = 4, hi = 0x8f;  // nothing past U+10FFFF
  else if (b0 >= 0xf1 && b0 <= 0xf3) need = 4;
  else return 0;
  for (std::size_t k = 1; k < need; ++k) {
    if (i + k >= s.size()) return 0;
    const unsigned char b = byte(i + k);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return 0;
    bad = k + 1;
  }
  return need;
}

}  // namespace

bool is_valid_utf8(std::string_view bytes) noexcept {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t n = sequence_length(bytes, i, bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string to_valid_utf8(std::string_view bytes) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  static constexpr std::string_view kReplacement = "\xef\xbf\xbd";
  std::string out;
  out.reserve(bytes.size() + 16);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t n = sequence_length(bytes, i, bad);
    if (n) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out.append(kReplacement);
      i += bad;
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (char c : text)
    if (c != '\n' && c != '\r') clean.push_back(c);
  const auto invalid = [] { return Error(Errc::invalid_argument, "not valid base64"); };
  // Unpadded input (base64url style, Node's Buffer) is accepted too.
  if (clean.size() % 4 == 1) return invalid();
  if (clean.size() % 4 && clean.find('=') == std::string::npos) clean.append(4 - clean.size() % 4, '=');
  if (clean.size() % 4) return invalid();
  std::size_t padding = 0;
  while (padding < clean.size() && padding < 3 && clean[clean.size() - 1 - padding] == '=') ++padding;
  if (padding > 2) return invalid();
  // EVP_DecodeBlock accepts blanks and '=' in the middle; refuse both first.
  for (std::size_t i = 0; i + padding < clean.size(); ++i) {
    const char c = clean[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
      return invalid();
  }
  std::string out(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return invalid();
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

}  // namespace firerun
