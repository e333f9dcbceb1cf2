#include "vm/qemu/qemu_vm.h"

#include "agent/agent_client.h"
#include "jail/jail.h"
#include "vm/qemu/accel.h"
#include "vm/qemu/argv_builder.h"
#include "vm/qemu/persist.h"
#include "vm/snapshot_meta.h"
#include "vm/qemu/qmp_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <signal.h>

namespace firerun::qemu {
namespace asio = boost::asio;
using local_socket = asio::local::stream_protocol::socket;
using namespace std::chrono_literals;

/// Keeps the tail of the serial console. Shared with its reader coroutine,
/// which may outlive the VM object by one completion.
struct ConsoleCapture {
  ConsoleCapture(local_socket s, std::uint64_t cap) : socket(std::move(s)), cap(cap) {}
  local_socket socket;
  std::uint64_t cap;
  std::string tail;
  bool closed = false;

  static asio::awaitable<void> pump(std::shared_ptr<ConsoleCapture> self) {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await self->socket.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      self->tail.append(buf, n);
      if (self->tail.size() > self->cap) self->tail.erase(0, self->tail.size() - self->cap);
    }
    self->closed = true;
  }

  /// The panic line, if the guest kernel panicked.
  std::string panic_line() const {
    auto pos = tail.find("Kernel panic");
    if (pos == std::string::npos) return {};
    auto end = tail.find('\n', pos);
    std::string line = tail.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
  }
};

