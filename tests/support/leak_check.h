// Verifies that a test leaves no child process, file descriptor or temp file
// behind: snapshot before, compare after.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace firerun::testing {

/// Pids of the live (non-zombie-reaped) children of this process.
inline std::set<int> child_pids() {
  std::set<int> out;
  const std::string me = std::to_string(::getpid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("PPid:", 0) == 0) {
        if (line.substr(line.find_first_not_of(" \t", 5)) == me) out.insert(std::stoi(name));
        break;
      }
  }
  return out;
}

inline std::set<std::string> open_fds() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    // The directory iterator's own fd shows up too; ignore it.
    if (target.string().rfind("/proc/", 0) == 0 && target.string().find("/fd") != std::string::npos) continue;
    out.insert(e.path().filename().string() + "->" + target.string());
  }
  return out;
}

inline std::set<std::string> temp_entries() {
  std::set<std::string> out;
  std::error_code ec;
  const char* tmp = std::getenv("TMPDIR");
  for (const auto& e : std::filesystem::directory_iterator(tmp ? tmp : "/tmp", ec))
    if (e.path().filename().string().find("firerun") != std::string::npos) out.insert(e.path().string());
  return out;
}

/// Fixture mixin: EXPECTs no leaked children, fds or firerun temp files at TearDown.
class LeakCheckedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    children_ = child_pids();
    fds_ = open_fds();
    temps_ = temp_entries();
  }
  void TearDown() override {
    EXPECT_EQ(child_pids(), children_) << "a child process (QEMU?) outlived the test";
    EXPECT_EQ(open_fds(), fds_) << "file descriptors leaked";
    EXPECT_EQ(temp_entries(), temps_) << "temp files left behind";
  }

 private:
  std::set<int> children_;
  std::set<std::string> fds_;
  std::set<std::string> temps_;
};

}  // namespace firerun::testing
