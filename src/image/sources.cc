#include "image/sources.h"

#include "image/command.h"
#include "image/digest.h"
#include "image/rootfs.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

namespace firerun::image::detail {
namespace fs = std::filesystem;
namespace {

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// tar's decompression flag for a supported file name; nullptr if unsupported.
// Chosen by name rather than sniffed so a mislabelled file fails loudly.
const char* compression_flag(const fs::path& archive) {
  const std::string name = lowercase(archive.filename().string());
  if (ends_with(name, ".tar.gz") || ends_with(name, ".tgz")) return "--gzip";
  if (ends_with(name, ".tar.xz") || ends_with(name, ".txz")) return "--xz";
  if (ends_with(name, ".tar")) return "";
  return nullptr;
}

std::vector<std::string> tar_argv(const fs::path& archive, std::initializer_list<std::string> mode) {
  std::vector<std::string> argv{"tar"};
  argv.insert(argv.end(), mode.begin(), mode.end());
  // Non-printable bytes in names are shown as escapes, so every member is one line.
  argv.insert(argv.end(), {"--quoting-style=escape", "--file", archive.string()});
  if (const char* flag = compression_flag(archive); flag && *flag) argv.push_back(flag);
  return argv;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(std::move(line));
  return out;
}

std::string shorten(const std::string& s) { return s.size() > 200 ? s.substr(0, 200) + "..." : s; }

bool climbs_out(std::string_view member) {
  if (!member.empty() && member[0] == '/') return true;
  std::size_t start = 0;
  while (start <= member.size()) {
    auto end = member.find('/', start);
    if (end == std::string_view::npos) end = member.size();
    if (member.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

// GNU tar already skips ".." members and strips a leading "/", but silently
// rewriting a runner's paths would give a broken image: refuse instead.
Status check_members(const fs::path& archive) {
  const std::string what = "archive " + archive.string();
  FIRERUN_TRY(auto names, add_context(run_command(tar_argv(archive, {"--list"})), "listing " + what));
  for (const auto& name : lines_of(names.stdout_data))
    if (climbs_out(name))
      return make_error(Errc::invalid_argument, what + " has member '" + shorten(name) +
                                                    "' with an absolute or '..' path; members must stay inside dest");
  FIRERUN_TRY(auto listing, add_context(run_command(tar_argv(archive, {"--list", "--verbose", "--numeric-owner"})),
                                        "listing " + what));
  // The first character of a verbose line is the member type, as in ls -l;
  // device nodes, fifos and sockets have no business in a runner archive.
  for (const auto& line : lines_of(listing.stdout_data))
    if (std::string_view("-dlh").find(line[0]) == std::string_view::npos)
      return make_error(Errc::invalid_argument,
                        what + " has a member that is not a file, directory or link: " + shorten(line));
  return {};
}

// Defence in depth: whatever tar wrote must be plain files, directories and links.
Status check_extracted(const fs::path& staging, const fs::path& archive) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(staging, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)))
      return make_error(Errc::invalid_argument, "archive " + archive.string() + " produced a special file " +
                                                    fs::relative(it->path(), staging).string());
  }
  if (ec) return make_error(Errc::io, "walking " + staging.string() + ": " + ec.message());
  return {};
}

bool is_directory_no_follow(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Moves staged entries into the guest tree the way tar run inside the guest
// would place them: guest symlinks on the way (e.g. /bin -> usr/bin) are
// followed, always within `root`. Directory/non-directory clashes are errors
// rather than silently dropped runner files.
Status place_tree(const fs::path& staged_dir, const fs::path& root, const std::string& guest_dir,
                  std::vector<std::string>& conflicts) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(staged_dir, ec)) entries.push_back(e.path());
  if (ec) return make_error(Errc::io, "listing " + staged_dir.string() + ": " + ec.message());
  std::sort(entries.begin(), entries.end());
  for (const auto& from : entries) {
    const std::string guest = (guest_dir == "/" ? "" : guest_dir) + "/" + from.filename().string();
    if (is_directory_no_follow(from)) {
      FIRERUN_TRY(auto target, resolve_in_root(root, guest));
      struct stat st;
      if (::lstat(target.c_str(), &st) != 0) {  // new to the image: the whole subtree moves at once
        fs::create_directories(target.parent_path(), ec);
        if (!ec) fs::rename(from, target, ec);
        if (ec) return make_error(Errc::io, "moving " + from.string() + " to " + target.string() + ": " + ec.message());
        continue;
      }
      if (!S_ISDIR(st.st_mode)) {
        return make_error(Errc::invalid_argument, guest + " is a directory in the archive but not in the image");
      }
      FIRERUN_CHECK(place_tree(from, root, guest, conflicts));
      continue;
    }
    FIRERUN_TRY(auto target, path_in_root(root, guest));
    struct stat st;
    if (::lstat(target.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode))
        return make_error(Errc::invalid_argument, guest + " is a directory in the image but not in the archive");
      conflicts.push_back(guest);  // the archive wins, as a later package does
    }
    fs::rename(from, target, ec);  // replaces a non-directory atomically
    if (ec) return make_error(Errc::io, "moving " + from.string() + " to " + target.string() + ": " + ec.message());
  }
  return {};
}

}  // namespace

