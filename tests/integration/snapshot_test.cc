// Snapshots: save an agent-ready VM, restore fresh VMs from it, and check
// that clones work and do not share randomness or boot ids.
#include "support/leak_check.h"
#include "vm_harness.h"

#include "firerun/pool.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <chrono>

namespace firerun {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::must;
using testing::run_async;
using testing::sh;
using testing::spec_for;

class Snapshots : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    testing::LeakCheckedTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() / ("snapshot-test-" + std::to_string(::getpid()));
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    testing::LeakCheckedTest::TearDown();
  }
  std::filesystem::path dir_;
};


TEST_F(Snapshots, RestoredClonesRunCommandsAndDiverge) {
  run_async([this](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto backend = testing::qemu_backend(ex);
    auto original = must(backend->create(spec_for("bash")), "create");
    must(co_await original->start(), "start");
    auto snap = must(co_await original->snapshot(dir_ / "snap"), "snapshot");
    EXPECT_EQ(original->state(), VmState::paused);
    EXPECT_GT(snap.state_bytes, 0u);
    must(co_await original->kill(), "kill original");

    auto reopened = must(open_snapshot(snap.dir), "open_snapshot");
    EXPECT_EQ(reopened.spec.memory_mib, snap.spec.memory_mib);

    std::vector<std::string> randoms, boot_ids;
    for (int i = 0; i < 2; ++i) {
      auto clone = must(backend->restore(reopened), "restore");
      must(co_await clone->start(), "start clone");
      EXPECT_TRUE(clone->info().restored);
      EXPECT_EQ(clone->state(), VmState::running);
      const auto probe = sh("head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; "
                            "cat /proc/sys/kernel/random/boot_id; date +%s; echo done; exit 4");
      auto r = must(co_await clone->exec(probe), "exec in clone");
      EXPECT_EQ(r.exit_code, 4);
      std::istringstream lines(r.stdout_data);
      std::string random, boot_id, guest_time, done;
      std::getline(lines, random);
      std::getline(lines, boot_id);
      std::getline(lines, guest_time);
      std::getline(lines, done);
      EXPECT_EQ(done, "done") << r.stdout_data << r.stderr_data;
      EXPECT_EQ(random.size(), 32u);
      randoms.push_back(random);
      boot_ids.push_back(boot_id);
      // The clock was set from the host on restore, not left at snapshot time.
      const auto host_now = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
      EXPECT_NEAR(std::stoll(guest_time), host_now, 5);
      must(co_await clone->stop(), "stop clone");
    }
    EXPECT_NE(randoms[0], randoms[1]) << "clones share RNG output";
    EXPECT_NE(boot_ids[0], boot_ids[1]) << "clones share a boot id";
  });
}

TEST_F(Snapshots, SnapshotNeedsARunningVmAndAFreshDirectory) {
  run_async([this](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
    auto early = co_await vm->snapshot(dir_ / "early");
    FIRERUN_CO_ASSERT(!early.has_value());
    EXPECT_EQ(early.error().errc(), Errc::bad_state);
    must(co_await vm->start(), "start");
    std::filesystem::create_directories(dir_ / "taken");
    auto taken = co_await vm->snapshot(dir_ / "taken");
    FIRERUN_CO_ASSERT(!taken.has_value());
    EXPECT_EQ(taken.error().errc(), Errc::already_exists);
    must(co_await vm->stop(), "stop");
  });
}

TEST_F(Snapshots, DamagedSnapshotsAreRejectedClearly) {
  run_async([this](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto backend = testing::qemu_backend(ex);
    auto vm = must(backend->create(spec_for("bash")), "create");
    must(co_await vm->start(), "start");
    auto snap = must(co_await vm->snapshot(dir_ / "snap"), "snapshot");
    must(co_await vm->kill(), "kill");
    // Truncated state file.
    std::filesystem::resize_file(snap.dir / "vm.state", snap.state_bytes / 2);
    auto truncated = open_snapshot(snap.dir);
    FIRERUN_CO_ASSERT(!truncated.has_value());
    EXPECT_NE(truncated.error().what().find("truncated"), std::string::npos) << truncated.error().what();
    // Snapshot taken under another accelerator.
    Snapshot foreign = snap;
    foreign.accelerator = vm->info().accelerator == "tcg" ? "kvm" : "tcg";
    auto refused = backend->restore(foreign);
    FIRERUN_CO_ASSERT(!refused.has_value());
    EXPECT_EQ(refused.error().errc(), Errc::invalid_argument);
  });
}

std::string image_hash(const std::string& name) {
  return must(image::find_image(name, testing::test_cache()), "find_image").hash;
}

