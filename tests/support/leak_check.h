// Verifies that a test leaves no child process, file descriptor or temp file
// behind: snapshot before, compare after.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace firerun::testing {

/// Pids whose parent is `pid` (read from /proc/<n>/status).
inline std::set<int> children_of(int pid) {
  std::set<int> out;
  const std::string parent = std::to_string(pid);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("PPid:", 0) == 0) {
        if (line.substr(line.find_first_not_of(" \t", 5)) == parent) out.insert(std::stoi(name));
        break;
      }
  }
  return out;
}

/// Pids of the live (non-zombie-reaped) children of this process.
inline std::set<int> child_pids() { return children_of(::getpid()); }

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

inline std::set<std::string> entries_of(const std::filesystem::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.insert(e.path().filename().string());
  return out;
}

/// Fixture mixin: EXPECTs no leaked children, fds or temp files at TearDown.
/// Each test gets a private TMPDIR (temp_directory_path() honours it), so
/// temp files of tests running in parallel are never mistaken for leaks.
class LeakCheckedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* outer = std::getenv("TMPDIR");
    outer_tmpdir_ = outer ? outer : "";
    std::string tmpl = (std::filesystem::path(outer ? outer : "/tmp") / "leakcheck-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmpdir_ = tmpl;
    ::setenv("TMPDIR", tmpdir_.c_str(), 1);
    children_ = child_pids();
    fds_ = open_fds();
  }
  void TearDown() override {
    EXPECT_EQ(child_pids(), children_) << "a child process (QEMU?) outlived the test";
    EXPECT_EQ(open_fds(), fds_) << "file descriptors leaked";
    EXPECT_EQ(entries_of(tmpdir_), std::set<std::string>{}) << "temp files left behind in " << tmpdir_;
    std::error_code ec;
    std::filesystem::remove_all(tmpdir_, ec);
    if (outer_tmpdir_.empty())
      ::unsetenv("TMPDIR");
    else
      ::setenv("TMPDIR", outer_tmpdir_.c_str(), 1);
  }

 private:
  std::set<int> children_;
  std::set<std::string> fds_;
  std::filesystem::path tmpdir_;
  std::string outer_tmpdir_;
};

}  // namespace firerun::testing
