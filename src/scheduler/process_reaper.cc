#include "scheduler/process_reaper.h"

#include "core/process.h"

#include "firerun/scheduler.h"

#include <signal.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace firerun::scheduler {
namespace detail {

std::optional<std::uint64_t> parse_stat_start_time(std::string_view line) {
  // "pid (comm) state ppid ...": comm may contain spaces and ')', so fields are
  // counted from the last ')'. starttime is field 22, i.e. the 20th after comm.
  auto close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(close + 1);
  for (int field = 3; field <= 22; ++field) {
    auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(start);
    auto end = rest.find(' ');
    std::string_view token = rest.substr(0, end);
    if (field == 22) {
      std::uint64_t value = 0;
      auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
      if (ec != std::errc() || p != token.data() + token.size()) return std::nullopt;
      return value;
    }
    if (end == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(end);
  }
  return std::nullopt;
}

bool reap_orphan(int pid, std::uint64_t start_time) {
  if (pid <= 1) return false;
  auto now = process_start_time(pid);
  if (!now || *now != start_time) return false;
  if (::kill(pid, SIGKILL) != 0) return false;
  // It is not our child (its parent died): init reaps it. Wait briefly so
  // callers can rely on it being gone.
  for (int i = 0; i < 100; ++i) {
    auto still = process_start_time(pid);
    if (!still || *still != start_time || firerun::detail::process_exited(pid)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace detail

std::optional<std::uint64_t> process_start_time(int pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  std::string line((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  return detail::parse_stat_start_time(line);
}

}  // namespace firerun::scheduler
