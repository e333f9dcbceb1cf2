// Recipe parsing, validation, defaults and lookup.
#include "firerun/image.h"
#include "core/yaml_util.h"
#include "image/recipe_data.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace firerun::image {
namespace {

constexpr std::size_t kMaxRecipeBytes = 1u << 20;
constexpr std::size_t kMaxNesting = 32;

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool valid_image_name(std::string_view s) {
  if (s.empty() || s.size() > 64 || !is_name_char(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_name_char(c) || c == '.' || c == '_' || c == '-'; });
}

// Debian policy 5.6.1 (name) and 5.6.12 (version), optionally "name=version";
// the version may use apt's '*' glob ("nodejs=18.*") to pin a major release.
bool valid_package_spec(std::string_view s) {
  auto eq = s.find('=');
  std::string_view name = s.substr(0, eq);
  if (name.size() < 2 || name.size() > 128 || !is_name_char(name[0])) return false;
  if (!std::all_of(name.begin(), name.end(), [](char c) { return is_name_char(c) || c == '+' || c == '-' || c == '.'; }))
    return false;
  if (eq == std::string_view::npos) return true;
  std::string_view version = s.substr(eq + 1);
  if (version.empty() || version.size() > 128 || !(version[0] >= '0' && version[0] <= '9')) return false;
  return std::all_of(version.begin(), version.end(), [](char c) {
    return is_name_char(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '+' || c == '-' || c == '~' || c == ':' || c == '*';
  });
}

bool valid_guest_path(std::string_view p) {
  if (p.size() < 2 || p.size() > 1024 || p[0] != '/' || p.back() == '/') return false;
  if (p.find('\0') != std::string_view::npos || p.find('\n') != std::string_view::npos) return false;
  std::size_t start = 1;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    auto part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// The builder owns these; a recipe must not replace the agent or its config.
bool reserved_path(std::string_view p) {
  return p == "/init" || p == "/etc/firerun" || p.rfind("/etc/firerun/", 0) == 0 || p == "/dev" ||
         p.rfind("/dev/", 0) == 0 || p == "/proc" || p == "/sys";
}

bool valid_env_key(std::string_view k) {
  if (k.empty() || k.size() > 128 || (k[0] >= '0' && k[0] <= '9')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool valid_cmdline_word(std::string_view w) {
  if (w.empty() || w.size() > 256) return false;
  return std::all_of(w.begin(), w.end(), [](char c) { return c > ' ' && c < 0x7f && c != '"'; });
}

bool valid_module_name(std::string_view m) {
  if (m.empty() || m.size() > 64) return false;
  return std::all_of(m.begin(), m.end(), [](char c) { return is_name_char(c) || c == '_' || c == '-'; });
}

yaml::Source recipe_source(std::string_view origin) { return {"recipe " + std::string(origin), true}; }

Error bad(std::string_view origin, const std::string& what) { return recipe_source(origin).error(what); }

Result<std::uint32_t> octal_mode(const YAML::Node& node, const yaml::Source& source, const std::string& field) {
  FIRERUN_TRY(auto text, yaml::scalar(node, source, field));
  char* end = nullptr;
  unsigned long mode = std::strtoul(text.c_str(), &end, 8);
  if (text.empty() || *end != '\0' || mode > 07777)
    return source.error(source.field_name(field) + " must be octal like 0644, got '" + text + "'");
  return static_cast<std::uint32_t>(mode);
}

// A list item that must be a mapping with `required` keys and nothing outside `allowed`.
Status only_keys(const YAML::Node& item, const std::set<std::string>& allowed, const std::set<std::string>& required,
                 const yaml::Source& source, const std::string& field) {
  if (!item.IsMap()) return source.error(source.field_name(field) + " must be a mapping");
  for (const auto& kv : item) {
    if (!kv.first.IsScalar() || !allowed.count(kv.first.Scalar()))
      return source.error(source.field_name(field) + " has unknown key '" + (kv.first.IsScalar() ? kv.first.Scalar() : "?") + "'");
  }
  for (const auto& k : required)
    if (!item[k]) return source.error(source.field_name(field) + " needs '" + k + "'");
  return {};
}

// A host path with optional ${NAME} references (expanded at build time).
bool valid_source_text(std::string_view s) {
  if (s.empty() || s.size() > 4096 || s.find('\0') != std::string_view::npos || s.find('\n') != std::string_view::npos)
    return false;
  for (auto at = s.find("${"); at != std::string_view::npos; at = s.find("${", at + 2)) {
    auto close = s.find('}', at + 2);
    if (close == std::string_view::npos || !valid_env_key(s.substr(at + 2, close - at - 2))) return false;
  }
  return true;
}

// Release pages print digests in either case; they are compared in lowercase.
Result<std::string> optional_sha256(const YAML::Node& item, const yaml::Source& source, const std::string& field) {
  if (!item["sha256"]) return std::string();
  FIRERUN_TRY(auto text, yaml::scalar(item["sha256"], source, field + ".sha256"));
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

bool valid_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Fills `r` from a mapping. Keys absent from the YAML leave `r` untouched,
// which is how defaults survive.
Status apply_yaml(Recipe& r, const YAML::Node& root, std::string_view origin, bool is_defaults) {
  static const std::set<std::string> recipe_keys = {"name",    "description", "packages", "exclude_packages",
                                                    "files",   "symlinks",    "env",      "cmdline",
                                                    "prune",   "kernel_package", "modules",
                                                    "archives", "binaries"};
  if (!root.IsMap()) return bad(origin, "top level must be a mapping");
  const yaml::Source source = recipe_source(origin);
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) return bad(origin, "keys must be strings");
    const std::string key = kv.first.Scalar();
    if (!recipe_keys.count(key)) return bad(origin, "unknown key '" + key + "'");
    const YAML::Node& v = kv.second;
    if (key == "name") {
      FIRERUN_TRY(r.name, yaml::scalar(v, source, key));
    } else if (key == "description") {
      FIRERUN_TRY(r.description, yaml::scalar(v, source, key));
    } else if (key == "packages") {
      FIRERUN_TRY(r.packages, yaml::string_list(v, source, key));
    } else if (key == "exclude_packages") {
      FIRERUN_TRY(r.exclude_packages, yaml::string_list(v, source, key));
    } else if (key == "cmdline") {
      FIRERUN_TRY(r.cmdline, yaml::string_list(v, source, key));
    } else if (key == "prune") {
      FIRERUN_TRY(r.prune, yaml::string_list(v, source, key));
    } else if (key == "modules") {
      FIRERUN_TRY(r.modules, yaml::string_list(v, source, key));
    } else if (key == "kernel_package") {
      FIRERUN_TRY(r.kernel_package, yaml::scalar(v, source, key));
    } else if (key == "env") {
      if (!v.IsMap()) return bad(origin, "'env' must be a mapping");
      for (const auto& e : v) {
        if (!e.first.IsScalar()) return bad(origin, "env keys must be strings");
        FIRERUN_TRY(auto value, yaml::scalar(e.second, source, "env." + e.first.Scalar()));
        r.env[e.first.Scalar()] = std::move(value);
      }
    } else if (key == "symlinks") {
      if (!v.IsSequence()) return bad(origin, "'symlinks' must be a list of {path, target}");
      r.symlinks.clear();
      for (const auto& item : v) {
        if (!item.IsMap() || item.size() != 2 || !item["path"] || !item["target"])
          return bad(origin, "each symlink needs exactly 'path' and 'target'");
        RecipeSymlink link;
        FIRERUN_TRY(link.path, yaml::scalar(item["path"], source, "symlinks[].path"));
        FIRERUN_TRY(link.target, yaml::scalar(item["target"], source, "symlinks[].target"));
        r.symlinks.push_back(std::move(link));
      }
    } else if (key == "files") {
      if (!v.IsSequence()) return bad(origin, "'files' must be a list of {path, content, mode}");
      r.files.clear();
      for (const auto& item : v) {
        if (!item.IsMap() || !item["path"] || !item["content"]) return bad(origin, "each file needs 'path' and 'content'");
        if (item.size() > 3 || (item.size() == 3 && !item["mode"]))
          return bad(origin, "file entries take only 'path', 'content' and 'mode'");
        RecipeFile f;
        FIRERUN_TRY(f.path, yaml::scalar(item["path"], source, "files[].path"));
        FIRERUN_TRY(f.content, yaml::scalar(item["content"], source, "files[].content"));
        if (item["mode"]) {
          FIRERUN_TRY(f.mode, octal_mode(item["mode"], source, "files[].mode"));
        }
        r.files.push_back(std::move(f));
      }
    } else if (key == "archives") {
      if (!v.IsSequence()) return bad(origin, "'archives' must be a list of {source, dest, sha256}");
      r.archives.clear();
      for (const auto& item : v) {
        const std::string field = "archives[" + std::to_string(r.archives.size()) + "]";
        FIRERUN_CHECK(only_keys(item, {"source", "dest", "sha256"}, {"source", "dest"}, source, field));
        RecipeArchive a;
        FIRERUN_TRY(a.source, yaml::scalar(item["source"], source, field + ".source"));
        FIRERUN_TRY(a.dest, yaml::scalar(item["dest"], source, field + ".dest"));
        FIRERUN_TRY(a.sha256, optional_sha256(item, source, field));
        r.archives.push_back(std::move(a));
      }
    } else if (key == "binaries") {
      if (!v.IsSequence()) return bad(origin, "'binaries' must be a list of {source, path, mode, sha256}");
      r.binaries.clear();
      for (const auto& item : v) {
        const std::string field = "binaries[" + std::to_string(r.binaries.size()) + "]";
        FIRERUN_CHECK(only_keys(item, {"source", "path", "mode", "sha256"}, {"source", "path"}, source, field));
        RecipeBinary b;
        FIRERUN_TRY(b.source, yaml::scalar(item["source"], source, field + ".source"));
        FIRERUN_TRY(b.path, yaml::scalar(item["path"], source, field + ".path"));
        if (item["mode"]) {
          FIRERUN_TRY(b.mode, octal_mode(item["mode"], source, field + ".mode"));
        }
        FIRERUN_TRY(b.sha256, optional_sha256(item, source, field));
        r.binaries.push_back(std::move(b));
      }
    }
  }
  (void)is_defaults;
  return {};
}

Status validate(const Recipe& r, std::string_view origin) {
  if (!valid_image_name(r.name)) return bad(origin, "name '" + r.name + "' must match [a-z0-9][a-z0-9._-]{0,63}");
  if (r.description.find('\n') != std::string::npos) return bad(origin, "description must be one line");
  if (r.packages.empty()) return bad(origin, "'packages' must list at least one package");
  for (const auto& p : r.packages)
    if (!valid_package_spec(p)) return bad(origin, "invalid package '" + p + "'");
  for (const auto& p : r.exclude_packages)
    if (!valid_package_spec(p) || p.find('=') != std::string::npos) return bad(origin, "invalid excluded package '" + p + "'");
  if (!valid_package_spec(r.kernel_package) || r.kernel_package.find('=') != std::string::npos)
    return bad(origin, "invalid kernel_package '" + r.kernel_package + "'");
  for (const auto& m : r.modules)
    if (!valid_module_name(m)) return bad(origin, "invalid module name '" + m + "'");
  for (const auto& w : r.cmdline)
    if (!valid_cmdline_word(w)) return bad(origin, "invalid kernel cmdline word '" + w + "'");
  for (const auto& p : r.prune)
    if (!valid_guest_path(p) || reserved_path(p)) return bad(origin, "invalid prune path '" + p + "'");
  for (const auto& [k, v] : r.env) {
    if (!valid_env_key(k)) return bad(origin, "invalid env name '" + k + "'");
    if (v.find('\n') != std::string::npos || v.find('\0') != std::string::npos)
      return bad(origin, "env " + k + " must be one line");
  }
  std::set<std::string> paths;
  for (const auto& f : r.files) {
    if (!valid_guest_path(f.path) || reserved_path(f.path)) return bad(origin, "invalid file path '" + f.path + "'");
    if (!paths.insert(f.path).second) return bad(origin, "path '" + f.path + "' given twice");
  }
  for (const auto& l : r.symlinks) {
    if (!valid_guest_path(l.path) || reserved_path(l.path)) return bad(origin, "invalid symlink path '" + l.path + "'");
    if (l.target.empty() || l.target.size() > 1024 || l.target.find('\0') != std::string::npos ||
        l.target.find('\n') != std::string::npos)
      return bad(origin, "invalid symlink target for '" + l.path + "'");
    if (!paths.insert(l.path).second) return bad(origin, "path '" + l.path + "' given twice");
  }
  for (std::size_t i = 0; i < r.archives.size(); ++i) {
    const auto& a = r.archives[i];
    const std::string field = "'archives[" + std::to_string(i) + "]";
    if (!valid_source_text(a.source))
      return bad(origin, field + ".source' must be a host path; ${NAME} needs a valid variable name and a closing '}'");
    if (!valid_guest_path(a.dest) || reserved_path(a.dest))
      return bad(origin, field + ".dest' must be an absolute guest directory outside reserved paths, got '" + a.dest + "'");
    if (!a.sha256.empty() && !valid_sha256_hex(a.sha256))
      return bad(origin, field + ".sha256' must be 64 lowercase hex digits");
  }
  for (std::size_t i = 0; i < r.binaries.size(); ++i) {
    const auto& b = r.binaries[i];
    const std::string field = "'binaries[" + std::to_string(i) + "]";
    if (!valid_source_text(b.source))
      return bad(origin, field + ".source' must be a host path; ${NAME} needs a valid variable name and a closing '}'");
    if (!valid_guest_path(b.path) || reserved_path(b.path))
      return bad(origin, field + ".path' must be an absolute guest path outside reserved paths, got '" + b.path + "'");
    if (!paths.insert(b.path).second) return bad(origin, "path '" + b.path + "' given twice");
    if (!b.sha256.empty() && !valid_sha256_hex(b.sha256))
      return bad(origin, field + ".sha256' must be 64 lowercase hex digits");
  }
  return {};
}

Result<YAML::Node> load_yaml(std::string_view text, std::string_view origin) {
  // YAML::Node converts from anything, so errors are placed explicitly.
  auto fail = [&](const std::string& what) { return Result<YAML::Node>(boost::system::in_place_error, bad(origin, what)); };
  if (text.size() > kMaxRecipeBytes) return fail("larger than 1 MiB");
  if (yaml::nesting_too_deep(text, kMaxNesting)) return fail("nested too deeply");
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return fail(std::string("YAML error: ") + e.what());
  }
}

const Recipe& defaults() {
  static const Recipe d = [] {
    Recipe r;
    for (const auto& e : detail::embedded_recipes()) {
      if (e.stem != "defaults") continue;
      auto node = load_yaml(e.yaml, "defaults");
      if (!node || !apply_yaml(r, *node, "defaults", true)) std::abort();  // build-time data: a bug if broken
    }
    return r;
  }();
  return d;
}

}  // namespace

Result<Recipe> parse_recipe(std::string_view yaml_text, std::string_view origin) {
  FIRERUN_TRY(auto root, load_yaml(yaml_text, origin));
  Recipe r = defaults();
  r.env.clear();
  try {
    FIRERUN_CHECK(apply_yaml(r, root, origin, false));
  } catch (const YAML::Exception& e) {
    return bad(origin, std::string("YAML error: ") + e.what());
  }
  // env is merged: the recipe's values win over the defaults.
  for (const auto& [k, v] : defaults().env) r.env.emplace(k, v);
  r.origin = std::string(origin);
  FIRERUN_CHECK(validate(r, origin));
  return r;
}

const std::vector<Recipe>& builtin_recipes() {
  static const std::vector<Recipe> all = [] {
    std::vector<Recipe> out;
    for (const auto& e : detail::embedded_recipes()) {
      if (e.stem == "defaults") continue;
      auto r = parse_recipe(e.yaml, "builtin");
      if (!r) std::abort();  // compiled-in data; the unit tests cover it
      out.push_back(std::move(*r));
    }
    return out;
  }();
  return all;
}

Result<std::vector<Recipe>> load_recipes(const std::vector<std::filesystem::path>& dirs) {
  std::vector<Recipe> all = builtin_recipes();
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return make_error(Errc::not_found, "recipe directory " + dir.string() + " does not exist");
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
      if (entry.path().extension() == ".yaml" && entry.is_regular_file(ec)) files.push_back(entry.path());
    if (ec) return make_error(Errc::io, "listing " + dir.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      if (!in && !in.eof()) return make_error(Errc::io, "cannot read " + file.string());
      FIRERUN_TRY(auto recipe, parse_recipe(text.str(), file.string()));
      recipe.base_dir = std::filesystem::absolute(dir, ec);
      auto same = std::find_if(all.begin(), all.end(), [&](const Recipe& r) { return r.name == recipe.name; });
      if (same != all.end())
        *same = std::move(recipe);
      else
        all.push_back(std::move(recipe));
    }
  }
  return all;
}

Result<Recipe> find_recipe(std::string_view name, const std::vector<std::filesystem::path>& dirs) {
  FIRERUN_TRY(auto all, load_recipes(dirs));
  std::string known;
  for (auto& r : all) {
    if (r.name == name) return std::move(r);
    known += known.empty() ? "" : ", ";
    known += r.name;
  }
  return make_error(Errc::not_found, "no image recipe named '" + std::string(name) + "' (known: " + known + ")");
}

std::string canonical_recipe(const Recipe& r) {
  // One "key\tvalue" line per item, every list in recipe order except where
  // order carries no meaning (sets), so equal recipes give equal text.
  std::ostringstream out;
  auto esc = [](const std::string& s) {
    std::string e;
    for (char c : s) {
      if (c == '\\' || c == '\n' || c == '\t') {
        e += '\\';
        e += c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
      } else {
        e += c;
      }
    }
    return e;
  };
  out << "name\t" << esc(r.name) << "\n";
  for (const auto& p : r.packages) out << "package\t" << esc(p) << "\n";
  std::set<std::string> excluded(r.exclude_packages.begin(), r.exclude_packages.end());
  for (const auto& p : excluded) out << "exclude\t" << esc(p) << "\n";
  for (const auto& f : r.files) out << "file\t" << esc(f.path) << "\t" << f.mode << "\t" << esc(f.content) << "\n";
  for (const auto& l : r.symlinks) out << "symlink\t" << esc(l.path) << "\t" << esc(l.target) << "\n";
  for (const auto& [k, v] : r.env) out << "env\t" << esc(k) << "\t" << esc(v) << "\n";
  for (const auto& w : r.cmdline) out << "cmdline\t" << esc(w) << "\n";
  for (const auto& p : r.prune) out << "prune\t" << esc(p) << "\n";
  out << "kernel_package\t" << esc(r.kernel_package) << "\n";
  for (const auto& m : r.modules) out << "module\t" << esc(m) << "\n";
  // Sources are named by position only: build inputs add their content digests.
  for (const auto& a : r.archives) out << "archive\t" << esc(a.dest) << "\n";
  for (const auto& b : r.binaries) out << "binary\t" << esc(b.path) << "\t" << b.mode << "\n";
  return out.str();
}

std::filesystem::path default_cache_root() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && xdg[0] == '/') return std::filesystem::path(xdg) / "firerun";
  if (const char* home = std::getenv("HOME"); home && home[0]) return std::filesystem::path(home) / ".cache" / "firerun";
  return std::filesystem::temp_directory_path() / "firerun-cache";
}

}  // namespace firerun::image
