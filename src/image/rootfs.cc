#include "image/rootfs.h"

#include <sys/stat.h>

#include <deque>
#include <fstream>

namespace firerun::image::detail {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxSymlinks = 40;

std::deque<std::string> split_path(std::string_view p) {
  std::deque<std::string> parts;
  std::size_t i = 0;
  while (i < p.size()) {
    auto j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) parts.emplace_back(p.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

Result<fs::path> resolve(const fs::path& root, std::string_view guest_path, bool follow_last) {
  if (guest_path.empty() || guest_path[0] != '/')
    return make_error(Errc::invalid_argument, "guest path must be absolute: " + std::string(guest_path));
  std::deque<std::string> todo = split_path(guest_path);
  std::vector<std::string> done;  // resolved components below root
  int links = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    fs::path candidate = root;
    for (const auto& d : done) candidate /= d;
    candidate /= part;
    bool last = todo.empty();
    struct stat st;
    if ((!last || follow_last) && ::lstat(candidate.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (++links > kMaxSymlinks) return make_error(Errc::invalid_argument, "too many symlinks in " + std::string(guest_path));
      std::error_code ec;
      auto target = fs::read_symlink(candidate, ec).string();
      if (ec) return make_error(Errc::io, "readlink " + candidate.string() + ": " + ec.message());
      auto target_parts = split_path(target);
      if (!target.empty() && target[0] == '/') done.clear();
      for (auto it = target_parts.rbegin(); it != target_parts.rend(); ++it) todo.push_front(*it);
      continue;
    }
    done.push_back(std::move(part));
  }
  fs::path out = root;
  for (const auto& d : done) out /= d;
  return out;
}

Status make_parents(const fs::path& root, const fs::path& host_path) {
  std::error_code ec;
  fs::create_directories(host_path.parent_path(), ec);
  if (ec) return make_error(Errc::io, "creating " + host_path.parent_path().string() + ": " + ec.message());
  return {};
}

bool is_real_dir(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists_no_follow(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

Result<fs::path> path_in_root(const fs::path& root, std::string_view guest_path) {
  return resolve(root, guest_path, false);
}

Result<fs::path> resolve_in_root(const fs::path& root, std::string_view guest_path) {
  return resolve(root, guest_path, true);
}

Status merge_tree(const fs::path& src, const fs::path& dst, bool src_wins, std::vector<std::string>& conflicts,
                  const std::string& guest_prefix) {
  std::error_code ec;
  if (!exists_no_follow(dst)) {
    fs::rename(src, dst, ec);
    if (ec) return make_error(Errc::io, "moving " + src.string() + ": " + ec.message());
    return {};
  }
  if (!is_real_dir(dst)) {
    conflicts.push_back(guest_prefix.empty() ? "/" : guest_prefix);
    return {};
  }
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(src, ec)) entries.push_back(e.path());
  if (ec) return make_error(Errc::io, "listing " + src.string() + ": " + ec.message());
  for (const auto& from : entries) {
    const auto name = from.filename();
    const fs::path to = dst / name;
    const std::string guest = guest_prefix + "/" + name.string();
    if (!exists_no_follow(to)) {
      fs::rename(from, to, ec);
      if (ec) return make_error(Errc::io, "moving " + from.string() + ": " + ec.message());
    } else if (is_real_dir(from) && is_real_dir(to)) {
      FIRERUN_CHECK(merge_tree(from, to, src_wins, conflicts, guest));
    } else if (is_real_dir(from) || is_real_dir(to)) {
      conflicts.push_back(guest);  // a directory never gets replaced by a file or link
    } else {
      if (src_wins) {
        fs::rename(from, to, ec);  // rename(2) replaces a non-directory atomically
        if (ec) return make_error(Errc::io, "replacing " + to.string() + ": " + ec.message());
      }
      conflicts.push_back(guest);
    }
  }
  fs::remove_all(src, ec);
  if (ec) return make_error(Errc::io, "removing " + src.string() + ": " + ec.message());
  return {};
}

Status merge_usr(const fs::path& root, std::vector<std::string>& conflicts) {
  std::error_code ec;
  for (const char* dir : {"bin", "sbin", "lib", "lib64"}) {
    const fs::path top = root / dir;
    const fs::path usr = root / "usr" / dir;
    fs::create_directories(usr, ec);
    if (ec) return make_error(Errc::io, "creating " + usr.string() + ": " + ec.message());
    if (is_real_dir(top)) {
      FIRERUN_CHECK(merge_tree(top, usr, /*src_wins=*/false, conflicts, std::string("/") + dir));
      if (exists_no_follow(top)) fs::remove_all(top, ec);
    } else if (exists_no_follow(top)) {
      fs::remove(top, ec);
    }
    if (ec) return make_error(Errc::io, "clearing " + top.string() + ": " + ec.message());
    fs::create_directory_symlink(fs::path("usr") / dir, top, ec);
    if (ec) return make_error(Errc::io, "linking " + top.string() + ": " + ec.message());
  }
  return {};
}

Status remove_in_root(const fs::path& root, std::string_view guest_path) {
  FIRERUN_TRY(auto p, path_in_root(root, guest_path));
  if (p == root) return make_error(Errc::invalid_argument, "refusing to remove the guest root");
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) return make_error(Errc::io, "removing " + std::string(guest_path) + ": " + ec.message());
  return {};
}

Status write_in_root(const fs::path& root, std::string_view guest_path, std::string_view content, std::uint32_t mode) {
  FIRERUN_TRY(auto p, path_in_root(root, guest_path));
  FIRERUN_CHECK(make_parents(root, p));
  std::error_code ec;
  if (exists_no_follow(p)) fs::remove_all(p, ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) return make_error(Errc::io, "writing " + p.string());
  fs::permissions(p, static_cast<fs::perms>(mode & 07777), ec);
  if (ec) return make_error(Errc::io, "chmod " + p.string() + ": " + ec.message());
  return {};
}

Status symlink_in_root(const fs::path& root, std::string_view guest_path, std::string_view target) {
  FIRERUN_TRY(auto p, path_in_root(root, guest_path));
  FIRERUN_CHECK(make_parents(root, p));
  std::error_code ec;
  if (exists_no_follow(p)) fs::remove_all(p, ec);
  fs::create_symlink(fs::path(std::string(target)), p, ec);
  if (ec) return make_error(Errc::io, "linking " + p.string() + ": " + ec.message());
  return {};
}

Status copy_into_root(const fs::path& root, std::string_view guest_path, const fs::path& source, std::uint32_t mode) {
  FIRERUN_TRY(auto p, path_in_root(root, guest_path));
  FIRERUN_CHECK(make_parents(root, p));
  std::error_code ec;
  if (exists_no_follow(p)) fs::remove_all(p, ec);
  fs::copy_file(source, p, ec);
  if (ec) return make_error(Errc::io, "copying " + source.string() + ": " + ec.message());
  fs::permissions(p, static_cast<fs::perms>(mode & 07777), ec);
  if (ec) return make_error(Errc::io, "chmod " + p.string() + ": " + ec.message());
  return {};
}

}  // namespace firerun::image::detail
