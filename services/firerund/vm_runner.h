// The production job runner: one fresh microVM per job.
#pragma once

#include "config.h"
#include "metrics.h"

#include "firerun/scheduler.h"

#include <boost/asio/any_io_executor.hpp>

namespace firerun::daemon {

/// language → prebuilt image (never built here) → VmSpec → create, start,
/// run_code, stop. The VM is always destroyed; a stop request kills it.
/// `config` and `metrics` must outlive the runner.
scheduler::Runner make_vm_runner(const Config& config, Metrics& metrics, boost::asio::any_io_executor executor);

/// The VM size for a request: the asked memory (or the default) raised to the language minimum.
std::uint64_t vm_memory_mb(std::uint64_t asked_mb, const Config& config, std::uint64_t language_min_mib);

}  // namespace firerun::daemon
