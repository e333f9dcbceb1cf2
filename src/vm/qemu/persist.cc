#include "vm/qemu/persist.h"

#include "core/process.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace firerun::qemu {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using local = asio::local::stream_protocol;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

Result<std::string> migration_status(const boost::json::value& v) {
  if (auto* o = v.if_object())
    if (auto* st = o->if_contains("status"); st && st->is_string()) return std::string(st->as_string());
  return std::string("none");
}

}  // namespace

asio::awaitable<Result<std::uint64_t>> save_state(QmpClient& qmp, const fs::path& file,
                                                  std::chrono::milliseconds deadline) {
  auto ex = co_await asio::this_coro::executor;
  const auto until = std::chrono::steady_clock::now() + deadline;

  auto stopped = co_await qmp.execute("stop");
  if (!stopped) co_return stopped.error();
  // QEMU 7.2 throttles migration to 32 MiB/s by default; a local file wants all of it.
  boost::json::object unthrottled{{"max-bandwidth", std::int64_t(1) << 40}};
  auto params = co_await qmp.execute("migrate-set-parameters", std::move(unthrottled));
  if (!params) co_return params.error();

  // QEMU writes the state straight into the file through a descriptor we pass
  // it, so a jailed VMM needs no path to (or permission on) the snapshot dir.
  ::firerun::detail::UniqueFd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) co_return make_error(Errc::io, "cannot create " + file.string() + ": " + std::strerror(errno));
  boost::json::object fd_name{{"fdname", "firerun-snapshot"}};
  auto passed = co_await qmp.execute_with_fd("getfd", std::move(fd_name), out.get());
  if (!passed) co_return passed.error();
  boost::json::object target{{"uri", "fd:firerun-snapshot"}};
  auto started = co_await qmp.execute("migrate", std::move(target));
  if (!started) co_return started.error();

  // The stream ended; QEMU reports the outcome.
  for (;;) {
    auto info = co_await qmp.execute("query-migrate");
    if (!info) co_return info.error();
    FIRERUN_CO_TRY(auto status, migration_status(*info));
    if (status == "completed") {
      if (::fsync(out.get()) != 0) co_return make_error(Errc::io, "syncing " + file.string() + ": " + std::strerror(errno));
      struct stat st {};
      if (::fstat(out.get(), &st) != 0) co_return make_error(Errc::io, "stat " + file.string() + ": " + std::strerror(errno));
      co_return static_cast<std::uint64_t>(st.st_size);
    }
    if (status == "failed" || status == "cancelled") {
      std::string why;
      if (auto* o = info->if_object())
        if (auto* d = o->if_contains("error-desc"); d && d->is_string()) why = std::string(d->as_string());
      co_return make_error(Errc::backend_failed, "migration " + status + (why.empty() ? "" : ": " + why));
    }
    if (std::chrono::steady_clock::now() > until) co_return make_error(Errc::timeout, "migration did not complete");
    asio::steady_timer t(ex, 5ms);
    co_await t.async_wait(use_tuple);
  }
}

asio::awaitable<Status> wait_until_restored(QmpClient& qmp, std::chrono::milliseconds deadline) {
  auto ex = co_await asio::this_coro::executor;
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto st = co_await qmp.execute("query-status");
    if (!st) co_return st.error();
    std::string status;
    if (auto* o = st->if_object())
      if (auto* s = o->if_contains("status"); s && s->is_string()) status = std::string(s->as_string());
    if (status == "running") co_return Status{};
    // The snapshot was taken paused, and QEMU restores that run state.
    if (status == "paused") {
      auto resumed = co_await qmp.execute("cont");
      if (!resumed) co_return resumed.error();
      continue;
    }
    if (status != "inmigrate" && status != "prelaunch" && status != "restore-vm")
      co_return make_error(Errc::backend_failed, "restoring the snapshot failed: VM status is '" + status + "'");
    if (std::chrono::steady_clock::now() > until)
      co_return make_error(Errc::timeout, "snapshot not restored in time (VM status '" + status + "')");
    asio::steady_timer t(ex, 5ms);
    co_await t.async_wait(use_tuple);
  }
}

}  // namespace firerun::qemu
