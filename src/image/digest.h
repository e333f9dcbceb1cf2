// SHA-256 (and the other digests apt reports) via OpenSSL EVP.
#pragma once

#include "core/crypto.h"
#include "firerun/error.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace firerun::image::detail {

/// Incremental hashing; `algorithm` is an OpenSSL digest name ("SHA256", "MD5").
class Hasher {
 public:
  explicit Hasher(const char* algorithm = "SHA256");
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  bool ok() const noexcept { return ctx_ != nullptr; }
  void update(std::string_view data);
  std::string hex_final();

 private:
  ::evp_md_ctx_st* ctx_ = nullptr;
};

/// Lowercase hex SHA-256 of a byte string (the one in core/crypto.h).
using ::firerun::detail::sha256_hex;
/// Lowercase hex digest of a file's content; `algorithm` as for Hasher.
Result<std::string> file_digest_hex(const std::filesystem::path& path, const char* algorithm = "SHA256");

/// file_digest_hex(path) (SHA-256), remembered per file identity (device,
/// inode, size, mtime and ctime, to the nanosecond): a file that has not
/// changed is not read again; any write, rename over or touch re-hashes it.
/// Thread-safe.
Result<std::string> cached_file_digest_hex(const std::filesystem::path& path);
/// How many files cached_file_digest_hex() actually read (tests, benchmarks).
std::uint64_t cached_digest_reads() noexcept;

}  // namespace firerun::image::detail
