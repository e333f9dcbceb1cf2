#include "jail/uid_lease.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

namespace firerun::jail {
namespace fs = std::filesystem;
using ::firerun::detail::UniqueFd;

namespace {

/// Locks `file` if free; false when another process holds it. The lock must be
/// on the file that still has this name (a releaser may unlink it meanwhile).
bool try_lock(const fs::path& file, UniqueFd& out) {
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return false;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return false;
  struct stat held {}, named {};
  if (::fstat(fd.get(), &held) != 0 || ::stat(file.c_str(), &named) != 0 || held.st_ino != named.st_ino) return false;
  out = std::move(fd);
  return true;
}

}  // namespace

Result<std::unique_ptr<UidLease>> UidLease::acquire(const fs::path& dir, std::uint32_t first, std::uint32_t count) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(Errc::io, "jail: creating " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  // Start at a random place so concurrent processes rarely contend.
  static std::atomic<std::uint32_t> next{std::random_device{}()};
  const std::uint32_t start = next.fetch_add(1) % count;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint32_t index = (start + i) % count;
    const std::uint32_t uid = first + index;
    fs::path file = dir / std::to_string(uid);
    UniqueFd fd;
    if (try_lock(file, fd)) return std::unique_ptr<UidLease>(new UidLease(file, std::move(fd), uid, index));
  }
  return make_error(Errc::limit_exceeded, "jail: all " + std::to_string(count) + " uids of uid_range " +
                                              std::to_string(first) + "-" + std::to_string(first + count - 1) +
                                              " are in use");
}

UidLease::~UidLease() {
  // Unlink while still holding the lock; try_lock's inode check handles racers.
  ::unlink(file_.c_str());
}

void sweep_uid_leases(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    UniqueFd fd;
    if (try_lock(entry.path(), fd)) ::unlink(entry.path().c_str());
  }
}

}  // namespace firerun::jail
