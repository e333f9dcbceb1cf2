#include "vm/qemu/persist.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
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

// A private 0700 directory for the migration socket. QEMU 7.2 cannot migrate
// into a file and its seccomp sandbox forbids exec:, so the stream arrives on
// a Unix socket that exists only until QEMU has connected.
class TempSocketDir {
 public:
  static Result<TempSocketDir> make() {
    std::string tmpl = (fs::temp_directory_path() / "firerun-mig-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return make_error(Errc::io, "mkdtemp " + tmpl + ": " + std::strerror(errno));
    return TempSocketDir(tmpl);
  }
  TempSocketDir(TempSocketDir&& o) noexcept : dir_(std::move(o.dir_)) { o.dir_.clear(); }
  ~TempSocketDir() { remove(); }
  fs::path socket() const { return dir_ / "migration.sock"; }
  void remove() noexcept {
    if (dir_.empty()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }

 private:
  explicit TempSocketDir(fs::path dir) : dir_(std::move(dir)) {}
  fs::path dir_;
};

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

  FIRERUN_CO_TRY(auto dir, TempSocketDir::make());
  local::acceptor acceptor(ex);
  boost::system::error_code ec;
  acceptor.open(local(), ec);
  if (!ec) acceptor.bind(local::endpoint(dir.socket().string()), ec);
  if (!ec) acceptor.listen(1, ec);
  if (ec) co_return Error(ec, "listening on " + dir.socket().string());

  boost::json::object target{{"uri", "unix:" + dir.socket().string()}};
  auto started = co_await qmp.execute("migrate", std::move(target));
  if (!started) co_return started.error();

  // Bound the whole transfer: on expiry the sockets are closed, which ends
  // the pending accept/read with an error.
  local::socket stream(ex);
  asio::steady_timer timer(ex, until);
  bool expired = false;
  timer.async_wait([&](boost::system::error_code e) {
    if (e) return;
    expired = true;
    acceptor.close();
    stream.close();
  });
  auto [aec] = co_await acceptor.async_accept(stream, use_tuple);
  dir.remove();
  if (aec) {
    timer.cancel();
    co_return Error(expired ? make_error_code(Errc::timeout) : aec, "QEMU did not connect its migration stream");
  }

  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) co_return make_error(Errc::io, "cannot create " + file.string());
  std::uint64_t total = 0;
  std::vector<char> buf(1 << 20);
  for (;;) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(buf), use_tuple);
    if (n) {
      out.write(buf.data(), static_cast<std::streamsize>(n));
      total += n;
    }
    if (rec == asio::error::eof) break;
    if (rec) {
      timer.cancel();
      co_return Error(expired ? make_error_code(Errc::timeout) : rec, "reading the migration stream");
    }
  }
  timer.cancel();
  if (!out.flush()) co_return make_error(Errc::io, "writing " + file.string());

  // The stream ended; QEMU reports the outcome.
  for (;;) {
    auto info = co_await qmp.execute("query-migrate");
    if (!info) co_return info.error();
    FIRERUN_CO_TRY(auto status, migration_status(*info));
    if (status == "completed") co_return total;
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
