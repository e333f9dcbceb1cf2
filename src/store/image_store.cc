// push/pull/list/exists over any ObjectStore, plus the registry plumbing.
#include "firerun/image_store.h"

#include "image/digest.h"
#include "image/store.h"
#include "store/index.h"
#include "store/object_store.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

namespace firerun::store {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxIndexBytes = 1u << 20;
constexpr const char* kLatest = "latest";

std::string unique_suffix() {
  static std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

Status check_name(std::string_view name) {
  if (!valid_image_name(name))
    return make_error(Errc::invalid_argument, "image name '" + std::string(name) + "' must match [a-z0-9][a-z0-9._-]{0,63}");
  return {};
}

Status check_hash(std::string_view hash) {
  if (!valid_image_hash(hash))
    return make_error(Errc::invalid_argument, "image hash '" + std::string(hash).substr(0, 80) + "' is not 64 lowercase hex digits");
  return {};
}

std::string index_key(std::string_view name, std::string_view hash) {
  return std::string(name) + "/" + std::string(hash) + "/" + image::detail::kCompletionFile;
}

Status io_error(const std::string& what, int err) { return make_error(Errc::io, what + ": " + std::strerror(err)); }

// Removes a directory tree when it goes out of scope, unless released.
class ScopedDir {
 public:
  explicit ScopedDir(fs::path path) : path_(std::move(path)) {}
  ScopedDir(const ScopedDir&) = delete;
  ScopedDir& operator=(const ScopedDir&) = delete;
  ~ScopedDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Streams one artifact into a new file, counting and hashing as it goes, so a
// corrupted or oversized object is caught before anything is renamed into the cache.
class VerifyingFileWriter {
 public:
  VerifyingFileWriter(fs::path path, const IndexedArtifact& expected) : path_(std::move(path)), expected_(expected) {}
  VerifyingFileWriter(const VerifyingFileWriter&) = delete;
  VerifyingFileWriter& operator=(const VerifyingFileWriter&) = delete;
  ~VerifyingFileWriter() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) return io_error("creating " + path_.string(), errno);
    hasher_.emplace();
    return {};
  }

  ObjectSink sink(const std::string& location) {
    return ObjectSink{[this, location](std::string_view chunk) { return write(chunk, location); },
                      [this] { return restart(); }};
  }

  /// Size and sha256 match the index; the file is flushed to disk.
  Status finish(const std::string& location) {
    if (written_ != expected_.size)
      return mismatch(location, "has " + std::to_string(written_) + " bytes, the index records " +
                                    std::to_string(expected_.size));
    const std::string actual = hasher_->hex_final();
    if (actual != expected_.sha256)
      return mismatch(location, "has sha256 " + actual + ", the index records " + expected_.sha256);
    if (::fsync(fd_) != 0) return io_error("flushing " + path_.string(), errno);
    return {};
  }

 private:
  Status write(std::string_view chunk, const std::string& location) {
    if (written_ + chunk.size() > expected_.size)
      return mismatch(location, "is larger than the " + std::to_string(expected_.size) + " bytes the index records");
    while (!chunk.empty()) {
      ssize_t n = ::write(fd_, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return io_error("writing " + path_.string(), errno);
      hasher_->update(chunk.substr(0, static_cast<std::size_t>(n)));
      written_ += static_cast<std::uint64_t>(n);
      chunk.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  Status restart() {
    if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) return io_error("truncating " + path_.string(), errno);
    hasher_.emplace();
    written_ = 0;
    return {};
  }

  Status mismatch(const std::string& location, const std::string& problem) const {
    return make_error(Errc::bad_state, "integrity check failed: " + location + " " + problem +
                                           " (the stored object is corrupt or was replaced; nothing was installed)");
  }

  fs::path path_;
  const IndexedArtifact& expected_;
  int fd_ = -1;
  std::optional<image::detail::Hasher> hasher_;
  std::uint64_t written_ = 0;
};

Result<std::string> read_small_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, "reading " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxIndexBytes) return make_error(Errc::limit_exceeded, path.string() + " is too large");
  return text.str();
}

// Atomic symlink swap, so `firerun run` and find_image() pick the pulled image.
Status point_current(const fs::path& image_dir, const std::string& hash) {
  fs::path tmp = image_dir / (".current-" + unique_suffix());
  std::error_code ec;
  fs::create_symlink(hash, tmp, ec);
  if (!ec) fs::rename(tmp, image_dir / "current", ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return make_error(Errc::io, "updating " + (image_dir / "current").string() + ": " + ec.message());
  }
  return {};
}

class ObjectImageStore final : public ImageStore {
 public:
  ObjectImageStore(std::unique_ptr<ObjectStore> objects, std::string uri)
      : objects_(std::move(objects)), uri_(std::move(uri)) {}

