// file:///dir — objects are files under a directory (local disk, NFS, ...).
// Writes go to a temp file beside the target and are renamed into place.
#include "image/store.h"
#include "store/object_store.h"

#include <boost/url/parse.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace firerun::store {
namespace fs = std::filesystem;

namespace {

std::string unique_suffix() {
  static std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

Status errno_error(Errc code, const std::string& what, int err) {
  return make_error(code, what + ": " + std::strerror(err));
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Status write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error(Errc::io, "writing " + path.string(), errno);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

class FileObjectStore final : public ObjectStore {
 public:
  explicit FileObjectStore(fs::path root) : root_(std::move(root)) {}

  std::string location(std::string_view key) const override { return (root_ / std::string(key)).string(); }

  Status put_file(std::string_view key, const fs::path& file) override {
    const fs::path target = root_ / std::string(key);
    FIRERUN_CHECK(make_parent(target));
    FdCloser in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) return errno_error(Errc::io, "opening " + file.string(), errno);
    fs::path tmp = target;
    tmp += ".tmp-" + unique_suffix();
    Status copied = [&]() -> Status {
      FdCloser out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (out.get() < 0) return errno_error(Errc::io, "creating " + tmp.string(), errno);
      std::string buffer(1u << 20, '\0');
      for (;;) {
        ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error(Errc::io, "reading " + file.string(), errno);
        if (n == 0) break;
        FIRERUN_CHECK(write_all(out.get(), std::string_view(buffer.data(), static_cast<std::size_t>(n)), tmp));
      }
      if (::fsync(out.get()) != 0) return errno_error(Errc::io, "flushing " + tmp.string(), errno);
      if (::rename(tmp.c_str(), target.c_str()) != 0) return errno_error(Errc::io, "storing " + target.string(), errno);
      return {};
    }();
    if (!copied) ::unlink(tmp.c_str());
    return copied;
  }

  Status put_bytes(std::string_view key, std::string_view bytes) override {
    const fs::path target = root_ / std::string(key);
    FIRERUN_CHECK(make_parent(target));
    return image::detail::write_atomically(target, bytes);
  }

  Status get(std::string_view key, const ObjectSink& sink) override {
    const fs::path path = root_ / std::string(key);
    FdCloser in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0)
      return errno_error(errno == ENOENT ? Errc::not_found : Errc::io, "object " + path.string(), errno);
    std::string buffer(1u << 20, '\0');
    for (;;) {
      ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error(Errc::io, "reading " + path.string(), errno);
      if (n == 0) return {};
      FIRERUN_CHECK(sink.write(std::string_view(buffer.data(), static_cast<std::size_t>(n))));
    }
  }

  Result<std::string> get_bytes(std::string_view key, std::size_t max_bytes) override {
    std::string out;
    ObjectSink sink{[&](std::string_view chunk) -> Status {
                      if (out.size() + chunk.size() > max_bytes)
                        return make_error(Errc::limit_exceeded, location(key) + " is larger than " +
                                                                     std::to_string(max_bytes) + " bytes");
                      out.append(chunk);
                      return {};
                    },
                    [&]() -> Status {
                      out.clear();
                      return {};
                    }};
    FIRERUN_CHECK(get(key, sink));
    return out;
  }

  Result<bool> exists(std::string_view key) override {
    std::error_code ec;
    bool found = fs::is_regular_file(root_ / std::string(key), ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
      return make_error(Errc::io, "checking " + location(key) + ": " + ec.message());
    return found;
  }

  Result<std::vector<std::string>> list(std::string_view prefix) override {
    // Keys are "<dir>/<dir>/<file>"; walk the directory part of the prefix.
    std::string_view dir_part = prefix.substr(0, prefix.rfind('/') == std::string_view::npos ? 0 : prefix.rfind('/'));
    const fs::path start = root_ / std::string(dir_part);
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::is_directory(start, ec)) return out;
    fs::recursive_directory_iterator it(start, fs::directory_options::none, ec), end;
    if (ec) return make_error(Errc::io, "listing " + start.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return make_error(Errc::io, "listing " + start.string() + ": " + ec.message());
      if (!it->is_regular_file(ec)) continue;
      std::string key = it->path().lexically_relative(root_).generic_string();
      if (ec) continue;
      if (key.find(".tmp-") != std::string::npos) continue;  // a write in progress
      if (key.starts_with(prefix)) out.push_back(std::move(key));
    }
    return out;
  }

 private:
  Status make_parent(const fs::path& target) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return make_error(Errc::io, "creating " + target.parent_path().string() + ": " + ec.message());
    return {};
  }

  fs::path root_;
};

class FileStoreFactory final : public ImageStoreFactory {
 public:
  BackendInfo info() const override {
    return {"file", "images in a directory (local disk, NFS): file:///path", "stable", {}};
  }

  Result<std::unique_ptr<ImageStore>> open(std::string_view uri) const override {
    auto bad = [&](std::string why) {
      return make_error(Errc::invalid_argument, "image store URI '" + uri_for_messages(uri) + "': " + why);
    };
    auto parsed = boost::urls::parse_uri(uri);
    if (!parsed) return bad("not a valid URI");
    if (parsed->scheme() != "file") return bad("not a file:// URI");
    if (parsed->has_userinfo()) return bad("file:// stores take no credentials");
    if (parsed->has_authority() && !parsed->host().empty() && parsed->host() != "localhost")
      return bad("remote hosts are not supported (use file:///path)");
    if (parsed->has_query() || parsed->has_fragment()) return bad("file:// stores take no parameters");
    std::string path = parsed->path();  // percent-decoded
    if (path.empty() || path.front() != '/') return bad("the path must be absolute (file:///path)");
    if (path.find('\0') != std::string::npos) return bad("NUL in path");
    fs::path root = fs::path(path).lexically_normal();
    return make_object_image_store(make_file_object_store(root), "file://" + root.string());
  }
};

}  // namespace

std::unique_ptr<ObjectStore> make_file_object_store(fs::path root) {
  return std::make_unique<FileObjectStore>(std::move(root));
}

std::shared_ptr<ImageStoreFactory> make_file_store_factory() { return std::make_shared<FileStoreFactory>(); }

}  // namespace firerun::store
