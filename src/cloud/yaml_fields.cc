#include "cloud/yaml_fields.h"

namespace firerun::cloud::detail {

Error yaml_error(std::string_view source, const std::string& path, const std::string& what, const YAML::Node& at) {
  std::string msg = std::string(source) + ": " + path + ": " + what;
  if (at.IsDefined() && at.Mark().line >= 0) msg += " (line " + std::to_string(at.Mark().line + 1) + ")";
  return make_error(Errc::invalid_argument, std::move(msg));
}

Result<std::uint64_t> read_unsigned(const YAML::Node& node, std::string_view source, const std::string& path) {
  if (!node.IsScalar()) return yaml_error(source, path, "expected an unsigned integer", node);
  const auto& text = node.Scalar();
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    return yaml_error(source, path, "expected an unsigned integer", node);
  return std::stoull(text);
}

Result<std::string> read_string(const YAML::Node& node, std::string_view source, const std::string& path) {
  if (!node.IsScalar()) return yaml_error(source, path, "expected a string", node);
  return node.Scalar();
}

Result<std::map<std::string, std::string>> read_string_map(const YAML::Node& node, std::string_view source,
                                                           const std::string& path) {
  if (!node.IsMap()) return yaml_error(source, path, "expected a mapping of strings", node);
  std::map<std::string, std::string> out;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return yaml_error(source, path, "keys must be strings", kv.first);
    FIRERUN_TRY(auto v, read_string(kv.second, source, path + "." + kv.first.Scalar()));
    out[kv.first.Scalar()] = std::move(v);
  }
  return out;
}

}  // namespace firerun::cloud::detail