  std::string uri() const override { return uri_; }

  Status push(const image::Image& img) override {
    const std::string what = "pushing image " + img.name + " to " + uri_;
    FIRERUN_CHECK(add_context(check_name(img.name), what));
    FIRERUN_TRY(auto local, add_context(image::open_image(img.dir), what + ": verifying the local image"));
    FIRERUN_TRY(auto index_text, add_context(read_small_file(local.dir / image::detail::kCompletionFile), what));
    FIRERUN_TRY(auto artifacts,
                add_context(parse_image_index(index_text, local.name, local.hash, local.dir.string()), what));
    const std::string index = index_key(local.name, local.hash);

    // The index is written after the artifacts, so an identical index means a complete earlier push.
    FIRERUN_TRY(bool have_index, add_context(objects_->exists(index), what));
    bool already_complete = false;
    if (have_index) {
      auto remote = objects_->get_bytes(index, kMaxIndexBytes);
      already_complete = remote && *remote == index_text;
    }
    if (!already_complete) {
      for (const auto& a : artifacts) {
        const std::string key = local.name + "/" + local.hash + "/" + a.file;
        FIRERUN_CHECK(add_context(objects_->put_file(key, local.dir / a.file), what));
      }
      FIRERUN_CHECK(add_context(objects_->put_bytes(index, index_text), what));
    }
    return add_context(objects_->put_bytes(local.name + "/" + kLatest, local.hash + "\n"), what);
  }

  Result<image::Image> pull(std::string_view name_view, std::string_view wanted,
                            const fs::path& cache_root) override {
    const std::string name(name_view);
    const std::string what = "pulling image " + name + "@" + std::string(wanted).substr(0, 80) + " from " + uri_;
    FIRERUN_CHECK(add_context(check_name(name), what));
    std::string hash(wanted);
    if (hash.empty() || hash == kLatest) {
      FIRERUN_TRY(hash, add_context(resolve_latest(name), what));
    }
    FIRERUN_CHECK(add_context(check_hash(hash), what));
    const std::string index = index_key(name, hash);
    FIRERUN_TRY(auto index_text, add_context(objects_->get_bytes(index, kMaxIndexBytes), what));
    FIRERUN_TRY(auto artifacts, add_context(parse_image_index(index_text, name, hash, objects_->location(index)), what));

    std::error_code ec;
    const fs::path root = fs::absolute(cache_root.empty() ? image::default_cache_root() : cache_root, ec);
    const fs::path image_dir = root / "images" / name;
    fs::create_directories(image_dir, ec);
    if (ec) return make_error(Errc::io, "creating " + image_dir.string() + ": " + ec.message()).with_context(what);
    FIRERUN_TRY(auto lock, add_context(image::detail::FileLock::acquire(image_dir / ".lock"), what));

    const fs::path entry = image_dir / hash;
    if (fs::exists(entry, ec)) {
      auto cached = image::open_image(entry);
      if (cached) {
        FIRERUN_CHECK(add_context(point_current(image_dir, hash), what));
        cached->from_cache = true;
        return cached;
      }
      spdlog::warn("replacing broken cache entry {}: {}", entry.string(), cached.error().what());
      const fs::path aside = image_dir / (".broken-" + unique_suffix());
      fs::rename(entry, aside, ec);
      if (ec) return make_error(Errc::io, "moving aside " + entry.string() + ": " + ec.message()).with_context(what);
      fs::remove_all(aside, ec);
    }

    // ".build-" so the image builder also sweeps it up if this process dies mid-download.
    ScopedDir temp(image_dir / (".build-pull-" + unique_suffix()));
    const fs::path staged = temp.path() / hash;  // named like the entry: open_image() checks the name
    fs::create_directories(staged, ec);
    if (ec) return make_error(Errc::io, "creating " + staged.string() + ": " + ec.message()).with_context(what);
    for (const auto& a : artifacts) {
      const std::string key = name + "/" + hash + "/" + a.file;
      const std::string location = objects_->location(key);
      VerifyingFileWriter writer(staged / a.file, a);
      FIRERUN_CHECK(add_context(writer.open(), what));
      FIRERUN_CHECK(add_context(objects_->get(key, writer.sink(location)), what));
      FIRERUN_CHECK(add_context(writer.finish(location), what));
    }
    FIRERUN_CHECK(add_context(image::detail::write_atomically(staged / image::detail::kCompletionFile, index_text), what));
    FIRERUN_TRY(auto img, add_context(image::open_image(staged), what + ": verifying the downloaded image"));

    fs::rename(staged, entry, ec);
    if (ec) return make_error(Errc::io, "installing " + entry.string() + ": " + ec.message()).with_context(what);
    FIRERUN_CHECK(add_context(point_current(image_dir, hash), what));
    img.dir = entry;
    img.kernel = entry / "vmlinuz";
    img.initrd = entry / "initrd.cpio";
    img.manifest = entry / "manifest.json";
    img.from_cache = false;
    return img;
  }

