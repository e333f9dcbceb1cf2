#include "core/yaml_util.h"

#include <algorithm>

namespace firerun::yaml {

Error Source::error(const std::string& what) const { return Error(Errc::invalid_argument, document + ": " + what); }

std::string Source::field_name(const std::string& field) const { return quote_fields ? "'" + field + "'" : field; }

bool nesting_too_deep(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0, deepest = 0;
  for (char c : text) {
    if (c == '[' || c == '{') deepest = std::max(deepest, ++depth);
    if ((c == ']' || c == '}') && depth > 0) --depth;
  }
  return deepest > max_depth;
}

Result<std::string> scalar(const YAML::Node& node, const Source& source, const std::string& field) {
  if (!node.IsScalar()) return source.error(source.field_name(field) + " must be a string");
  return node.Scalar();
}

Result<std::vector<std::string>> string_list(const YAML::Node& node, const Source& source, const std::string& field) {
  if (!node.IsSequence()) return source.error(source.field_name(field) + " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& item : node) {
    FIRERUN_TRY(auto s, scalar(item, source, field + "[]"));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace firerun::yaml
