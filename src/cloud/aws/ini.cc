#include "cloud/aws/ini.h"

#include <algorithm>

namespace firerun::cloud::aws {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

}  // namespace

const IniSection* IniFile::find(const std::string& name) const {
  auto it = sections.find(name);
  return it == sections.end() ? nullptr : &it->second;
}

Result<IniFile> parse_ini(std::string_view text, std::string_view file_name) {
  IniFile out;
  IniSection* section = nullptr;
  std::string last_key;          // for indented continuation lines
  bool last_key_nests = false;   // "key =" with an empty value opens nested settings
  std::size_t line_no = 0;
  auto fail = [&](std::string_view what) {
    return make_error(Errc::invalid_argument,
                      std::string(file_name) + ":" + std::to_string(line_no) + ": " + std::string(what));
  };

  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(start, end - start);
    start = end + 1;
    ++line_no;

    if (raw.find('\0') != std::string_view::npos) return fail("NUL byte in line");
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const bool indented = is_space(raw.front());

    if (indented && section && !last_key.empty()) {
      auto eq = line.find('=');
      if (last_key_nests && eq != std::string_view::npos) {
        auto key = trim(line.substr(0, eq));
        if (key.empty()) return fail("nested setting has an empty key");
        (*section)[last_key + "." + lowercase(key)] = std::string(trim(line.substr(eq + 1)));
      } else {
        auto& value = (*section)[last_key];
        if (!value.empty()) value.push_back('\n');
        value += line;
      }
      continue;
    }

    if (line.front() == '[') {
      if (line.back() != ']') return fail("section header is missing its closing ']'");
      auto name = trim(line.substr(1, line.size() - 2));
      if (name.empty()) return fail("empty section name");
      section = &out.sections[std::string(name)];
      last_key.clear();
      continue;
    }

    auto eq = line.find('=');
    if (eq == std::string_view::npos) return fail("expected 'key = value' or '[section]'");
    if (!section) return fail("setting appears before any [section] header");
    auto key = trim(line.substr(0, eq));
    if (key.empty()) return fail("setting has an empty key");
    last_key = lowercase(key);
    auto value = trim(line.substr(eq + 1));
    last_key_nests = value.empty();
    (*section)[last_key] = std::string(value);
  }
  return out;
}

}  // namespace firerun::cloud::aws
