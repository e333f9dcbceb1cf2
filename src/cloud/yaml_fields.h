// Typed fields of the cloud area's YAML documents (static hosts, fleet
// configs). Every error names the document and the YAML path of the key, with
// its line: "fleet.yaml: pool.max_hosts: expected an unsigned integer (line 7)".
// Errors never quote the offending value (it may be a secret).
#pragma once

#include "firerun/error.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace firerun::cloud::detail {

/// An invalid_argument Error "<source>: <path>: <what> (line N)".
Error yaml_error(std::string_view source, const std::string& path, const std::string& what, const YAML::Node& at);
/// A decimal unsigned integer of at most 19 digits.
Result<std::uint64_t> read_unsigned(const YAML::Node& node, std::string_view source, const std::string& path);
/// A scalar's text.
Result<std::string> read_string(const YAML::Node& node, std::string_view source, const std::string& path);
/// A mapping of scalars to scalars (tags, template values).
Result<std::map<std::string, std::string>> read_string_map(const YAML::Node& node, std::string_view source,
                                                           const std::string& path);

}  // namespace firerun::cloud::detail
