#include "store/index.h"

#include "image/store.h"

#include <boost/json.hpp>

#include <algorithm>

namespace firerun::store {
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxArtifacts = 16;

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool valid_artifact_file(std::string_view f) {
  if (f.empty() || f.size() > 64 || f.front() == '.') return false;
  if (f == image::detail::kCompletionFile) return false;
  return f.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == std::string_view::npos;
}

}  // namespace

bool valid_image_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9'))) return false;
  return n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") == std::string_view::npos;
}

bool valid_image_hash(std::string_view hash) { return is_hex64(hash); }

Result<std::vector<IndexedArtifact>> parse_image_index(std::string_view text, std::string_view name,
                                                       std::string_view hash, std::string_view where) {
  auto corrupt = [&](std::string problem) {
    return make_error(Errc::bad_state, "image index " + std::string(where) + " is corrupt: " + std::move(problem));
  };
  if (text.size() > (1u << 20)) return corrupt("larger than 1 MiB");
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return corrupt("not a JSON object");
  const auto& record = v.as_object();
  auto* format = record.if_contains("format");
  if (!format || !format->is_int64() || format->as_int64() != image::detail::kBuilderFormatVersion)
    return corrupt("written by another image format (this firerun reads format " +
                   std::to_string(image::detail::kBuilderFormatVersion) + ")");
  auto* rec_name = record.if_contains("name");
  auto* rec_hash = record.if_contains("hash");
  if (!rec_name || !rec_name->is_string() || rec_name->as_string() != name) return corrupt("it names another image");
  if (!rec_hash || !rec_hash->is_string() || rec_hash->as_string() != hash) return corrupt("it names another hash");
  auto* artifacts = record.if_contains("artifacts");
  if (!artifacts || !artifacts->is_object() || artifacts->as_object().empty()) return corrupt("no artifact list");
  if (artifacts->as_object().size() > kMaxArtifacts) return corrupt("too many artifacts");
  std::vector<IndexedArtifact> out;
  for (const auto& [key, value] : artifacts->as_object()) {
    IndexedArtifact a;
    a.file = std::string(key);
    if (!valid_artifact_file(a.file)) return corrupt("artifact name is not a plain file name");
    const json::object* entry = value.if_object();
    const json::value* size = entry ? entry->if_contains("size") : nullptr;
    const json::value* sha = entry ? entry->if_contains("sha256") : nullptr;
    if (!size || !sha || !sha->is_string() || !is_hex64(sha->as_string()))
      return corrupt("artifact " + a.file + " has no valid size and sha256");
    if (size->is_uint64()) a.size = size->as_uint64();
    else if (size->is_int64() && size->as_int64() >= 0) a.size = static_cast<std::uint64_t>(size->as_int64());
    else return corrupt("artifact " + a.file + " has no valid size and sha256");
    a.sha256 = std::string(sha->as_string());
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace firerun::store
