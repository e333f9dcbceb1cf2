#include "image/cpio.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <vector>

namespace firerun::image::detail {
namespace fs = std::filesystem;
namespace {

constexpr std::uint64_t kMaxEntrySize = 0xffffffffu;  // newc sizes are 32-bit

bool valid_entry_name(std::string_view n) {
  return !n.empty() && n.size() < 4096 && n[0] != '/' && n.find('\0') == std::string_view::npos;
}

}  // namespace

Result<CpioWriter> CpioWriter::create(const fs::path& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(Errc::io, "cannot create " + path.string());
  return CpioWriter(std::move(out), path);
}

Status CpioWriter::check() {
  if (!out_) return make_error(Errc::io, "write error on " + path_.string());
  return {};
}

Status CpioWriter::pad() {
  static const char zeros[4] = {};
  std::uint64_t n = (4 - offset_ % 4) % 4;
  out_.write(zeros, static_cast<std::streamsize>(n));
  offset_ += n;
  return check();
}

Status CpioWriter::header(std::string_view name, std::uint32_t mode, std::uint64_t size, std::uint32_t rmajor,
                          std::uint32_t rminor) {
  if (!valid_entry_name(name) && name != "TRAILER!!!")
    return make_error(Errc::invalid_argument, "bad cpio entry name '" + std::string(name) + "'");
  if (size > kMaxEntrySize) return make_error(Errc::limit_exceeded, std::string(name) + " is too large for newc cpio");
  char buf[111];
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  std::snprintf(buf, sizeof buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", next_ino_++, mode, 0u,
                0u, S_ISDIR(mode) ? 2u : 1u, 0u, static_cast<std::uint32_t>(size), 0u, 0u, rmajor, rminor,
                static_cast<std::uint32_t>(name.size() + 1), 0u);
  out_.write(buf, 110);
  out_.write(name.data(), static_cast<std::streamsize>(name.size()));
  out_.put('\0');
  offset_ += 110 + name.size() + 1;
  ++entries_;
  return pad();
}

Status CpioWriter::add_directory(std::string_view name, std::uint32_t perms) {
  return header(name, S_IFDIR | (perms & 07777), 0);
}

Status CpioWriter::add_file(std::string_view name, std::uint32_t perms, std::string_view content) {
  FIRERUN_CHECK(header(name, S_IFREG | (perms & 07777), content.size()));
  out_.write(content.data(), static_cast<std::streamsize>(content.size()));
  offset_ += content.size();
  return pad();
}

Status CpioWriter::add_file_from(std::string_view name, std::uint32_t perms, const fs::path& source) {
  std::error_code ec;
  auto size = fs::file_size(source, ec);
  if (ec) return make_error(Errc::io, "stat " + source.string() + ": " + ec.message());
  std::ifstream in(source, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot open " + source.string());
  FIRERUN_CHECK(header(name, S_IFREG | (perms & 07777), size));
  std::vector<char> buf(1 << 20);
  std::uint64_t copied = 0;
  while (copied < size) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(buf.size(), size - copied)));
    auto got = static_cast<std::uint64_t>(in.gcount());
    if (got == 0) return make_error(Errc::io, source.string() + " shrank while archiving");
    out_.write(buf.data(), static_cast<std::streamsize>(got));
    copied += got;
  }
  offset_ += size;
  return pad();
}

Status CpioWriter::add_symlink(std::string_view name, std::string_view target) {
  FIRERUN_CHECK(header(name, S_IFLNK | 0777, target.size()));
  out_.write(target.data(), static_cast<std::streamsize>(target.size()));
  offset_ += target.size();
  return pad();
}

Status CpioWriter::add_char_device(std::string_view name, std::uint32_t perms, std::uint32_t major,
                                   std::uint32_t minor) {
  return header(name, S_IFCHR | (perms & 07777), 0, major, minor);
}

Status CpioWriter::add_tree(const fs::path& root) {
  std::error_code ec;
  std::vector<fs::path> children;
  for (const auto& e : fs::directory_iterator(root, ec)) children.push_back(e.path());
  if (ec) return make_error(Errc::io, "listing " + root.string() + ": " + ec.message());
  std::sort(children.begin(), children.end());
  // Iterative pre-order walk: a stack of (path, name-in-archive).
  std::vector<std::pair<fs::path, std::string>> stack;
  for (auto it = children.rbegin(); it != children.rend(); ++it) stack.emplace_back(*it, it->filename().string());
  while (!stack.empty()) {
    auto [path, name] = std::move(stack.back());
    stack.pop_back();
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return make_error(Errc::io, "lstat " + path.string());
    if (S_ISDIR(st.st_mode)) {
      FIRERUN_CHECK(add_directory(name, st.st_mode));
      std::vector<fs::path> kids;
      for (const auto& e : fs::directory_iterator(path, ec)) kids.push_back(e.path());
      if (ec) return make_error(Errc::io, "listing " + path.string() + ": " + ec.message());
      std::sort(kids.begin(), kids.end());
      for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.emplace_back(*it, name + "/" + it->filename().string());
    } else if (S_ISLNK(st.st_mode)) {
      auto target = fs::read_symlink(path, ec);
      if (ec) return make_error(Errc::io, "readlink " + path.string() + ": " + ec.message());
      FIRERUN_CHECK(add_symlink(name, target.string()));
    } else if (S_ISREG(st.st_mode)) {
      FIRERUN_CHECK(add_file_from(name, st.st_mode, path));
    }
    // Sockets, fifos and device files from packages are skipped: the agent mounts devtmpfs.
  }
  return {};
}

Status CpioWriter::finish() {
  FIRERUN_CHECK(header("TRAILER!!!", 0, 0));
  out_.flush();
  FIRERUN_CHECK(check());
  out_.close();
  return check();
}

Result<std::vector<CpioEntry>> parse_cpio(std::string_view a) {
  std::vector<CpioEntry> out;
  std::size_t off = 0;
  auto field = [&](std::size_t idx, std::uint32_t& v) {
    const char* p = a.data() + off + 6 + idx * 8;
    auto r = std::from_chars(p, p + 8, v, 16);
    return r.ec == std::errc() && r.ptr == p + 8;
  };
  auto align = [](std::size_t x) { return (x + 3) & ~std::size_t{3}; };
  while (true) {
    if (a.size() - off < 110) return make_error(Errc::invalid_argument, "truncated cpio header");
    if (a.substr(off, 6) != "070701") return make_error(Errc::invalid_argument, "bad cpio magic");
    std::uint32_t mode, filesize, rmajor, rminor, namesize;
    if (!field(1, mode) || !field(6, filesize) || !field(9, rmajor) || !field(10, rminor) || !field(11, namesize))
      return make_error(Errc::invalid_argument, "bad cpio header field");
    if (namesize == 0 || a.size() - off - 110 < namesize) return make_error(Errc::invalid_argument, "truncated cpio name");
    std::string name(a.substr(off + 110, namesize - 1));
    std::size_t data_off = align(off + 110 + namesize);
    if (name == "TRAILER!!!") return out;
    if (data_off > a.size() || a.size() - data_off < filesize)
      return make_error(Errc::invalid_argument, "truncated cpio data for " + name);
    out.push_back({name, mode, std::string(a.substr(data_off, filesize)), rmajor, rminor});
    off = align(data_off + filesize);
    if (off > a.size()) return make_error(Errc::invalid_argument, "truncated cpio padding");
  }
}

}  // namespace firerun::image::detail
