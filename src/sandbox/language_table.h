// The language table: parsing and validation of the YAML that defines languages.
#pragma once

#include "firerun/error.h"
#include "firerun/sandbox.h"

#include <string>
#include <string_view>
#include <vector>

namespace firerun::sandbox::detail {

/// The embedded src/sandbox/languages.yaml.
std::string_view builtin_languages_yaml();

/// Parses a language table (`languages: [{name, aliases, ...}]`), checking
/// every entry is complete and names/aliases are unique; errors name `origin`
/// and the offending entry/field.
Result<std::vector<Language>> parse_languages(std::string_view yaml_text, std::string_view origin);

/// Replaces "{src}", "{dir}" and "{out}" in each word.
std::vector<std::string> substitute(const std::vector<std::string>& words, std::string_view src, std::string_view dir,
                                    std::string_view out);

}  // namespace firerun::sandbox::detail
