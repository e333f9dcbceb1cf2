#include "image/digest.h"

#include <openssl/evp.h>

#include <fstream>
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
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 15];
  }
  return hex;
}

std::string sha256_hex(std::string_view data) {
  Hasher h;
  h.update(data);
  return h.hex_final();
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

}  // namespace firerun::image::detail
