#include "jail/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace firerun::jail {
namespace fs = std::filesystem;
namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status write_text(const fs::path& p, const std::string& value) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::io, "cgroup: opening " + p.string() + ": " + std::strerror(errno));
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size()))
    return make_error(Errc::io, "cgroup: writing '" + value + "' to " + p.string() + ": " + std::strerror(err));
  return {};
}

/// The value of `key` in a "key value" per line file (memory.events, memory.oom_control).
std::uint64_t keyed_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  std::uint64_t v = 0;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

Status make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(Errc::io, "cgroup: creating " + dir.string() + ": " + ec.message());
  return {};
}

void kill_and_remove(const fs::path& dir) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::istringstream procs(read_text(dir / "cgroup.procs"));
    bool any = false;
    for (long pid; procs >> pid;) {
      if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
      any = true;
    }
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(any ? 10 : 2));
  }
}

}  // namespace

Result<CgroupLayout> CgroupLayout::detect(const fs::path& mount) {
  CgroupLayout layout;
  std::error_code ec;
  if (fs::exists(mount / "cgroup.controllers", ec)) {
    layout.v2 = true;
    std::istringstream in(read_text(mount / "cgroup.controllers"));
    std::vector<std::string> have{std::istream_iterator<std::string>(in), {}};
    for (const char* want : {"memory", "pids", "cpu"})
      if (std::find(have.begin(), have.end(), want) == have.end())
        return make_error(Errc::unsupported, std::string("cgroup v2 at ") + mount.string() + " has no '" + want +
                                                 "' controller (cgroup.controllers: " + read_text(mount / "cgroup.controllers") + ")");
    layout.roots.push_back({"unified", mount});
    return layout;
  }
  for (const char* controller : {"memory", "pids", "cpu"}) {
    fs::path root = mount / controller;
    if (!fs::exists(root / "cgroup.procs", ec))
      return make_error(Errc::unsupported, std::string("cgroup controller '") + controller + "' is not mounted (no " +
                                               (root / "cgroup.procs").string() + "; neither cgroup v2 nor v1 has it)");
    layout.roots.push_back({controller, root});
  }
  return layout;
}

Result<std::unique_ptr<Cgroup>> Cgroup::create(const CgroupLayout& layout, const std::string& parent,
                                               const std::string& name, const CgroupLimits& limits) {
  std::unique_ptr<Cgroup> cg(new Cgroup());
  cg->v2_ = layout.v2;
  cg->memory_bytes_ = limits.memory_bytes;
  for (const auto& [controller, root] : layout.roots) {
    fs::path parent_dir = root / parent;
    FIRERUN_CHECK(make_dirs(parent_dir));
    if (layout.v2) {
      // Controllers must be enabled on every level down to the VM's cgroup.
      fs::path level = root;
      for (const auto& part : fs::path(parent)) {
        FIRERUN_CHECK(write_text(level / "cgroup.subtree_control", "+memory +pids +cpu"));
        level /= part;
      }
      FIRERUN_CHECK(write_text(parent_dir / "cgroup.subtree_control", "+memory +pids +cpu"));
    }
    fs::path dir = parent_dir / name;
    if (::mkdir(dir.c_str(), 0755) != 0)
      return make_error(Errc::io, "cgroup: creating " + dir.string() + ": " + std::strerror(errno));
    cg->dirs_.push_back(dir);
    const std::string memory = std::to_string(limits.memory_bytes);
    if (layout.v2) {
      FIRERUN_CHECK(write_text(dir / "memory.max", memory));
      std::error_code ec;
      if (fs::exists(dir / "memory.swap.max", ec)) FIRERUN_CHECK(write_text(dir / "memory.swap.max", "0"));
      FIRERUN_CHECK(write_text(dir / "pids.max", std::to_string(limits.pids_max)));
      FIRERUN_CHECK(write_text(dir / "cpu.max", std::to_string(limits.cpu_quota_us) + " " +
                                                    std::to_string(limits.cpu_period_us)));
      cg->memory_dir_ = dir;
    } else if (controller == "memory") {
      FIRERUN_CHECK(write_text(dir / "memory.limit_in_bytes", memory));
      std::error_code ec;
      // With swap accounting, the same bound on memory + swap: no swapping past it.
      if (fs::exists(dir / "memory.memsw.limit_in_bytes", ec))
        FIRERUN_CHECK(write_text(dir / "memory.memsw.limit_in_bytes", memory));
      cg->memory_dir_ = dir;
    } else if (controller == "pids") {
      FIRERUN_CHECK(write_text(dir / "pids.max", std::to_string(limits.pids_max)));
    } else if (controller == "cpu") {
      FIRERUN_CHECK(write_text(dir / "cpu.cfs_period_us", std::to_string(limits.cpu_period_us)));
      FIRERUN_CHECK(write_text(dir / "cpu.cfs_quota_us", std::to_string(limits.cpu_quota_us)));
    }
    ::firerun::detail::UniqueFd procs(::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (!procs) return make_error(Errc::io, "cgroup: opening " + (dir / "cgroup.procs").string() + ": " + std::strerror(errno));
    cg->procs_raw_.push_back(procs.get());
    cg->procs_.push_back(std::move(procs));
  }
  return cg;
}

Cgroup::~Cgroup() {
  procs_.clear();
  for (const auto& dir : dirs_) kill_and_remove(dir);
}

std::string Cgroup::limit_hit() const {
  if (memory_dir_.empty()) return {};
  std::uint64_t kills = v2_ ? keyed_value(read_text(memory_dir_ / "memory.events"), "oom_kill")
                            : keyed_value(read_text(memory_dir_ / "memory.oom_control"), "oom_kill");
  if (kills == 0) return {};
  return "the VMM exceeded its memory limit of " + std::to_string(memory_bytes_ >> 20) +
         " MiB (guest RAM + jail memory_overhead_mib) and was killed";
}

void sweep_cgroups(const CgroupLayout& layout, const std::string& parent) {
  for (const auto& [controller, root] : layout.roots) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root / parent, ec)) {
      if (!entry.is_directory(ec)) continue;
      const std::string name = entry.path().filename().string();
      auto dot = name.find('.');
      if (dot == std::string::npos || dot == 0) continue;
      long owner = std::strtol(name.substr(0, dot).c_str(), nullptr, 10);
      if (owner <= 0 || (::kill(static_cast<pid_t>(owner), 0) != 0 && errno == ESRCH)) kill_and_remove(entry.path());
    }
  }
}

}  // namespace firerun::jail