TEST_F(Snapshots, CacheIsKeyedByImageAndShape) {
  run_async([this](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto backend = testing::qemu_backend(ex);
    SnapshotCache cache(dir_ / "cache");
    const auto spec = spec_for("bash");
    const auto hash = image_hash("bash");
    // Two concurrent creators in one process: one boots, the other waits for it.
    std::optional<Result<Snapshot>> racer;
    asio::co_spawn(ex, cache.get_or_create(*backend, spec, hash),
                   [&](std::exception_ptr, Result<Snapshot> r) { racer = std::move(r); });
    auto first = must(co_await cache.get_or_create(*backend, spec, hash), "first get_or_create");
    while (!racer) {
      asio::steady_timer t(ex, 20ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    FIRERUN_CO_ASSERT(racer->has_value());
    EXPECT_EQ((*racer)->dir, first.dir);
    const auto t0 = std::chrono::steady_clock::now();
    auto again = must(co_await cache.get_or_create(*backend, spec, hash), "second get_or_create");
    EXPECT_EQ(again.dir, first.dir) << "the second call must reuse the cached snapshot";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "a cache hit must not boot a VM";

    // Anything that makes a snapshot unusable changes the key.
    auto key = must(SnapshotCache::key_for(*backend, spec, hash), "key");
    EXPECT_EQ(first.dir.filename(), key);
    auto other_image = must(SnapshotCache::key_for(*backend, spec, std::string(64, 'a')), "key other image");
    EXPECT_NE(other_image, key) << "a snapshot from another image hash must never be used";
    auto bigger = spec;
    bigger.memory_mib *= 2;
    EXPECT_NE(must(SnapshotCache::key_for(*backend, bigger, hash), "key bigger"), key);
    auto tcg = must(open_vm_backend("qemu:///?accel=tcg", ex), "tcg backend");
    auto pc = must(open_vm_backend("qemu:///?accel=tcg&machine=pc", ex), "pc backend");
    EXPECT_NE(must(SnapshotCache::key_for(*tcg, spec, hash), "key tcg"),
              must(SnapshotCache::key_for(*pc, spec, hash), "key pc"));

    auto vm = must(backend->restore(again), "restore cached");
    must(co_await vm->start(), "start restored");
    const auto hello = sh("echo restored");
    auto r = must(co_await vm->exec(hello), "exec");
    EXPECT_EQ(r.stdout_data, "restored\n");
    must(co_await vm->stop(), "stop");
  });
}

TEST_F(Snapshots, PoolNeverHandsOutAVmTwiceAndDrainsCleanly) {
  run_async([this](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto backend = testing::qemu_backend(ex);
    SnapshotCache cache(dir_ / "cache");
    const auto spec = spec_for("bash");
    auto snap = must(co_await cache.get_or_create(*backend, spec, image_hash("bash")), "snapshot");
    PoolOptions options;
    options.min_ready = 2;
    options.max_ready = 2;
    WarmPool pool(ex, backend, spec, options, snap);
    pool.start();
    for (int i = 0; i < 600 && pool.ready() < 2; ++i) {
      asio::steady_timer t(ex, 100ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    EXPECT_EQ(pool.ready(), 2u);

    // Four concurrent acquires: two from the pool, two restored on demand.
    std::vector<AcquiredVm> got;
    int finished = 0;
    for (int i = 0; i < 4; ++i)
      asio::co_spawn(ex, pool.acquire(), [&](std::exception_ptr e, Result<AcquiredVm> r) {
        ++finished;
        if (e || !r) {
          ADD_FAILURE() << "acquire failed: " << (r ? "exception" : r.error().what());
          return;
        }
        got.push_back(std::move(*r));
      });
    while (finished < 4) {
      asio::steady_timer t(ex, 20ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    FIRERUN_CO_ASSERT(got.size() == 4);
    std::set<int> pids;
    int from_pool = 0;
    for (auto& a : got) {
      pids.insert(a.vm->info().vmm_pid);
      from_pool += a.source == AcquireSource::pool;
      const auto whoami = sh("echo ok");
      auto r = must(co_await a.vm->exec(whoami), "exec in acquired VM");
      EXPECT_EQ(r.stdout_data, "ok\n");
    }
    EXPECT_EQ(pids.size(), 4u) << "a VM was handed out twice";
    EXPECT_EQ(from_pool, 2);
    for (auto& a : got) must(co_await a.vm->stop(), "stop acquired");
    co_await pool.shutdown();
    EXPECT_EQ(pool.ready(), 0u);
  });
}

}  // namespace
}  // namespace firerun
