#include "image/digest.h"

#include <openssl/evp.h>

#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

namespace firerun::image::detail {

Hasher::Hasher(const char* algorithm) {
  const EVP_MD* md = EVP_get_digestbyname(algorithm);
  if (!md) return;
  ctx_ = EVP_MD_CTX_new();
  if (ctx_ && EVP_DigestInit_ex(ctx_, md, nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = nullptr;
  }
}

Hasher::~Hasher() { EVP_MD_CTX_free(ctx_); }

void Hasher::update(std::string_view data) {
  if (ctx_) EVP_DigestUpdate(ctx_, data.data(), data.size());
}

std::string Hasher::hex_final() {
  if (!ctx_) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  return ::firerun::detail::hex({md, len});
}

Result<std::string> file_digest_hex(const std::filesystem::path& path, const char* algorithm) {
  Hasher h(algorithm);
  if (!h.ok()) return make_error(Errc::unsupported, std::string("digest not available: ") + algorithm);
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot open " + path.string() + " for hashing");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
  }
  if (in.bad()) return make_error(Errc::io, "read error while hashing " + path.string());
  return h.hex_final();
}

namespace {

struct FileIdentity {
  dev_t device;
  ino_t inode;
  off_t size;
  timespec mtime;
  timespec ctime;
  bool operator==(const FileIdentity& o) const noexcept {
    return device == o.device && inode == o.inode && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

std::optional<FileIdentity> identity_of(const std::filesystem::path& path) {
  struct ::stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileIdentity{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
}

std::mutex digest_cache_mutex;
std::map<std::string, std::pair<FileIdentity, std::string>> digest_cache;
std::atomic<std::uint64_t> digest_reads{0};

}  // namespace

Result<std::string> cached_file_digest_hex(const std::filesystem::path& path) {
  const auto before = identity_of(path);
  if (!before) return make_error(Errc::io, "cannot stat " + path.string() + " for hashing");
  {
    std::lock_guard lock(digest_cache_mutex);
    if (auto it = digest_cache.find(path.string()); it != digest_cache.end() && it->second.first == *before)
      return it->second.second;
  }
  digest_reads += 1;
  FIRERUN_TRY(auto digest, file_digest_hex(path));
  // Changed while being read: the digest may mix versions, so it is not kept.
  if (const auto after = identity_of(path); after && *after == *before) {
    std::lock_guard lock(digest_cache_mutex);
    if (digest_cache.size() > 4096) digest_cache.clear();  // bounded; images hold a handful of files
    digest_cache[path.string()] = {*before, digest};
  }
  return digest;
}

std::uint64_t cached_digest_reads() noexcept { return digest_reads.load(); }

}  // namespace firerun::image::detail
