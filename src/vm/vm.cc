#include "firerun/vm.h"

#include "agent/agent_client.h"
#include "core/offload.h"
#include "core/process.h"
#include "core/secret.h"
#include "jail/jail.h"
#include "vm/builtin_backends.h"

#include <atomic>

namespace firerun {

const char* to_string(VmState s) noexcept {
  switch (s) {
    case VmState::created: return "created";
    case VmState::starting: return "starting";
    case VmState::running: return "running";
    case VmState::paused: return "paused";
    case VmState::stopping: return "stopping";
    case VmState::stopped: return "stopped";
    case VmState::failed: return "failed";
  }
  return "unknown";
}

const char* to_string(VmExit::Reason r) noexcept {
  switch (r) {
    case VmExit::Reason::shutdown: return "shutdown";
    case VmExit::Reason::stopped: return "stopped";
    case VmExit::Reason::killed: return "killed";
    case VmExit::Reason::guest_panic: return "guest_panic";
    case VmExit::Reason::vmm_crashed: return "vmm_crashed";
    case VmExit::Reason::boot_failed: return "boot_failed";
    case VmExit::Reason::resource_limit: return "resource_limit";
  }
  return "unknown";
}

namespace {

std::string generate_vm_id() {
  static std::atomic<unsigned> counter{0};
  return "vm-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

Status check_file(const std::filesystem::path& p, const char* field) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec))
    return make_error(Errc::invalid_argument, std::string(field) + ": '" + p.string() + "' is not a readable file");
  return {};
}

}  // namespace

