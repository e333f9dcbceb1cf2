// The production job runner: one fresh microVM per job.
#pragma once

#include "config.h"
#include "metrics.h"

#include "firerun/scheduler.h"

#include "firerun/vm.h"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>

namespace firerun::daemon {

/// language → prebuilt image (never built here) → VmSpec → create, start,
/// run_code, stop. The VM is always destroyed; a stop request kills it.
/// `config` and `metrics` must outlive the runner.
scheduler::Runner make_vm_runner(const Config& config, Metrics& metrics, boost::asio::any_io_executor executor);

/// A fresh VM for one job: restored from the cached snapshot of this image and
/// shape when config.vm_start is "snapshot" (made by the first job that needs
/// it), else, or if that fails, booted cold.
Task<Result<std::unique_ptr<Vm>>> fresh_vm(VmBackend& backend, const VmSpec& spec, const std::string& image_hash,
                                           const Config& config);

/// One job's VM from birth to death: creates it (fresh_vm), kills it on a stop
/// request, starts it, runs `work` unless a stop was requested, then stops it and
/// waits until it is gone. Returns the start status. The VM never outlives the call.
Task<Status> run_in_job_vm(const VmSpec& spec, const std::string& image_hash, const Config& config, Metrics& metrics,
                           scheduler::JobContext& ctx, boost::asio::any_io_executor executor,
                           const std::function<Task<void>(Vm&)>& work);

/// The VM size for a request: the asked memory (or the default) raised to the language minimum.
std::uint64_t vm_memory_mb(std::uint64_t asked_mb, const Config& config, std::uint64_t language_min_mib);

}  // namespace firerun::daemon