namespace {

std::string last_lines(const std::string& text, std::size_t n) {
  std::size_t pos = text.size();
  for (std::size_t i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

}  // namespace

QemuVm::QemuVm(VmSpec spec, QemuOptions options, asio::any_io_executor executor, JailOptions jail)
    : Vm("qemu", std::move(spec), std::move(executor), std::move(jail)), options_(std::move(options)) {}

QemuVm::QemuVm(const Snapshot& snapshot, QemuOptions options, asio::any_io_executor executor, JailOptions jail)
    : Vm("qemu", snapshot.spec, std::move(executor), std::move(jail)), options_(std::move(options)), restore_from_(snapshot) {
  options_.machine = snapshot.machine;
  options_.accel = snapshot.accelerator;
}

// The ChildProcess destructor SIGKILLs and reaps QEMU if it is still running,
// so dropping a VM never leaks a process; there are no socket files to remove.
QemuVm::~QemuVm() {
  if (qmp_) qmp_->on_event(nullptr);  // the handler captures this
}

std::string QemuVm::do_console_log() const { return console_ ? console_->tail : std::string(); }

Error QemuVm::boot_failure(std::string what) {
  std::string msg = std::move(what);
  if (console_ && !console_->tail.empty()) msg += "\n--- last console lines ---\n" + last_lines(console_->tail, 15);
  return make_error(Errc::backend_failed, msg);
}

Task<Status> QemuVm::launch() {
  FIRERUN_CO_TRY(auto accel, choose_accelerator(options_.accel));
  info_.accelerator = accel.name;
  info_.accel_reason = restore_from_ ? "the snapshot was taken under " + accel.name : accel.reason;

  FIRERUN_CO_TRY(auto console_pair, ::firerun::detail::make_socketpair());
  FIRERUN_CO_TRY(auto agent_pair, ::firerun::detail::make_socketpair());
  FIRERUN_CO_TRY(auto qmp_pair, ::firerun::detail::make_socketpair());
  ChannelFds fds{console_pair.second.get(), agent_pair.second.get(), qmp_pair.second.get()};
  ::firerun::detail::UniqueFd state_fd;
  if (restore_from_) {
    auto state_file = restore_from_->dir / ::firerun::detail::kSnapshotStateFile;
    state_fd = ::firerun::detail::UniqueFd(::open(state_file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!state_fd) co_return make_error(Errc::io, "opening " + state_file.string() + ": " + std::strerror(errno));
    fds.incoming = state_fd.get();
  }

  auto prepared = co_await prepare_vmm_jail();
  if (!prepared) co_return std::move(prepared).error();
  ::firerun::detail::SpawnOptions opts;
  FIRERUN_CO_TRY(opts.argv, jailed_argv(accel, fds));
  opts.inherit_fds = {fds.console, fds.agent, fds.qmp};
  if (fds.incoming >= 0) opts.inherit_fds.push_back(fds.incoming);
  auto spawned = co_await spawn_vmm(std::move(opts));
  if (!spawned) co_return std::move(spawned).error();
  process_ = std::move(*spawned);
  info_.vmm_pid = process_->pid();
  // Our copies of QEMU's ends close now, so QEMU exiting means EOF on ours.
  console_pair.second = {};
  agent_pair.second = {};
  qmp_pair.second = {};
  state_fd = {};

  auto ex = executor();
  console_ = std::make_shared<ConsoleCapture>(
      local_socket(ex, asio::local::stream_protocol(), console_pair.first.release()), spec().console_log_cap);
  asio::co_spawn(ex, ConsoleCapture::pump(console_), asio::detached);

  qmp_ = std::make_unique<QmpClient>(local_socket(ex, asio::local::stream_protocol(), qmp_pair.first.release()));
  auto greeting = co_await qmp_->handshake(10s);
  if (!greeting) co_return greeting.error().with_context("QMP handshake");
  // QEMU's SHUTDOWN event says why the VM went away; keep it for exit reports.
  // The handler lives as long as qmp_, which this object owns.
  qmp_->on_event([this](const QmpEvent& ev) {
    if (ev.name != "SHUTDOWN") return;
    if (auto* reason = ev.data.if_contains("reason"); reason && reason->is_string())
      shutdown_reason_ = std::string(reason->as_string());
  });

  auto agent = std::make_unique<agent::AgentClient>(
      local_socket(ex, asio::local::stream_protocol(), agent_pair.first.release()));
  co_return co_await connect_agent(std::move(agent));
}

// QEMU reads its firmware, option ROMs and accelerator modules from these
// (Debian's layout; the ROMs in /usr/share/qemu are symlinks into the others).
const std::vector<std::filesystem::path>& qemu_data_dirs() {
  static const std::vector<std::filesystem::path> dirs = {
      "/usr/share/qemu", "/usr/share/seabios", "/usr/lib/ipxe/qemu", "/usr/share/qboot", "/usr/lib/x86_64-linux-gnu/qemu"};
  return dirs;
}

Result<std::vector<std::string>> QemuVm::jailed_argv(const AccelChoice& accel, const ChannelFds& fds) {
  FIRERUN_TRY(auto* jail, vmm_jail());
  VmSpec seen = spec();
  seen.kernel = jail->expose_file(seen.kernel);
  if (!seen.initrd.empty()) seen.initrd = jail->expose_file(seen.initrd);
  if (seen.root_drive) seen.root_drive->path = jail->expose_file(seen.root_drive->path, !seen.root_drive->read_only);
  for (auto& d : seen.drives) d.path = jail->expose_file(d.path, !d.read_only);
  QemuOptions options = options_;
  FIRERUN_TRY(options.binary, jail->expose_executable(options_.binary, qemu_data_dirs()));
  FIRERUN_CHECK(jail->expose_device("/dev/null"));
  FIRERUN_CHECK(jail->expose_device("/dev/urandom"));
  if (accel.name == "kvm") FIRERUN_CHECK(jail->expose_device("/dev/kvm"));
  return build_qemu_argv(options, seen, accel, fds);
}

Task<Status> QemuVm::connect_agent(std::unique_ptr<agent::AgentClient> agent) {
  if (!restore_from_) co_return co_await adopt_booted_agent(std::move(agent));
  auto restored = co_await wait_until_restored(*qmp_, spec().boot_timeout);
  if (!restored) co_return restored.error();
  co_return co_await adopt_restored_agent(std::move(agent));
}

Task<Status> QemuVm::do_start() {
  const auto t0 = std::chrono::steady_clock::now();
  auto launched = co_await launch();
  if (launched) co_return Status{};
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);

  // Explain the failure by how QEMU ended, if it did.
  if (!process_) co_return launched.error();
  auto status = co_await process_->wait_for(200ms);
  if (!status) {
    kill_requested_ = true;
    (void)process_->signal(SIGKILL);
    (void)co_await process_->wait();
    co_return boot_failure(launched.error().what() + "; VM killed after " + std::to_string(elapsed.count()) +
                           " ms");
  }
  VmExit exit = classify_exit(*status);
  auto err = boot_failure("VM did not become ready: " + exit.detail);
  if (exit.reason == VmExit::Reason::guest_panic) err = Error(Errc::guest_failed, err.message());
  co_return err;
}

VmExit QemuVm::classify_exit(const ::firerun::detail::ExitStatus& status) const {
  std::string panic = console_ ? console_->panic_line() : std::string();
  if (kill_requested_) return {VmExit::Reason::killed, "killed on request"};
  if (!panic.empty()) return {VmExit::Reason::guest_panic, "guest kernel panicked: " + panic};
  if (status.signal)
    return {VmExit::Reason::vmm_crashed, "QEMU (pid " + std::to_string(info_.vmm_pid) + ") was " + status.describe()};
  if (status.code && *status.code != 0) {
    std::string err = process_ ? process_->stderr_tail() : std::string();
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return {VmExit::Reason::vmm_crashed, "QEMU " + status.describe() + (err.empty() ? "" : ": " + err)};
  }
  if (stop_requested_) return {VmExit::Reason::stopped, "stopped on request"};
  if (shutdown_reason_ == "guest-reset")
    return {VmExit::Reason::guest_panic, "guest rebooted unexpectedly (firerun VMs do not reboot)"};
  return {VmExit::Reason::shutdown,
          "guest powered off" + (shutdown_reason_.empty() ? std::string() : " (" + shutdown_reason_ + ")")};
}

Task<VmExit> QemuVm::do_wait() {
  if (!process_) co_return VmExit{VmExit::Reason::boot_failed, "QEMU was never started"};
  auto status = co_await process_->wait();
  // The console socket reaches EOF once QEMU is gone; read it to the end so a
  // panic message is not missed.
  for (int i = 0; i < 100 && console_ && !console_->closed; ++i) {
    asio::steady_timer t(executor(), 2ms);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (qmp_) qmp_->close();
  co_return classify_exit(status);
}

Task<Status> QemuVm::do_stop(std::chrono::milliseconds grace) {
  stop_requested_ = true;
  if (!process_ || process_->exited()) co_return Status{};
  const auto deadline = std::chrono::steady_clock::now() + grace;
  auto remaining = [&] {
    return std::max(0ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
  };
  // 1. Ask the agent to sync and power off; 2. ask QEMU to quit; 3. SIGKILL.
  if (agent()) {
    agent()->set_request_timeout(std::max(remaining() / 2, 100ms));
    (void)co_await agent()->shutdown();
  }
  if (co_await process_->wait_for(remaining())) co_return Status{};
  if (qmp_) (void)co_await qmp_->execute("quit", {}, std::min(remaining(), 1000ms));
  if (co_await process_->wait_for(std::max(remaining(), 500ms))) co_return Status{};
  kill_requested_ = true;
  FIRERUN_CO_CHECK(process_->signal(SIGKILL));
  (void)co_await process_->wait();
  co_return Status{};
}

Task<Status> QemuVm::do_kill() {
  if (!process_ || process_->exited()) co_return Status{};
  kill_requested_ = true;
  FIRERUN_CO_CHECK(process_->signal(SIGKILL));
  (void)co_await process_->wait();
  co_return Status{};
}

Task<Status> QemuVm::do_pause() {
  auto r = co_await qmp_->execute("stop", {}, 5000ms);
  if (!r) co_return r.error();
  co_return Status{};
}

Task<Status> QemuVm::do_resume() {
  auto r = co_await qmp_->execute("cont", {}, 5000ms);
  if (!r) co_return r.error();
  co_return Status{};
}

Task<Result<Snapshot>> QemuVm::do_snapshot(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) co_return make_error(Errc::io, "creating " + dir.string() + ": " + ec.message());
  auto bytes = co_await save_state(*qmp_, dir / ::firerun::detail::kSnapshotStateFile, std::chrono::minutes(5));
  if (!bytes) co_return bytes.error();
  Snapshot snap;
  snap.dir = dir;
  snap.backend = "qemu";
  snap.accelerator = info_.accelerator;
  snap.machine = options_.machine;
  snap.spec = spec();
  snap.spec.name.clear();
  snap.state_bytes = *bytes;
  FIRERUN_CO_CHECK(::firerun::detail::write_snapshot_meta(snap));
  co_return snap;
}

}  // namespace firerun::qemu
