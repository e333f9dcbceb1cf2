// The INI dialect of ~/.aws/credentials and ~/.aws/config.
//
// "[section]" headers, "key = value" lines (keys lowercased, values trimmed),
// full-line '#'/';' comments, and indented lines under a key with an empty
// value as nested settings stored as "parent.key" (e.g. "s3.addressing_style").
// Errors name the file and line but never quote the line: it may hold a secret.
#pragma once

#include "firerun/error.h"

#include <map>
#include <string>
#include <string_view>

namespace firerun::cloud::aws {

using IniSection = std::map<std::string, std::string>;

struct IniFile {
  std::map<std::string, IniSection> sections;  ///< repeated sections merge; later keys win

  /// The section or nullptr.
  const IniSection* find(const std::string& name) const;
};

/// Parses `text`; `file_name` only labels error messages ("<file>:<line>: ...").
Result<IniFile> parse_ini(std::string_view text, std::string_view file_name);

}  // namespace firerun::cloud::aws
