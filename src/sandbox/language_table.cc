// Loading the language table from YAML, and name/alias lookup.
#include "sandbox/language_table.h"

#include "core/yaml_util.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace firerun::sandbox {
namespace detail {
namespace {

constexpr std::size_t kMaxTableBytes = 1u << 20;
constexpr std::size_t kMaxNesting = 16;
constexpr std::uint64_t kMaxMemoryMib = 65536;

yaml::Source table_source(std::string_view origin) { return {"language table " + std::string(origin), false}; }

Error bad(std::string_view origin, const std::string& what) { return table_source(origin).error(what); }

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '_' || c == '.';
  });
}

bool valid_env_key(std::string_view k) {
  if (k.empty() || k.size() > 128 || (k[0] >= '0' && k[0] <= '9')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A plain file name: the main source lives at the top of the work directory.
bool valid_source_file(std::string_view s) {
  return !s.empty() && s.size() <= 255 && s != "." && s != ".." && s.find('/') == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

bool valid_word(std::string_view w) { return !w.empty() && w.size() <= 4096 && w.find('\0') == std::string_view::npos; }

// A list of non-empty words (argv, aliases).
Result<std::vector<std::string>> words(const YAML::Node& n, const yaml::Source& source, const std::string& field) {
  FIRERUN_TRY(auto out, yaml::string_list(n, source, field));
  for (const auto& w : out)
    if (!valid_word(w)) return source.error(field + " has an empty or invalid word");
  return out;
}

Result<Language> parse_entry(const YAML::Node& node, std::string_view origin, std::size_t index) {
  static const std::set<std::string> keys = {"name", "aliases", "version", "image", "source_file",
                                             "compile", "run", "min_memory_mib", "env", "run_as"};
  std::string where = "languages[" + std::to_string(index) + "]";
  if (!node.IsMap()) return bad(origin, where + " must be a mapping");
  if (node["name"] && node["name"].IsScalar()) where += " (" + node["name"].Scalar() + ")";
  for (const auto& kv : node) {
    if (!kv.first.IsScalar() || !keys.count(kv.first.Scalar()))
      return bad(origin, where + ": unknown key '" + (kv.first.IsScalar() ? kv.first.Scalar() : "?") + "'");
  }
  for (const char* required : {"name", "version", "image", "source_file", "run"})
    if (!node[required]) return bad(origin, where + ": missing '" + required + "'");

  const yaml::Source source = table_source(origin);
  Language lang;
  FIRERUN_TRY(lang.name, yaml::scalar(node["name"], source, where + ".name"));
  if (!valid_name(lang.name)) return bad(origin, where + ".name must match [a-z0-9+._-]{1,32}");
  if (node["aliases"]) {
    FIRERUN_TRY(lang.aliases, words(node["aliases"], source, where + ".aliases"));
    for (const auto& a : lang.aliases)
      if (!valid_name(a)) return bad(origin, where + ".aliases: '" + a + "' must match [a-z0-9+._-]{1,32}");
  }
  FIRERUN_TRY(lang.version, yaml::scalar(node["version"], source, where + ".version"));
  if (lang.version.empty() || lang.version.size() > 64) return bad(origin, where + ".version must be 1-64 characters");
  FIRERUN_TRY(lang.image, yaml::scalar(node["image"], source, where + ".image"));
  if (!valid_name(lang.image)) return bad(origin, where + ".image must be an image name");
  FIRERUN_TRY(lang.source_file, yaml::scalar(node["source_file"], source, where + ".source_file"));
  if (!valid_source_file(lang.source_file)) return bad(origin, where + ".source_file must be a plain file name");
  if (node["compile"]) {
    FIRERUN_TRY(lang.compile_argv, words(node["compile"], source, where + ".compile"));
  }
  FIRERUN_TRY(lang.run_argv, words(node["run"], source, where + ".run"));
  if (lang.run_argv.empty()) return bad(origin, where + ".run must not be empty");
  if (node["min_memory_mib"]) {
    FIRERUN_TRY(auto text, yaml::scalar(node["min_memory_mib"], source, where + ".min_memory_mib"));
    char* end = nullptr;
    unsigned long long mib = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || *end != '\0' || mib < 64 || mib > kMaxMemoryMib)
      return bad(origin, where + ".min_memory_mib must be a number of MiB in 64..65536");
    lang.min_memory_mib = mib;
  }
  if (node["run_as"]) {
    FIRERUN_TRY(auto who, yaml::scalar(node["run_as"], source, where + ".run_as"));
    if (who != "user" && who != "root") return bad(origin, where + ".run_as must be user or root");
    lang.runs_as_root = who == "root";
  }
  if (node["env"]) {
    const auto& env = node["env"];
    if (!env.IsMap()) return bad(origin, where + ".env must be a mapping");
    for (const auto& e : env) {
      if (!e.first.IsScalar() || !valid_env_key(e.first.Scalar())) return bad(origin, where + ".env has an invalid name");
      FIRERUN_TRY(auto value, yaml::scalar(e.second, source, where + ".env." + e.first.Scalar()));
      if (value.find('\0') != std::string::npos) return bad(origin, where + ".env." + e.first.Scalar() + " contains NUL");
      lang.env[e.first.Scalar()] = std::move(value);
    }
  }
  return lang;
}

}  // namespace

Result<std::vector<Language>> parse_languages(std::string_view yaml_text, std::string_view origin) {
  if (yaml_text.size() > kMaxTableBytes) return bad(origin, "larger than 1 MiB");
  if (yaml::nesting_too_deep(yaml_text, kMaxNesting)) return bad(origin, "nested too deeply");
  std::vector<Language> out;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap() || root.size() != 1 || !root["languages"] || !root["languages"].IsSequence())
      return bad(origin, "top level must be a mapping with only a 'languages' list");
    std::set<std::string> taken;
    std::size_t index = 0;
    for (const auto& node : root["languages"]) {
      FIRERUN_TRY(auto lang, parse_entry(node, origin, index++));
      if (!taken.insert(lang.name).second) return bad(origin, "name or alias '" + lang.name + "' used twice");
      for (const auto& a : lang.aliases)
        if (!taken.insert(a).second) return bad(origin, "name or alias '" + a + "' used twice");
      out.push_back(std::move(lang));
    }
  } catch (const YAML::Exception& e) {
    return bad(origin, std::string("YAML error: ") + e.what());
  }
  if (out.empty()) return bad(origin, "no languages");
  return out;
}

