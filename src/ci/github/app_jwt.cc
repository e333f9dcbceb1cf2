#include "ci/github/app_jwt.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace firerun::ci::github {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos && s.size() <= 19;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

Result<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return make_error(Errc::invalid_argument, "base64url text has an impossible length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = decode_char(c);
    if (v < 0) return make_error(Errc::invalid_argument, "base64url text has a character outside the alphabet");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0)
    return make_error(Errc::invalid_argument, "base64url text has non-zero padding bits");
  return out;
}

struct AppPrivateKey::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

Result<AppPrivateKey> AppPrivateKey::from_pem(const SecretString& pem) {
  if (pem.empty()) return make_error(Errc::invalid_argument, "GitHub App private key is empty");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.reveal().data(), static_cast<int>(pem.reveal().size())), &BIO_free);
  if (!bio) return make_error(Errc::internal, "BIO_new_mem_buf failed");
  auto key = std::make_shared<Key>();
  // An empty passphrase callback: an encrypted key fails instead of prompting on a tty.
  key->pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (!key->pkey) {
    ERR_clear_error();  // leave no stale entries for the next OpenSSL caller on this thread
    return make_error(Errc::invalid_argument, "GitHub App private key is not a readable PEM private key");
  }
  if (EVP_PKEY_base_id(key->pkey) != EVP_PKEY_RSA)
    return make_error(Errc::invalid_argument, "GitHub App private key is not an RSA key (RS256 needs RSA)");
  return AppPrivateKey(std::move(key));
}

Result<AppPrivateKey> AppPrivateKey::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read GitHub App private key file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  SecretString pem(std::move(text).str());
  return add_context(from_pem(pem), "key file " + path);
}

Result<AppPrivateKey> AppPrivateKey::from_env(const std::string& variable) {
  const char* value = std::getenv(variable.c_str());
  if (!value || !*value) return make_error(Errc::not_found, "environment variable " + variable + " is not set");
  std::string pem(value);
  // Keys passed through single-line env files often carry "\n" escapes.
  for (std::size_t at = pem.find("\\n"); at != std::string::npos; at = pem.find("\\n", at + 1)) pem.replace(at, 2, "\n");
  SecretString secret(std::move(pem));
  return add_context(from_pem(secret), "environment variable " + variable);
}

Result<std::string> AppPrivateKey::sign_rs256(std::string_view data) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx) return make_error(Errc::internal, "EVP_MD_CTX_new failed");
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1)
    return make_error(Errc::internal, "EVP_DigestSignInit failed");
  std::size_t length = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &length, bytes, data.size()) != 1)
    return make_error(Errc::internal, "EVP_DigestSign (size) failed");
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, bytes, data.size()) != 1)
    return make_error(Errc::internal, "EVP_DigestSign failed");
  signature.resize(length);
  return signature;
}

Result<SecretString> make_app_jwt(const AppPrivateKey& key, const AppJwtClaims& claims) {
  if (claims.app_id.empty()) return make_error(Errc::invalid_argument, "GitHub App id is empty");
  if (claims.lifetime <= std::chrono::seconds(0) || claims.lifetime > std::chrono::seconds(600))
    return make_error(Errc::invalid_argument, "GitHub App JWT lifetime must be within (0, 600] seconds");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(claims.now.time_since_epoch()).count();
  boost::json::object payload;
  payload["iat"] = now - 60;  // GitHub allows for clock drift this way
  payload["exp"] = now + claims.lifetime.count();
  if (all_digits(claims.app_id)) payload["iss"] = std::stoull(claims.app_id);
  else payload["iss"] = claims.app_id;
  const std::string signing_input = base64url_encode(R"({"alg":"RS256","typ":"JWT"})") + "." +
                                    base64url_encode(boost::json::serialize(payload));
  FIRERUN_TRY(auto signature, key.sign_rs256(signing_input));
  return SecretString(signing_input + "." + base64url_encode(signature));
}

}  // namespace firerun::ci::github
