#include "firerun/pool.h"

#include "core/crypto.h"
#include "vm/snapshot_meta.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <deque>

namespace firerun {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// An exclusive flock held for the lifetime of the object. Taken without
// blocking the thread: coroutines on the same executor may contend for it.
class LockFile {
 public:
  static Task<Result<LockFile>> acquire(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) co_return make_error(Errc::io, "opening lock " + path.string() + ": " + std::strerror(errno));
    LockFile lock(fd);
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR)
        co_return make_error(Errc::io, "locking " + path.string() + ": " + std::strerror(errno));
      asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return lock;
  }
  LockFile(LockFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~LockFile() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

SnapshotCache::SnapshotCache(fs::path root) : root_(std::move(root)) {}

Result<std::string> SnapshotCache::key_for(const VmBackend& backend, const VmSpec& spec, std::string_view image_hash) {
  if (image_hash.empty()) return make_error(Errc::invalid_argument, "snapshot cache: image hash is empty");
  FIRERUN_TRY(auto compat, backend.snapshot_compat_key());
  std::string material = "format=1\nimage=" + std::string(image_hash) + "\nbackend=" + compat +
                         "\nvcpus=" + std::to_string(spec.vcpus) + "\nmemory_mib=" + std::to_string(spec.memory_mib) +
                         "\ncmdline=" + spec.kernel_cmdline + "\nkernel=" + spec.kernel.string() +
                         "\ninitrd=" + spec.initrd.string() + "\nnetwork=" + (spec.network ? "1" : "0") + "\n";
  return detail::sha256_hex(material);
}

Task<Result<Snapshot>> SnapshotCache::get_or_create(VmBackend& backend, const VmSpec& spec,
                                                    std::string_view image_hash) {
  FIRERUN_CO_TRY(auto key, key_for(backend, spec, image_hash));
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) co_return make_error(Errc::io, "creating " + root_.string() + ": " + ec.message());
  // Another process may be creating the same snapshot: wait for it.
  auto locked = co_await LockFile::acquire(root_ / (key + ".lock"));
  FIRERUN_CO_TRY(auto lock, std::move(locked));
  const fs::path final_dir = root_ / key;
  if (auto cached = open_snapshot(final_dir)) co_return cached;
  fs::remove_all(final_dir, ec);  // broken or partial: rebuild

  const fs::path work = root_ / (".tmp-" + key + "-" + std::to_string(::getpid()));
  fs::remove_all(work, ec);
  auto vm_r = backend.create(spec);
  if (!vm_r) co_return vm_r.error();
  auto vm = std::move(*vm_r);
  auto started = co_await vm->start();
  if (!started) co_return started.error().with_context("booting a VM to snapshot");
  auto snap = co_await vm->snapshot(work);
  (void)co_await vm->kill();
  if (!snap) {
    fs::remove_all(work, ec);
    co_return snap.error();
  }
  fs::rename(work, final_dir, ec);
  if (ec) {
    fs::remove_all(work, ec);
    co_return make_error(Errc::io, "moving snapshot into " + final_dir.string() + ": " + ec.message());
  }
  co_return open_snapshot(final_dir);
}

const char* to_string(AcquireSource s) noexcept {
  switch (s) {
    case AcquireSource::pool: return "pool";
    case AcquireSource::restore: return "restore";
    case AcquireSource::cold_boot: return "cold_boot";
  }
  return "unknown";
}

struct WarmPool::State {
  struct Idle {
    std::unique_ptr<Vm> vm;
    std::chrono::steady_clock::time_point since;
  };

  asio::any_io_executor executor;
  std::shared_ptr<VmBackend> backend;
  VmSpec spec;
  PoolOptions options;
  std::optional<Snapshot> snapshot;
  std::deque<Idle> idle;
  std::size_t filling = 0;
  bool running = false;
  std::optional<asio::steady_timer> wakeup;

  // A fresh running VM: restored when a snapshot exists, else booted.
  Task<Result<AcquiredVm>> make_vm() {
    Result<std::unique_ptr<Vm>> vm = snapshot ? backend->restore(*snapshot) : backend->create(spec);
    if (!vm) co_return vm.error();
    auto started = co_await (*vm)->start();
    if (!started) co_return started.error();
    co_return AcquiredVm{std::move(*vm), snapshot ? AcquireSource::restore : AcquireSource::cold_boot};
  }

  void poke() {
    if (wakeup) wakeup->cancel();
  }

  // Refills to min_ready and trims VMs idle for too long, until shutdown.
  static Task<void> maintain(std::shared_ptr<State> self) {
    while (self->running) {
      while (self->running && self->idle.size() + self->filling < self->options.min_ready &&
             self->idle.size() + self->filling < self->options.max_ready) {
        ++self->filling;
        auto made = co_await self->make_vm();
        if (made && !self->options.warmup_argv.empty()) {
          ExecRequest warmup;
          warmup.argv = self->options.warmup_argv;
          warmup.timeout = std::chrono::seconds(30);
          auto warmed = co_await made->vm->exec(warmup);
          if (!warmed) made = std::move(warmed).error().with_context("warming up a pooled VM");
        }
        --self->filling;
        if (!made) break;  // retried on the next tick rather than spinning
        if (!self->running) {
          (void)co_await made->vm->kill();
          break;
        }
        self->idle.push_back({std::move(made->vm), std::chrono::steady_clock::now()});
      }
      const auto now = std::chrono::steady_clock::now();
      while (self->idle.size() > self->options.min_ready && now - self->idle.front().since > self->options.idle_timeout) {
        auto vm = std::move(self->idle.front().vm);
        self->idle.pop_front();
        (void)co_await vm->kill();
      }
      self->wakeup->expires_after(1s);
      co_await self->wakeup->async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
};

WarmPool::WarmPool(asio::any_io_executor executor, std::shared_ptr<VmBackend> backend, VmSpec spec,
                   PoolOptions options, std::optional<Snapshot> snapshot)
    : state_(std::make_shared<State>()) {
  state_->executor = std::move(executor);
  state_->backend = std::move(backend);
  state_->spec = std::move(spec);
  state_->options = options;
  state_->snapshot = std::move(snapshot);
  state_->wakeup.emplace(state_->executor);
}

WarmPool::~WarmPool() {
  state_->running = false;
  state_->poke();
  state_->idle.clear();  // Vm destructors kill and reap their VMMs
}

void WarmPool::start() {
  if (state_->running) return;
  state_->running = true;
  asio::co_spawn(state_->executor, State::maintain(state_), asio::detached);
}

Task<Result<AcquiredVm>> WarmPool::acquire() {
  auto self = state_;
  if (!self->idle.empty()) {
    // Popped before any suspension point, so no other acquire can get it.
    auto vm = std::move(self->idle.front().vm);
    self->idle.pop_front();
    self->poke();
    co_return AcquiredVm{std::move(vm), AcquireSource::pool};
  }
  self->poke();
  auto made = co_await self->make_vm();
  co_return made;
}

Task<void> WarmPool::shutdown() {
  auto self = state_;
  self->running = false;
  self->poke();
  while (self->filling > 0) {
    asio::steady_timer t(self->executor, 10ms);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  while (!self->idle.empty()) {
    auto vm = std::move(self->idle.front().vm);
    self->idle.pop_front();
    (void)co_await vm->kill();
  }
}

std::size_t WarmPool::ready() const noexcept { return state_->idle.size(); }
std::size_t WarmPool::filling() const noexcept { return state_->filling; }

}  // namespace firerun
