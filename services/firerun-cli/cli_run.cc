// `firerun run`: boot a fresh VM, run one command in it with output streamed,
// return the command's exit code, destroy the VM. Ctrl-C tears it all down.
#include "cli.h"
#include "firerun/pool.h"
#include "firerun/vm.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

namespace firerun::cli {
namespace asio = boost::asio;

namespace {

struct RunArgs {
  std::string image = "bash";
  std::string kernel, initrd, cache;
  std::string backend = "qemu";
  std::string accel;
  unsigned vcpus = 1;
  std::uint64_t memory_mib = 512;
  double timeout_s = 0;
  std::vector<std::string> env;
  std::string cwd = "/";
  bool forward_stdin = false;
  bool network = false;
  std::vector<std::string> allow;  ///< egress allowlist; empty with --network = the public internet
  std::vector<std::string> dns;
  bool as_root = false;
  bool no_jail = false;
  bool quiet = false;
  bool verbose = false;
  bool snapshot = false;
  std::vector<std::string> argv;
};

/// What to boot: the spec, and the image it came from (for snapshot keys).
struct Target {
  VmSpec spec;
  std::string image_hash;
  std::filesystem::path cache_root;
};

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

Result<Target> target_from(const RunArgs& a) {
  Target t;
  t.spec.vcpus = a.vcpus;
  t.spec.memory_mib = a.memory_mib;
  t.spec.network = a.network || !a.allow.empty();
  if (t.spec.network) {
    t.spec.egress.allow = a.allow;
    t.spec.egress.internet = a.allow.empty();
    t.spec.egress.dns = a.dns;
  }
  t.cache_root = a.cache.empty() ? image::default_cache_root() : std::filesystem::path(a.cache);
  if (!a.kernel.empty()) {
    if (a.snapshot) return make_error(Errc::invalid_argument, "--snapshot needs --image, not --kernel");
    t.spec.kernel = a.kernel;
    t.spec.initrd = a.initrd;
    return t;
  }
  FIRERUN_TRY(auto img, ensure_image(a.image, a.cache, a.quiet, /*prefer_cached=*/true));
  t.spec = image::vm_spec(img, std::move(t.spec));
  t.image_hash = img.hash;
  return t;
}

Result<ExecRequest> request_from(const RunArgs& a) {
  ExecRequest req;
  req.argv = a.argv;
  req.cwd = a.cwd;
  if (a.as_root) req.uid = req.gid = 0;
  req.timeout = std::chrono::milliseconds(static_cast<long long>(a.timeout_s * 1000));
  for (const auto& kv : a.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return make_error(Errc::invalid_argument, "--env expects KEY=VALUE, got '" + kv + "'");
    req.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (a.forward_stdin) req.stdin_data = std::string(std::istreambuf_iterator<char>(std::cin), {});
  return req;
}

int exit_code_of(const ExecResult& r) {
  if (r.timed_out) return kExitTimeout;
  if (r.exit_code) return *r.exit_code;
  if (r.signal) return 128 + *r.signal;
  return kExitFirerunError;
}

asio::awaitable<int> run_in_vm(const RunArgs& a, const Target& target, const ExecRequest& req,
                               std::unique_ptr<Vm>& vm_slot, const bool& interrupted) {
  auto ex = co_await asio::this_coro::executor;
  std::string uri = a.backend;
  if (!a.accel.empty()) uri += std::string(uri.find('?') == std::string::npos ? ":///?" : "&") + "accel=" + a.accel;
  JailOptions jail;
  if (a.no_jail) {
    jail.enabled = false;
    std::fprintf(stderr, "firerun: warning: --no-jail: the VMM runs unconfined as uid %u with this process's privileges\n",
                 static_cast<unsigned>(::geteuid()));
  }
  auto backend = open_vm_backend(uri, ex, jail);
  if (!backend) co_return report_error(backend.error());
  Result<std::unique_ptr<Vm>> vm = make_error(Errc::internal, "no VM");
  if (a.snapshot) {
    // A fresh VM restored from the image's cached snapshot (made on first use).
    SnapshotCache cache(target.cache_root / "snapshots");
    auto snap = co_await cache.get_or_create(**backend, target.spec, target.image_hash);
    if (!snap) co_return report_error(snap.error());
    vm = (*backend)->restore(*snap);
  } else {
    vm = (*backend)->create(target.spec);
  }
  if (!vm) co_return report_error(vm.error());
  vm_slot = std::move(*vm);
  Vm& v = *vm_slot;
  if (a.verbose) v.on_event([](const VmEvent& e) { std::fprintf(stderr, "firerun: [%s] %s\n", to_string(e.state), e.detail.c_str()); });

  auto started = co_await v.start();
  if (!started) co_return report_error(started.error());
  if (!a.quiet)
    std::fprintf(stderr, "firerun: %s %s in %.2f s (accelerator %s: %s)\n", v.id().c_str(),
                 v.info().restored ? "restored from snapshot" : "ready", v.info().boot_time.count() / 1000.0,
                 v.info().accelerator.c_str(), v.info().accel_reason.c_str());

  OutputSink sink{[](std::string_view d) { write_all(STDOUT_FILENO, d); },
                  [](std::string_view d) { write_all(STDERR_FILENO, d); }};
  auto result = co_await v.exec(req, &sink);
  (void)co_await v.stop(std::chrono::seconds(5));
  if (interrupted) co_return kExitInterrupted;  // the exec failed because we killed the VM
  if (!result) co_return report_error(result.error());
  if (result->timed_out) std::fprintf(stderr, "firerun: command timed out after %.1f s\n", a.timeout_s);
  if (result->stdout_truncated || result->stderr_truncated) std::fprintf(stderr, "firerun: output was truncated at the cap\n");
  co_return exit_code_of(*result);
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<RunArgs>();
  auto* run = app.add_subcommand("run", "Run a command in a fresh microVM, then destroy the VM");
  run->add_option("--image", a->image, "Guest image (built on first use)")->capture_default_str();
  run->add_option("--kernel", a->kernel, "Boot this kernel instead of an image (with --initrd)");
  run->add_option("--initrd", a->initrd, "Initramfs for --kernel");
  run->add_option("--cache", a->cache, "Image cache directory (default: $XDG_CACHE_HOME/firerun)");
  run->add_option("--backend", a->backend, "VM backend name or URI, e.g. qemu:///?machine=pc")->capture_default_str();
  run->add_option("--accel", a->accel, "Force the accelerator: auto, kvm or tcg")->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  run->add_option("--vcpus", a->vcpus, "vCPUs")->capture_default_str();
  run->add_option("--memory", a->memory_mib, "Memory in MiB")->capture_default_str();
  run->add_option("--timeout", a->timeout_s, "Kill the command after this many seconds (0 = none)");
  run->add_option("-e,--env", a->env, "Environment variable KEY=VALUE (repeatable)")->allow_extra_args(false);
  run->add_option("--cwd", a->cwd, "Working directory in the guest");
  run->add_flag("-i,--stdin", a->forward_stdin, "Send this process's stdin to the command");
  run->add_flag("--network", a->network,
                "Give the guest a network to the public internet (never the host, link-local or private ranges); off by default");
  run->add_option("--allow", a->allow,
                  "Give the guest a network reaching only this CIDR or host name (repeatable; private ranges too)")
      ->allow_extra_args(false);
  run->add_option("--dns", a->dns, "Resolver for the guest's DNS (repeatable; default: the host's)")->allow_extra_args(false);
  run->add_flag("--root", a->as_root, "Run the command as root in the guest (default: the unprivileged guest user)");
  run->add_flag("--no-jail", a->no_jail, "Run the VMM unconfined (no uid, namespaces, cgroup): for hosts that cannot jail");
  run->add_flag("-q,--quiet", a->quiet, "Print only the command's own output");
  run->add_flag("-v,--verbose", a->verbose, "Print VM state changes");
  run->add_flag("--snapshot", a->snapshot,
                "Restore a fresh VM from the image's cached snapshot instead of booting (made on first use)");
  run->add_option("command", a->argv, "Command and arguments (after --)")->required();
  run->callback([a, &exit_code] {
    auto target = target_from(*a);
    if (!target) {
      exit_code = report_error(target.error());
      return;
    }
    auto req = request_from(*a);
    if (!req) {
      exit_code = report_error(req.error());
      return;
    }
    asio::io_context ctx;
    std::unique_ptr<Vm> vm;
    bool interrupted = false;
    asio::signal_set signals(ctx, SIGINT, SIGTERM, SIGHUP);
    signals.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      interrupted = true;
      // Kill the VM and let run_in_vm unwind normally (its exec fails at once):
      // no coroutine may still reference the VM when it is destroyed.
      if (vm)
        asio::co_spawn(ctx, vm->kill(), asio::detached);
      else
        ctx.stop();
    });
    // target and req outlive ctx.run(), which the coroutine borrows them for.
    asio::co_spawn(ctx, run_in_vm(*a, *target, *req, vm, interrupted), [&](std::exception_ptr e, int rc) {
      if (e) std::rethrow_exception(e);
      exit_code = rc;
      signals.cancel();
    });
    ctx.run();
    if (interrupted) {
      std::fprintf(stderr, "\nfirerun: interrupted; VM destroyed\n");
      exit_code = kExitInterrupted;
    }
    vm.reset();  // before ctx: the VM's sockets belong to it
  });
}

}  // namespace firerun::cli
