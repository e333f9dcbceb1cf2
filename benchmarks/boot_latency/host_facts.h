// Facts about the machine a benchmark ran on, so numbers can be compared
// honestly across runs: kernel, CPU, memory, load, QEMU version, and the
// proportional memory (PSS) a process uses.
#pragma once

#include "firerun/error.h"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <sys/types.h>

namespace firerun::bench {

/// uname -a, CPU model, logical cores, memory and load average.
boost::json::object host_facts();
/// The 1/5/15-minute load average ("0.52 0.61 0.70").
std::string load_average();
/// First line of `<binary> --version`, or the error text.
std::string qemu_version(const std::string& binary);
/// Proportional set size of a process in KiB, from /proc/<pid>/smaps_rollup.
Result<std::uint64_t> pss_kib(pid_t pid);

}  // namespace firerun::bench