  Result<std::vector<RemoteImage>> list(std::string_view name_view) override {
    const std::string name(name_view);
    const std::string what = "listing image " + name + " in " + uri_;
    FIRERUN_CHECK(add_context(check_name(name), what));
    FIRERUN_TRY(auto keys, add_context(objects_->list(name + "/"), what));
    std::string latest;
    if (auto l = resolve_latest(name)) latest = *l;
    else if (l.error() != Errc::not_found) return std::move(l).error().with_context(what);
    const std::string suffix = std::string("/") + image::detail::kCompletionFile;
    std::vector<RemoteImage> out;
    for (const auto& key : keys) {
      std::string_view k = key;
      if (!k.starts_with(name + "/") || !k.ends_with(suffix)) continue;
      k.remove_prefix(name.size() + 1);
      k.remove_suffix(suffix.size());
      if (!valid_image_hash(k)) continue;
      out.push_back({name, std::string(k), k == latest});
    }
    std::sort(out.begin(), out.end(), [](const RemoteImage& a, const RemoteImage& b) {
      return a.latest != b.latest ? a.latest : a.hash < b.hash;
    });
    return out;
  }

  Result<bool> exists(std::string_view name, std::string_view hash) override {
    const std::string what = "looking up image " + std::string(name) + " in " + uri_;
    FIRERUN_CHECK(add_context(check_name(name), what));
    FIRERUN_CHECK(add_context(check_hash(hash), what));
    return add_context(objects_->exists(index_key(name, hash)), what);
  }

 private:
  Result<std::string> resolve_latest(const std::string& name) {
    const std::string key = name + "/" + kLatest;
    FIRERUN_TRY(auto text, objects_->get_bytes(key, 256));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    if (!valid_image_hash(text))
      return make_error(Errc::bad_state, objects_->location(key) + " does not hold an image hash");
    return text;
  }

  std::unique_ptr<ObjectStore> objects_;
  std::string uri_;
};

}  // namespace

std::string uri_for_messages(std::string_view uri) {
  std::string out(uri.substr(0, 200));
  auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    auto authority_end = out.find_first_of("/?#", scheme + 3);
    auto at = out.rfind('@', authority_end == std::string::npos ? out.size() : authority_end);
    if (at != std::string::npos && at > scheme) out.replace(scheme + 3, at - scheme - 3, "<redacted>");
  } else if (auto at = out.find('@'); at != std::string::npos) {
    out = "<redacted>" + out.substr(at);
  }
  return out;
}

std::unique_ptr<ImageStore> make_object_image_store(std::unique_ptr<ObjectStore> objects, std::string uri) {
  return std::make_unique<ObjectImageStore>(std::move(objects), std::move(uri));
}

Status register_builtin_image_stores(ImageStoreRegistry& registry) {
  FIRERUN_CHECK(registry.add(make_file_store_factory()));
  FIRERUN_CHECK(registry.add(make_s3_store_factory()));
  return {};
}

Result<std::unique_ptr<ImageStore>> open_image_store(const ImageStoreRegistry& registry, std::string_view uri) {
  std::string full(uri);
  if (full.starts_with("/")) full = "file://" + full;
  if (full.find("://") == std::string::npos)
    return make_error(Errc::invalid_argument,
                      "image store '" + uri_for_messages(full) + "' is neither a URI (file://, s3://) nor an absolute path");
  FIRERUN_TRY(auto factory, add_context(registry.find(full), "opening image store"));
  return factory->open(full);
}

}  // namespace firerun::store