Result<std::string> expand_env_refs(std::string_view text, std::string_view key) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto at = text.find("${", pos);
    if (at == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    auto close = text.find('}', at + 2);
    if (close == std::string_view::npos)
      return make_error(Errc::invalid_argument, std::string(key) + ": unterminated '${' in '" + std::string(text) + "'");
    out.append(text.substr(pos, at - pos));
    const std::string name(text.substr(at + 2, close - at - 2));
    const char* value = std::getenv(name.c_str());
    if (!value || !*value)
      return make_error(Errc::invalid_argument, std::string(key) + ": environment variable " + name + " is not set");
    out.append(value);
    pos = close + 1;
  }
  return out;
}

Result<std::vector<ResolvedSource>> resolve_sources(const Recipe& recipe) {
  struct Wanted {
    std::string key;
    const std::string* source;
    const std::string* sha256;
    bool archive;
  };
  std::vector<Wanted> wanted;
  for (std::size_t i = 0; i < recipe.archives.size(); ++i)
    wanted.push_back({"archives[" + std::to_string(i) + "]", &recipe.archives[i].source, &recipe.archives[i].sha256, true});
  for (std::size_t i = 0; i < recipe.binaries.size(); ++i)
    wanted.push_back({"binaries[" + std::to_string(i) + "]", &recipe.binaries[i].source, &recipe.binaries[i].sha256, false});

  const std::string where = "recipe " + recipe.origin + ": ";
  std::vector<ResolvedSource> out;
  for (const auto& w : wanted) {
    const std::string field = w.key + ".source";
    FIRERUN_TRY(auto expanded, add_context(expand_env_refs(*w.source, field), "recipe " + recipe.origin));
    fs::path path(expanded);
    if (path.is_relative() && !recipe.base_dir.empty()) path = recipe.base_dir / path;
    path = path.lexically_normal();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      return make_error(Errc::not_found, where + field + ": " + path.string() +
                                             (fs::exists(path, ec) ? " is not a regular file" : " not found"));
    if (w.archive && !compression_flag(path))
      return make_error(Errc::invalid_argument, where + field + ": " + path.string() +
                                                    " is not a supported archive (.tar, .tar.gz, .tgz, .tar.xz, .txz)");
    FIRERUN_TRY(auto digest, add_context(file_digest_hex(path), where + field));
    if (!w.sha256->empty() && digest != *w.sha256)
      return make_error(Errc::invalid_argument, where + w.key + ".sha256: " + path.string() + " has sha256 " + digest +
                                                    ", the recipe expects " + *w.sha256);
    out.push_back({w.key, std::move(path), std::move(digest)});
  }
  return out;
}

Status unpack_archive(const fs::path& root, std::string_view dest, const fs::path& archive, const fs::path& staging,
                      std::vector<std::string>& conflicts) {
  if (!compression_flag(archive))
    return make_error(Errc::invalid_argument, "unsupported archive " + archive.string());
  FIRERUN_CHECK(check_members(archive));
  std::error_code ec;
  if (!fs::create_directory(staging, ec) || ec)
    return make_error(Errc::io, "creating " + staging.string() + (ec ? ": " + ec.message() : ": already exists"));
  struct RemoveStaging {
    const fs::path& path;
    ~RemoveStaging() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } remove_staging{staging};  // on success it is empty; on failure it must not linger
  fs::permissions(staging, fs::perms(0755), ec);
  // --no-same-owner: the cpio records root anyway; permissions are kept so
  // executables stay executable. GNU tar defers symlinks that point outside
  // the tree until the end, so no member is ever written through one.
  FIRERUN_CHECK(add_context(run_command(tar_argv(archive, {"--extract", "--directory", staging.string(), "--no-same-owner",
                                                           "--preserve-permissions", "--delay-directory-restore"})),
                            "extracting archive " + archive.string()));
  FIRERUN_CHECK(check_extracted(staging, archive));

  FIRERUN_TRY(auto target, resolve_in_root(root, dest));
  struct stat st;
  if (::lstat(target.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    return make_error(Errc::invalid_argument, "dest " + std::string(dest) + " exists in the image and is not a directory");
  fs::create_directories(target, ec);
  if (ec) return make_error(Errc::io, "creating " + target.string() + ": " + ec.message());
  return place_tree(staging, root, std::string(dest), conflicts);
}

}  // namespace firerun::image::detail
