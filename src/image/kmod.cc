#include "image/kmod.h"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace firerun::image::detail {
namespace fs = std::filesystem;
namespace {

template <class T>
bool read_at(std::string_view bytes, std::uint64_t offset, T& out) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, bytes.data() + offset, sizeof(T));
  return true;
}

Result<std::string> read_file(const fs::path& p, std::size_t cap) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot open " + p.string());
  std::string data;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    data.append(buf.data(), static_cast<std::size_t>(in.gcount()));
    if (data.size() > cap) return make_error(Errc::limit_exceeded, p.string() + " is too large");
  }
  return data;
}

}  // namespace

Result<std::map<std::string, std::string>> parse_modinfo(std::string_view elf) {
  Elf64_Ehdr eh;
  if (!read_at(elf, 0, eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return make_error(Errc::invalid_argument, "not a little-endian ELF64 object");
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum)
    return make_error(Errc::invalid_argument, "bad ELF section header table");
  auto section = [&](unsigned i, Elf64_Shdr& sh) {
    return read_at(elf, eh.e_shoff + static_cast<std::uint64_t>(i) * sizeof(Elf64_Shdr), sh) &&
           eh.e_shoff <= elf.size();
  };
  Elf64_Shdr strtab;
  if (!section(eh.e_shstrndx, strtab) || strtab.sh_offset > elf.size() || strtab.sh_size > elf.size() - strtab.sh_offset)
    return make_error(Errc::invalid_argument, "bad ELF section name table");
  std::string_view names = elf.substr(strtab.sh_offset, strtab.sh_size);
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    if (!section(i, sh)) return make_error(Errc::invalid_argument, "truncated ELF section headers");
    if (sh.sh_name >= names.size()) continue;
    auto name_end = names.find('\0', sh.sh_name);
    if (names.substr(sh.sh_name, name_end - sh.sh_name) != ".modinfo") continue;
    if (sh.sh_offset > elf.size() || sh.sh_size > elf.size() - sh.sh_offset)
      return make_error(Errc::invalid_argument, ".modinfo section out of bounds");
    std::string_view info = elf.substr(sh.sh_offset, sh.sh_size);
    std::map<std::string, std::string> out;
    std::size_t pos = 0;
    while (pos < info.size()) {
      auto end = info.find('\0', pos);
      if (end == std::string_view::npos) end = info.size();
      auto entry = info.substr(pos, end - pos);
      pos = end + 1;
      auto eq = entry.find('=');
      if (eq == std::string_view::npos || eq == 0) continue;
      out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    return out;
  }
  return make_error(Errc::not_found, "no .modinfo section");
}

std::string normalize_module_name(std::string_view name) {
  std::string n(name);
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

Result<std::map<std::string, std::string>> parse_modules_order(std::string_view text) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.find("..") != std::string_view::npos || line[0] == '/' || line.size() < 4 ||
        line.substr(line.size() - 3) != ".ko")
      return make_error(Errc::invalid_argument, "unexpected modules.order line: " + std::string(line.substr(0, 200)));
    auto slash = line.rfind('/');
    auto base = line.substr(slash == std::string_view::npos ? 0 : slash + 1);
    base.remove_suffix(3);
    out.emplace(normalize_module_name(base), std::string(line));
  }
  return out;
}

Result<std::vector<ModuleFile>> resolve_modules(const fs::path& module_dir, const std::vector<std::string>& wanted) {
  FIRERUN_TRY(auto order_text, read_file(module_dir / "modules.order", 16u << 20));
  FIRERUN_TRY(auto paths, parse_modules_order(order_text));
  std::set<std::string> builtin;
  if (auto text = read_file(module_dir / "modules.builtin", 16u << 20)) {
    FIRERUN_TRY(auto b, parse_modules_order(*text));
    for (auto& [name, _] : b) builtin.insert(name);
  }

  std::vector<ModuleFile> ordered;
  std::set<std::string> done, visiting;
  std::function<Status(const std::string&, const std::string&)> visit = [&](const std::string& name,
                                                                              const std::string& needed_by) -> Status {
    if (done.count(name) || builtin.count(name)) return {};
    if (!visiting.insert(name).second) return make_error(Errc::invalid_argument, "module dependency cycle at " + name);
    auto it = paths.find(name);
    if (it == paths.end())
      return make_error(Errc::not_found, "kernel module " + name + " not found" + (needed_by.empty() ? "" : " (needed by " + needed_by + ")"));
    FIRERUN_TRY(auto elf, read_file(module_dir / it->second, 256u << 20));
    FIRERUN_TRY(auto info, add_context(parse_modinfo(elf), "reading " + it->second));
    ModuleFile mod{name, it->second, {}};
    std::stringstream deps(info["depends"]);
    for (std::string dep; std::getline(deps, dep, ',');) {
      if (dep.empty()) continue;
      mod.depends.push_back(normalize_module_name(dep));
      FIRERUN_CHECK(visit(mod.depends.back(), name));
    }
    visiting.erase(name);
    done.insert(name);
    ordered.push_back(std::move(mod));
    return {};
  };
  for (const auto& w : wanted) FIRERUN_CHECK(visit(normalize_module_name(w), ""));
  return ordered;
}

}  // namespace firerun::image::detail