Status validate(const VmSpec& spec) {
  if (spec.vcpus < 1 || spec.vcpus > 64)
    return make_error(Errc::invalid_argument, "vcpus: must be between 1 and 64, got " + std::to_string(spec.vcpus));
  if (spec.memory_mib < 64 || spec.memory_mib > 65536)
    return make_error(Errc::invalid_argument,
                      "memory_mib: must be between 64 and 65536, got " + std::to_string(spec.memory_mib));
  if (spec.kernel.empty()) return make_error(Errc::invalid_argument, "kernel: a kernel image is required");
  FIRERUN_CHECK(check_file(spec.kernel, "kernel"));
  if (spec.initrd.empty() && !spec.root_drive)
    return make_error(Errc::invalid_argument, "initrd: an initrd or a root_drive is required");
  if (!spec.initrd.empty()) FIRERUN_CHECK(check_file(spec.initrd, "initrd"));
  if (spec.root_drive) FIRERUN_CHECK(check_file(spec.root_drive->path, "root_drive"));
  for (std::size_t i = 0; i < spec.drives.size(); ++i)
    FIRERUN_CHECK(check_file(spec.drives[i].path, ("drives[" + std::to_string(i) + "]").c_str()));
  if (spec.kernel_cmdline.size() > 2048)
    return make_error(Errc::invalid_argument, "kernel_cmdline: longer than 2048 bytes");
  if (spec.kernel_cmdline.find_first_of("\n\r") != std::string::npos)
    return make_error(Errc::invalid_argument, "kernel_cmdline: must be a single line");
  if (spec.console_log_cap < 4096)
    return make_error(Errc::invalid_argument, "console_log_cap: must be at least 4096 bytes");
  if (spec.boot_timeout.count() <= 0) return make_error(Errc::invalid_argument, "boot_timeout: must be positive");
  if (spec.network) FIRERUN_CHECK(jail::validate_egress(spec.egress));
  else if (spec.egress.internet || !spec.egress.allow.empty())
    return make_error(Errc::invalid_argument, "egress: the VM has no network (set network to give it one)");
  for (char c : spec.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return make_error(Errc::invalid_argument, "name: only letters, digits, '-', '_' and '.' are allowed");
  return {};
}

Vm::Vm(std::string backend, VmSpec spec, boost::asio::any_io_executor executor, JailOptions jail)
    : id_(spec.name.empty() ? generate_vm_id() : spec.name),
      spec_(std::move(spec)),
      executor_(std::move(executor)),
      jail_options_(std::move(jail)) {
  spec_.name = id_;
  info_.backend = std::move(backend);
}

// Backends destroy their VMM process in their own destructor, before the jail
// (cgroup, uid lease) is released here.
Vm::~Vm() = default;

Result<jail::Jail*> Vm::vmm_jail() {
  if (!jail_) return make_error(Errc::internal, "vm " + id_ + ": the VMM's jail is used before prepare_vmm_jail()");
  return jail_.get();
}

Task<Result<jail::Jail*>> Vm::prepare_vmm_jail() {
  if (!jail_) {
    // Made off the loop, stored on it: info_ is read by the loop's other users.
    // A named closure: GCC 12 destroys closure temporaries in a co_await expression twice.
    const auto create = [this] { return jail::Jail::create(jail_options_, id_, spec_); };
    auto made = co_await detail::offload(create);
    if (!made) co_return std::move(made).error();
    jail_ = std::move(*made);
    info_.jailed = jail_->enabled();
    info_.vmm_uid = jail_->uid();
  }
  co_return jail_.get();
}

Task<Result<std::unique_ptr<detail::ChildProcess>>> Vm::spawn_vmm(detail::SpawnOptions opts) {
  auto prepared = co_await prepare_vmm_jail();
  if (!prepared) co_return std::move(prepared).error();
  jail::Jail* jail = *prepared;
  auto ex = executor();
  const auto spawn = [&] { return jail->spawn(ex, opts); };
  co_return co_await detail::offload(spawn);
}

void Vm::on_event(std::function<void(const VmEvent&)> handler) { handlers_.push_back(std::move(handler)); }

void Vm::set_state(VmState s, std::string detail) {
  state_ = s;
  VmEvent ev{s, std::move(detail)};
  for (auto& h : handlers_) h(ev);
}

Task<Status> Vm::adopt_booted_agent(std::unique_ptr<agent::AgentClient> agent) {
  auto hello = co_await agent->wait_ready(std::chrono::steady_clock::now() + spec_.boot_timeout);
  if (!hello) co_return hello.error().with_context("waiting for the guest agent");
  info_.guest_boot_time = std::chrono::milliseconds(hello->boot_time_ms);
  agent_ = std::move(agent);
  co_return Status{};
}

Task<Status> Vm::adopt_restored_agent(std::unique_ptr<agent::AgentClient> agent) {
  info_.restored = true;
  std::string entropy = random_bytes(64);
  agent->set_request_timeout(spec_.boot_timeout);
  auto reseeded = co_await agent->reseed(std::move(entropy), std::chrono::system_clock::now());
  if (!reseeded) co_return reseeded.error().with_context("reseeding the restored guest");
  agent_ = std::move(agent);
  co_return Status{};
}

Status Vm::require(std::initializer_list<VmState> allowed, std::string_view operation) const {
  for (auto s : allowed)
    if (s == state_) return {};
  return make_error(Errc::bad_state, std::string(operation) + " is not allowed while the VM is " + to_string(state_))
      .with_context("vm " + id_);
}

Error Vm::in_context(Error e, std::string_view operation) const {
  return std::move(e).with_context(std::string(operation) + " on vm " + id_);
}

std::string Vm::console_log() const { return do_console_log(); }

Task<Status> Vm::start() {
  FIRERUN_CO_CHECK(require({VmState::created}, "start"));
  set_state(VmState::starting);
  const auto t0 = std::chrono::steady_clock::now();
  auto started = co_await do_start();
  info_.boot_time = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  if (!started) {
    set_state(VmState::failed, started.error().what());
    co_return in_context(started.error(), "start");
  }
  set_state(VmState::running, "agent ready after " + std::to_string(info_.boot_time.count()) + " ms (accelerator " +
                                  info_.accelerator + ")");
  co_return Status{};
}

Task<Status> Vm::stop(std::chrono::milliseconds grace) {
  if (state_ == VmState::stopped || state_ == VmState::failed) co_return Status{};
  FIRERUN_CO_CHECK(require({VmState::running, VmState::paused, VmState::starting}, "stop"));
  set_state(VmState::stopping);
  auto r = co_await do_stop(grace);
  auto exit = co_await wait();
  if (!r) co_return in_context(r.error(), "stop");
  co_return Status{};
}

Task<Status> Vm::kill() {
  if (state_ == VmState::created) {
    set_state(VmState::stopped, "killed before start");
    co_return Status{};
  }
  auto r = co_await do_kill();
  if (!r) co_return in_context(r.error(), "kill");
  (void)co_await wait();
  co_return Status{};
}

Task<Result<VmExit>> Vm::wait() {
  if (exit_) co_return *exit_;
  if (state_ == VmState::created) co_return in_context(make_error(Errc::bad_state, "the VM was never started"), "wait");
  VmExit exit = co_await do_wait();
  // A VMM the kernel killed for its cgroup limits is reported as such,
  // whatever the backend saw (usually "killed by signal 9").
  if (jail_ && exit.reason != VmExit::Reason::killed && exit.reason != VmExit::Reason::stopped)
    if (auto limit = jail_->limit_hit(); !limit.empty()) exit = {VmExit::Reason::resource_limit, limit};
  if (!exit_) {
    exit_ = exit;
    // Close, don't destroy: an exec may still be suspended inside the client
    // (e.g. kill() from another coroutine); it now fails and unwinds safely.
    if (agent_) {
      boost::system::error_code ignored;
      agent_->socket().close(ignored);
    }
    bool clean = exit.reason == VmExit::Reason::shutdown || exit.reason == VmExit::Reason::stopped ||
                 exit.reason == VmExit::Reason::killed;
    set_state(clean ? VmState::stopped : VmState::failed, std::string(to_string(exit.reason)) + ": " + exit.detail);
  }
  co_return *exit_;
}

Task<Status> Vm::pause() {
  FIRERUN_CO_CHECK(require({VmState::running}, "pause"));
  auto r = co_await do_pause();
  if (!r) co_return in_context(r.error(), "pause");
  set_state(VmState::paused);
  co_return Status{};
}

Task<Status> Vm::resume() {
  FIRERUN_CO_CHECK(require({VmState::paused}, "resume"));
  auto r = co_await do_resume();
  if (!r) co_return in_context(r.error(), "resume");
  set_state(VmState::running);
  co_return Status{};
}

Task<Result<Snapshot>> Vm::snapshot(const std::filesystem::path& dir) {
  FIRERUN_CO_CHECK(require({VmState::running}, "snapshot"));
  std::error_code ec;
  if (std::filesystem::exists(dir, ec))
    co_return in_context(make_error(Errc::already_exists, "snapshot directory " + dir.string() + " already exists"),
                         "snapshot");
  auto r = co_await do_snapshot(dir);
  if (!r) {
    std::filesystem::remove_all(dir, ec);
    co_return in_context(r.error(), "snapshot");
  }
  set_state(VmState::paused, "snapshot saved to " + dir.string());
  co_return r;
}

Task<Result<Snapshot>> Vm::do_snapshot(const std::filesystem::path&) {
  co_return make_error(Errc::unsupported, info_.backend + " backend cannot take snapshots");
}

Result<std::unique_ptr<Vm>> VmBackend::create(VmSpec spec) {
  FIRERUN_CHECK(add_context(validate(spec), "invalid VM spec"));
  return do_create(std::move(spec));
}

Result<std::unique_ptr<Vm>> VmBackend::restore(const Snapshot& snapshot) {
  const std::string name = info().name;
  if (snapshot.backend != name)
    return make_error(Errc::invalid_argument, "snapshot " + snapshot.dir.string() + " was taken by the '" +
                                                  snapshot.backend + "' backend, not '" + name + "'");
  FIRERUN_CHECK(add_context(validate(snapshot.spec), "snapshot " + snapshot.dir.string()));
  return do_restore(snapshot);
}

Result<std::unique_ptr<Vm>> VmBackend::do_restore(const Snapshot&) {
  return make_error(Errc::unsupported, info().name + " backend cannot restore snapshots");
}

Result<std::string> VmBackend::snapshot_compat_key() const {
  return make_error(Errc::unsupported, info().name + " backend cannot take snapshots");
}

Task<Status> Vm::do_pause() { co_return make_error(Errc::unsupported, info_.backend + " backend cannot pause VMs"); }
Task<Status> Vm::do_resume() { co_return make_error(Errc::unsupported, info_.backend + " backend cannot resume VMs"); }

Task<Result<ExecResult>> Vm::exec(const ExecRequest& request, const OutputSink* sink) {
  FIRERUN_CO_CHECK(require({VmState::running}, "exec"));
  if (request.argv.empty()) co_return in_context(make_error(Errc::invalid_argument, "argv must not be empty"), "exec");
  agent::OutputSink agent_sink;
  const agent::OutputSink* agent_sink_ptr = nullptr;
  if (sink) {
    agent_sink = {sink->on_stdout, sink->on_stderr};
    agent_sink_ptr = &agent_sink;
  }
  // No conditional expression inside co_await: GCC 12 miscompiles it.
  auto r = co_await agent_->exec(request, agent_sink_ptr);
  if (!r) co_return in_context(r.error(), "exec '" + request.argv[0] + "'");
  co_return r;
}

Task<Status> Vm::write_file(const std::string& guest_path, const std::string& data, unsigned mode) {
  FIRERUN_CO_CHECK(require({VmState::running}, "write_file"));
  auto r = co_await agent_->write_file(guest_path, data, mode);
  if (!r) co_return in_context(r.error(), "write_file " + guest_path);
  co_return Status{};
}

Task<Result<std::string>> Vm::read_file(const std::string& guest_path, std::uint64_t max_bytes) {
  FIRERUN_CO_CHECK(require({VmState::running}, "read_file"));
  auto r = co_await agent_->read_file(guest_path, max_bytes);
  if (!r) co_return in_context(r.error(), "read_file " + guest_path);
  co_return r;
}

Registry<VmBackendFactory>& vm_backends() {
  static Registry<VmBackendFactory>* registry = [] {
    auto* r = new Registry<VmBackendFactory>();
    detail::register_builtin_vm_backends(*r);
    return r;
  }();
  return *registry;
}

Result<std::shared_ptr<VmBackend>> open_vm_backend(std::string_view uri, boost::asio::any_io_executor executor,
                                                   const JailOptions& jail) {
  FIRERUN_TRY(auto factory, vm_backends().find(uri));
  const std::string where = "opening VM backend '" + std::string(uri) + "'";
  FIRERUN_CHECK(add_context(validate(jail), where));
  FIRERUN_CHECK(add_context(check_jail_support(jail), where));
  return add_context(factory->make(uri, std::move(executor), jail), where);
}

}  // namespace firerun
