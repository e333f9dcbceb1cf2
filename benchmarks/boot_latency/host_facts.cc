#include "host_facts.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace firerun::bench {
namespace {

// The first line a shell command prints (only fixed commands are run here).
std::string first_line_of(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return "unavailable";
  char buf[512];
  std::string line = std::fgets(buf, sizeof buf, pipe) ? buf : "";
  ::pclose(pipe);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line.empty() ? "unavailable" : line;
}

// Value of the first "<key>...: value" line of a /proc file.
std::string proc_field(const char* file, std::string_view key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return {};
}

}  // namespace

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

boost::json::object host_facts() {
  boost::json::object host;
  host["uname"] = first_line_of("uname -a");
  host["cpu_model"] = proc_field("/proc/cpuinfo", "model name");
  host["cores"] = std::thread::hardware_concurrency();
  std::uint64_t mem_kib = 0;
  std::istringstream(proc_field("/proc/meminfo", "MemTotal")) >> mem_kib;
  host["memory_mib"] = mem_kib / 1024;
  host["kvm_device"] = ::access("/dev/kvm", R_OK | W_OK) == 0;
  host["loadavg_start"] = load_average();
  return host;
}

std::string qemu_version(const std::string& binary) {
  // The binary comes from our own options, but quote it anyway.
  std::string quoted = "'";
  for (char c : binary) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return first_line_of(quoted + "' --version 2>&1");
}

Result<std::uint64_t> pss_kib(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/smaps_rollup";
  std::ifstream in(path);
  if (!in) return Error(Errc::not_found, "cannot read " + path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Pss:", 0) != 0) continue;
    std::uint64_t kib = 0;
    std::istringstream(line.substr(4)) >> kib;
    return kib;
  }
  return Error(Errc::not_found, path + " has no Pss line");
}

}  // namespace firerun::bench
