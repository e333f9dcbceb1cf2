// Reading untrusted YAML documents (recipes, the language table) with errors
// that name the document and the offending field.
#pragma once

#include "firerun/error.h"

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <vector>

namespace firerun::yaml {

/// How a YAML document and its fields are named in error messages.
struct Source {
  std::string document;       ///< e.g. "recipe bash.yaml"; errors read "<document>: <what>".
  bool quote_fields = false;  ///< Show fields as 'packages' rather than languages[0].run.

  /// An invalid_argument Error "<document>: <what>".
  Error error(const std::string& what) const;
  /// `field` as it appears in messages (quoted if quote_fields).
  std::string field_name(const std::string& field) const;
};

/// Whether flow collections ('[', '{') in `text` nest deeper than `max_depth`;
/// yaml-cpp recurses per level, so callers refuse such text before parsing it.
bool nesting_too_deep(std::string_view text, std::size_t max_depth);

/// The node's text, or an error "<field> must be a string".
Result<std::string> scalar(const YAML::Node& node, const Source& source, const std::string& field);

/// A sequence of scalars, or an error "<field> must be a list of strings" / "<field>[] must be a string".
Result<std::vector<std::string>> string_list(const YAML::Node& node, const Source& source, const std::string& field);

}  // namespace firerun::yaml
