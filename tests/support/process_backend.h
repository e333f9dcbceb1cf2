// The "process" VM backend: no VM at all. The real firerun-agent runs as a
// local child process serving the agent protocol on a socketpair
// (--serve-fd), so the core (state machine, agent handshake, exec, files,
// events, boot timing, spec validation, the registry) can be tested without
// a hypervisor, and the same conformance cases can run on every backend.
// Pause and resume are SIGSTOP/SIGCONT; snapshots are unsupported. It
// isolates nothing: tests only, never registered outside them.
#pragma once

#include "agent/agent_client.h"
#include "core/process.h"
#include "firerun/vm.h"

#include <boost/asio/local/stream_protocol.hpp>

#include <signal.h>

#include <memory>
#include <string>

namespace firerun::testing {

class ProcessVm final : public Vm {
 public:
  ProcessVm(VmSpec spec, boost::asio::any_io_executor ex, std::string agent_path)
      : Vm("process", std::move(spec), std::move(ex), unjailed()), agent_path_(std::move(agent_path)) {}
  ~ProcessVm() override = default;  // ChildProcess SIGKILLs and reaps a child still alive

 protected:
  Task<Status> do_start() override {
    auto pair = detail::make_socketpair();
    if (!pair) co_return std::move(pair).error();
    detail::SpawnOptions opts;
    opts.argv = {agent_path_, "--serve-fd", std::to_string(pair->second.get())};
    opts.inherit_fds = {pair->second.get()};
    auto spawned = co_await spawn_vmm(std::move(opts));
    if (!spawned) co_return std::move(spawned).error();
    process_ = std::move(*spawned);
    pair->second = {};
    info_.vmm_pid = process_->pid();
    info_.accelerator = "none";
    info_.accel_reason = "the process backend runs the agent on the host";
    boost::asio::local::stream_protocol::socket socket(executor(), boost::asio::local::stream_protocol(),
                                                       pair->first.release());
    co_return co_await adopt_booted_agent(std::make_unique<agent::AgentClient>(std::move(socket)));
  }

  Task<Status> do_stop(std::chrono::milliseconds grace) override {
    stop_requested_ = true;
    if (!process_ || process_->exited()) co_return Status{};
    if (agent()) {
      agent()->set_request_timeout(grace);
      (void)co_await agent()->shutdown();
    }
    // Not `if (co_await ...)`: GCC 12 miscompiles a co_await in a condition
    // followed by co_return (it reaches the frame's ud2).
    const auto exited = co_await process_->wait_for(grace);
    if (exited) co_return Status{};
    co_return co_await do_kill();
  }

  Task<Status> do_kill() override {
    if (!process_ || process_->exited()) co_return Status{};
    kill_requested_ = true;
    if (auto sent = process_->signal(SIGKILL); !sent) co_return sent;
    (void)co_await process_->wait();
    co_return Status{};
  }

  Task<VmExit> do_wait() override {
    if (!process_) co_return VmExit{VmExit::Reason::boot_failed, "the agent process was never started"};
    const auto status = co_await process_->wait();
    if (kill_requested_) co_return VmExit{VmExit::Reason::killed, "agent process " + status.describe()};
    if (status.code == 0) {
      co_return VmExit{stop_requested_ ? VmExit::Reason::stopped : VmExit::Reason::shutdown,
                       "agent process " + status.describe()};
    }
    co_return VmExit{VmExit::Reason::vmm_crashed, "agent process " + status.describe()};
  }

  Task<Status> do_pause() override { co_return process_->signal(SIGSTOP); }
  Task<Status> do_resume() override { co_return process_->signal(SIGCONT); }
  std::string do_console_log() const override { return {}; }

 private:
  static JailOptions unjailed() {
    JailOptions j;
    j.enabled = false;
    return j;
  }

  std::string agent_path_;
  std::unique_ptr<detail::ChildProcess> process_;
  bool stop_requested_ = false;
  bool kill_requested_ = false;
};

class ProcessBackend final : public VmBackend {
 public:
  ProcessBackend(boost::asio::any_io_executor ex, std::string agent_path)
      : ex_(std::move(ex)), agent_path_(std::move(agent_path)) {}
  BackendInfo info() const override { return info_for(); }
  static BackendInfo info_for() {
    return {"process", "the guest agent as a host process (tests only: no isolation)", "experimental", {}};
  }

 protected:
  Result<std::unique_ptr<Vm>> do_create(VmSpec spec) override {
    return std::unique_ptr<Vm>(new ProcessVm(std::move(spec), ex_, agent_path_));
  }

 private:
  boost::asio::any_io_executor ex_;
  std::string agent_path_;
};

/// "process" or "process:///?agent=/path/to/firerun-agent".
class ProcessBackendFactory final : public VmBackendFactory {
 public:
  explicit ProcessBackendFactory(std::string default_agent) : default_agent_(std::move(default_agent)) {}
  BackendInfo info() const override { return ProcessBackend::info_for(); }
  Result<std::shared_ptr<VmBackend>> make(std::string_view uri, boost::asio::any_io_executor ex,
                                          const JailOptions&) const override {
    std::string agent = default_agent_;
    if (auto at = uri.find("agent="); at != std::string_view::npos) agent = std::string(uri.substr(at + 6));
    return std::shared_ptr<VmBackend>(std::make_shared<ProcessBackend>(std::move(ex), std::move(agent)));
  }

 private:
  std::string default_agent_;
};

}  // namespace firerun::testing
