// Kills VMM processes left behind by a previous scheduler process.
#pragma once

#include <cstdint>
#include <string_view>
#include <optional>

namespace firerun::scheduler::detail {

/// Field 22 (starttime) of a /proc/<pid>/stat line; nullopt when malformed.
std::optional<std::uint64_t> parse_stat_start_time(std::string_view stat_line);

/// SIGKILLs `pid` only if it is alive and still has `start_time` (so a
/// recycled pid is never hit). Returns true when a process was killed.
bool reap_orphan(int pid, std::uint64_t start_time);

}  // namespace firerun::scheduler::detail
