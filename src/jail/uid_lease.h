// One uid per VMM, leased from the configured range through lock files that
// every firerun process on the host shares (the kernel drops a lock when its
// holder dies, so a crashed process never keeps a uid).
#pragma once

#include "core/process.h"
#include "firerun/error.h"

#include <cstdint>
#include <filesystem>
#include <memory>

namespace firerun::jail {

class UidLease {
 public:
  static Result<std::unique_ptr<UidLease>> acquire(const std::filesystem::path& dir, std::uint32_t first,
                                                   std::uint32_t count);
  ~UidLease();
  std::uint32_t uid() const noexcept { return uid_; }
  std::uint32_t index() const noexcept { return index_; }

 private:
  UidLease(std::filesystem::path file, ::firerun::detail::UniqueFd fd, std::uint32_t uid, std::uint32_t index)
      : file_(std::move(file)), fd_(std::move(fd)), uid_(uid), index_(index) {}
  std::filesystem::path file_;
  ::firerun::detail::UniqueFd fd_;
  std::uint32_t uid_;
  std::uint32_t index_;
};

/// Removes lease files nobody holds.
void sweep_uid_leases(const std::filesystem::path& dir);

}  // namespace firerun::jail
