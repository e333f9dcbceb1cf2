#include "core/secret.h"

#include "core/crypto.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace firerun {

SecretString::SecretString(SecretString&& other) noexcept : value_(std::move(other.value_)) { other.wipe(); }

SecretString& SecretString::operator=(const SecretString& other) {
  if (this != &other) {
    wipe();
    value_ = other.value_;
  }
  return *this;
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    wipe();
    value_ = std::move(other.value_);
    other.wipe();
  }
  return *this;
}

SecretString::~SecretString() { wipe(); }

void SecretString::wipe() noexcept {
  // Overwrite the whole buffer (including small-string storage) before release.
  if (value_.capacity() > 0) OPENSSL_cleanse(value_.data(), value_.capacity());
  value_.clear();
}

bool operator==(const SecretString& a, const SecretString& b) noexcept {
  return detail::constant_time_equal(a.value_, b.value_);
}

std::ostream& operator<<(std::ostream& os, const SecretString& s) { return os << s.redacted(); }

std::string random_bytes(std::size_t bytes) {
  std::string raw(bytes, '\0');
  for (std::size_t got = 0; got < bytes;) {
    const ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
    else if (errno != EINTR) std::abort();
  }
  return raw;
}

std::string random_hex(std::size_t bytes) {
  const std::string raw = random_bytes(bytes);
  return detail::hex(std::span(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
}

Result<SecretString> read_secret_file(const std::filesystem::path& path, std::string_view what) {
  const std::string where = std::string(what) + ": " + path.string();
  // Opened first, checked through the descriptor: no window to swap the file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Error(Errc::not_found, where + ": cannot read: " + std::strerror(errno));
  struct ::stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  std::string value;
  if (regular && !(st.st_mode & 077)) {
    char buf[4096];
    ssize_t n;
    while (value.size() < (1u << 20) && (n = ::read(fd, buf, sizeof buf)) > 0) value.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!regular) return Error(Errc::invalid_argument, where + " is not a regular file");
  if (st.st_mode & 077)
    return Error(Errc::invalid_argument, where + " has mode " + fmt::format("{:04o}", st.st_mode & 07777) +
                                             ": a secret file must not be accessible to group or others (chmod 600 " +
                                             path.string() + ")");
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) value.pop_back();
  if (value.empty()) return Error(Errc::invalid_argument, where + " is empty");
  SecretString out(std::move(value));
  return out;
}

}  // namespace firerun
