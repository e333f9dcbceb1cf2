#include "image/store.h"

#include "image/digest.h"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace firerun::image {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace detail {
namespace {

constexpr const char* kArtifacts[] = {"vmlinuz", "initrd.cpio", "manifest.json"};

}  // namespace

Status write_atomically(const fs::path& path, std::string_view content) {
  std::random_device rd;
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::io, "creating " + tmp.string() + ": " + std::strerror(errno));
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(Errc::io, "writing " + tmp.string() + ": " + std::strerror(err));
    }
    off += static_cast<std::size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return make_error(Errc::io, "storing " + path.string() + ": " + std::strerror(err));
  }
  return {};
}

Status write_completion_record(const fs::path& dir, const Image& image) {
  json::object artifacts;
  for (const char* name : kArtifacts) {
    std::error_code ec;
    auto size = fs::file_size(dir / name, ec);
    if (ec) return make_error(Errc::io, "stat " + (dir / name).string() + ": " + ec.message());
    FIRERUN_TRY(auto digest, file_digest_hex(dir / name));
    artifacts[name] = json::object{{"size", size}, {"sha256", digest}};
  }
  json::object record{{"format", kBuilderFormatVersion},
                      {"name", image.name},
                      {"hash", image.hash},
                      {"kernel_release", image.kernel_release},
                      {"cmdline", image.cmdline},
                      {"artifacts", std::move(artifacts)}};
  return write_atomically(dir / kCompletionFile, json::serialize(record) + "\n");
}

Result<FileLock> FileLock::acquire(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::io, "opening lock " + path.string() + ": " + std::strerror(errno));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    return make_error(Errc::io, "locking " + path.string() + ": " + std::strerror(err));
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace detail

namespace {

Result<std::string> string_field(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return make_error(Errc::bad_state, std::string("completion record lacks '") + key + "'");
  return std::string(v->as_string());
}

}  // namespace

Result<Image> open_image(const fs::path& entry_dir) {
  const std::string where = "image entry " + entry_dir.string();
  std::ifstream in(entry_dir / detail::kCompletionFile, std::ios::binary);
  if (!in) return make_error(Errc::not_found, where + " has no completion record (partial or missing build)");
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) return make_error(Errc::bad_state, where + ": completion record too large");
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) return make_error(Errc::bad_state, where + ": completion record is not valid JSON");
  const auto& rec = v.as_object();
  auto* format = rec.if_contains("format");
  if (!format || !format->is_int64() || format->as_int64() != detail::kBuilderFormatVersion)
    return make_error(Errc::bad_state, where + ": built by a different builder format");
  Image img;
  FIRERUN_TRY(img.name, add_context(string_field(rec, "name"), where));
  FIRERUN_TRY(img.hash, add_context(string_field(rec, "hash"), where));
  FIRERUN_TRY(img.kernel_release, add_context(string_field(rec, "kernel_release"), where));
  FIRERUN_TRY(img.cmdline, add_context(string_field(rec, "cmdline"), where));
  if (img.hash != entry_dir.filename().string())
    return make_error(Errc::bad_state, where + ": completion record names another hash");
  auto* artifacts = rec.if_contains("artifacts");
  if (!artifacts || !artifacts->is_object()) return make_error(Errc::bad_state, where + ": no artifact list");
  for (const char* name : detail::kArtifacts) {
    auto* a = artifacts->as_object().if_contains(name);
    if (!a || !a->is_object()) return make_error(Errc::bad_state, where + ": artifact " + name + " not recorded");
    auto* size = a->as_object().if_contains("size");
    auto* sha = a->as_object().if_contains("sha256");
    if (!size || !(size->is_int64() || size->is_uint64()) || !sha || !sha->is_string())
      return make_error(Errc::bad_state, where + ": artifact " + name + " record malformed");
    std::error_code fec;
    auto actual = fs::file_size(entry_dir / name, fec);
    if (fec) return make_error(Errc::bad_state, where + ": " + name + " is missing");
    if (actual != size->to_number<std::uint64_t>())
      return make_error(Errc::bad_state, where + ": " + name + " has size " + std::to_string(actual) + ", expected " +
                                             std::to_string(size->to_number<std::uint64_t>()));
    // Verified once per file version: find_image() is on every VM start and
    // on /readyz, and hashing ~100 MB each time is not free.
    FIRERUN_TRY(auto digest, detail::cached_file_digest_hex(entry_dir / name));
    if (digest != std::string_view(sha->as_string()))
      return make_error(Errc::bad_state, where + ": " + name + " content does not match its sha256");
  }
  img.dir = entry_dir;
  img.kernel = entry_dir / "vmlinuz";
  img.initrd = entry_dir / "initrd.cpio";
  img.manifest = entry_dir / "manifest.json";
  return img;
}

Result<Image> find_image(std::string_view name, const fs::path& cache_root) {
  fs::path root = cache_root.empty() ? default_cache_root() : cache_root;
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..")
    return make_error(Errc::invalid_argument, "bad image name '" + std::string(name) + "'");
  fs::path current = root / "images" / std::string(name) / "current";
  std::error_code ec;
  auto target = fs::read_symlink(current, ec);
  if (ec)
    return make_error(Errc::not_found, "image '" + std::string(name) + "' is not built in " + root.string() +
                                           " (run 'firerun image build " + std::string(name) + "')");
  if (target.has_parent_path() || target.empty())
    return make_error(Errc::bad_state, current.string() + " points outside the image directory");
  return open_image(current.parent_path() / target);
}

Result<Image> find_image_for_agent(std::string_view name, const fs::path& agent_path, const fs::path& cache_root) {
  FIRERUN_TRY(Image img, find_image(name, cache_root));
  FIRERUN_TRY(std::string want, detail::file_digest_hex(agent_path));
  std::ifstream in(img.manifest, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value manifest = json::parse(text.str(), ec);
  const json::value* have = (!ec && manifest.is_object()) ? manifest.as_object().if_contains("agent_sha256") : nullptr;
  if (!have || !have->is_string() || have->as_string() != want)
    return make_error(Errc::not_found, "cached image '" + std::string(name) + "' was built with another firerun-agent");
  return img;
}

}  // namespace firerun::image