std::vector<std::string> substitute(const std::vector<std::string>& words, std::string_view src, std::string_view dir,
                                    std::string_view out) {
  const std::pair<std::string_view, std::string_view> vars[] = {{"{src}", src}, {"{dir}", dir}, {"{out}", out}};
  std::vector<std::string> result;
  result.reserve(words.size());
  for (const auto& word : words) {
    std::string w;
    for (std::size_t i = 0; i < word.size();) {
      bool replaced = false;
      for (const auto& [key, value] : vars) {
        if (word.compare(i, key.size(), key) == 0) {
          w += value;
          i += key.size();
          replaced = true;
          break;
        }
      }
      if (!replaced) w += word[i++];
    }
    result.push_back(std::move(w));
  }
  return result;
}

}  // namespace detail

const std::vector<Language>& languages() {
  static const std::vector<Language> all = [] {
    auto parsed = detail::parse_languages(detail::builtin_languages_yaml(), "builtin");
    if (!parsed) std::abort();  // compiled-in data; the unit tests cover it
    return std::move(*parsed);
  }();
  return all;
}

Result<const Language*> find_language(std::string_view name_or_alias) {
  std::string known;
  for (const auto& lang : languages()) {
    if (lang.name == name_or_alias) return &lang;
    if (std::find(lang.aliases.begin(), lang.aliases.end(), name_or_alias) != lang.aliases.end()) return &lang;
    known += known.empty() ? "" : ", ";
    known += lang.name;
  }
  // Echo at most a short, printable prefix of what the client sent.
  std::string shown;
  for (char c : name_or_alias.substr(0, 32)) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
  return make_error(Errc::not_found, "unknown language '" + shown + "' (known: " + known + ")");
}

}  // namespace firerun::sandbox
