// Helpers for the image-store tests: temp dirs, synthetic cache entries, and
// an s3rver (npm) process on 127.0.0.1 with a random port.
#pragma once

#include "firerun/image.h"
#include "image/store.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace firerun::store::testing {
namespace fs = std::filesystem;

/// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "firerun-store-test-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    if (!made) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// Writes `size` bytes of a cheap deterministic pattern (differs per seed).
inline void write_pattern_file(const fs::path& path, std::uint64_t size, std::uint64_t seed) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::vector<std::uint64_t> block(1u << 17);  // 1 MiB
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  std::uint64_t left = size;
  while (left > 0) {
    for (auto& w : block) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      w = x;
    }
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size() * 8));
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    left -= n;
  }
}

/// A complete, verifiable (though unbootable) cache entry <cache>/images/<name>/<hash>.
inline image::Image make_synthetic_image(const fs::path& cache, const std::string& name, std::uint64_t initrd_size,
                                         std::uint64_t seed = 1) {
  char hash[65];
  for (int i = 0; i < 64; ++i) hash[i] = "0123456789abcdef"[(seed * 7 + static_cast<std::uint64_t>(i) * 13) % 16];
  hash[64] = 0;
  image::Image img;
  img.name = name;
  img.hash = hash;
  img.dir = cache / "images" / name / img.hash;
  img.kernel_release = "6.1.0-test";
  img.cmdline = "rdinit=/init";
  fs::create_directories(img.dir);
  write_pattern_file(img.dir / "vmlinuz", 1u << 20, seed + 100);
  write_pattern_file(img.dir / "initrd.cpio", initrd_size, seed);
  std::ofstream(img.dir / "manifest.json") << "{\"synthetic\":true,\"seed\":" << seed << "}\n";
  auto rec = image::detail::write_completion_record(img.dir, img);
  if (!rec) throw std::runtime_error(rec.error().what());
  img.kernel = img.dir / "vmlinuz";
  img.initrd = img.dir / "initrd.cpio";
  img.manifest = img.dir / "manifest.json";
  return img;
}

/// Every path under `dir` (for "nothing was left behind" checks).
inline std::vector<std::string> tree(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir)) out.push_back(e.path().lexically_relative(dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return std::nullopt;
}

/// s3rver (an S3-compatible server on npm) installed once into `install_dir` and run
/// on 127.0.0.1:<random port> with its data in a temp dir; stopped by the destructor.
class S3rver {
 public:
  // A maintained fork of s3rver that, unlike s3rver 3.x, verifies SigV4 signatures.
  static constexpr const char* kPackage = "@20minutes/s3rver";
  static constexpr const char* kVersion = "5.0.0";
  static constexpr const char* kBucket = "firerun-test";
  static constexpr const char* kKey = "S3RVER";  // s3rver's built-in access key id and secret

  /// Empty when node/npm are missing (the caller skips); throws on any other problem.
  static std::optional<std::string> missing_tools() {
    if (!find_program("node")) return "node is not installed";
    if (!find_program("npm")) return "npm is not installed";
    return std::nullopt;
  }

  S3rver(const fs::path& install_dir, const fs::path& runner_script) {
    module_ = install(install_dir);
    data_ = std::make_unique<TempDir>();
    fs::create_directories(data_->path() / "data");
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      std::string dir = (data_->path() / "data").string();
      std::string log = request_log().string();
      ::execlp("node", "node", runner_script.c_str(), module_.c_str(), dir.c_str(), kBucket, log.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    // Wait for "S3rver listening on 127.0.0.1:<port>".
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      char buf[512];
      ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<std::size_t>(n));
      auto at = seen.find("listening on 127.0.0.1:");
      if (at != std::string::npos) {
        auto digits = seen.substr(at + 23);
        if (digits.find_first_not_of("0123456789") != std::string::npos) port_ = std::atoi(digits.c_str());
      }
    }
    output_fd_ = out[0];  // kept open; the runner keeps s3rver silent, so the pipe never fills
    if (port_ == 0) {
      stop();
      throw std::runtime_error("s3rver did not start: " + seen);
    }
  }
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;
  ~S3rver() { stop(); }

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// "METHOD url" of every request the server received, in order.
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    std::ifstream in(request_log());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  /// Where s3rver keeps an object's bytes on disk.
  fs::path request_log() const { return data_->path() / "requests.log"; }
  fs::path object_file(const std::string& key) const {
    fs::path p = data_->path() / "data" / kBucket / key;
    return p.parent_path() / (p.filename().string() + "._S3rver_object");
  }

 private:
  static std::string install(const fs::path& dir) {
    fs::create_directories(dir);
    const fs::path module = dir / "node_modules" / kPackage;
    const fs::path script = module / "package.json";
    // Tests run in parallel processes: one installs while the others wait.
    int lock = ::open((dir / ".install.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) throw std::runtime_error("locking the s3rver install dir");
    if (!fs::exists(script)) {
      std::string cmd = "npm install --prefix '" + dir.string() + "' --no-audit --no-fund --no-save --loglevel=error " +
                        std::string(kPackage) + "@" + kVersion + " >'" + (dir / "npm-install.log").string() + "' 2>&1";
      int rc = std::system(cmd.c_str());
      if (rc != 0 || !fs::exists(script)) {
        ::close(lock);
        throw std::runtime_error("npm install " + std::string(kPackage) + "@" + kVersion + " failed; see " +
                                 (dir / "npm-install.log").string());
      }
    }
    ::close(lock);
    return module.string();
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100; ++i) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        ::usleep(50 * 1000);
      }
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
      }
    }
    if (output_fd_ >= 0) ::close(output_fd_), output_fd_ = -1;
  }

  std::string module_;
  std::unique_ptr<TempDir> data_;
  pid_t pid_ = -1;
  int port_ = 0;
  int output_fd_ = -1;
};

/// Sets an environment variable for the scope of a test, restoring the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace firerun::store::testing
