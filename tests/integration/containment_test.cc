// Containment on real VMs, checked from both sides: the VMM's uid, namespaces,
// environment, descriptors and root from the host's /proc; the guest user's
// powers from inside; the guest network's policy against test hosts in
// network namespaces this test makes.
#include "vm_harness.h"
#include "support/test_host.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace firerun::testing {
namespace {
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string status_field(int pid, const std::string& key) {
  std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  return {};
}

int run(const std::string& command) { return std::system(command.c_str()); }

TEST(Containment, VmmIsJailedAndTwoVmsDiffer) {
  ::setenv("FIRERUN_TEST_PLANTED_SECRET", "s3cr3t-planted-value", 1);
  run_async([](auto ex) -> Task<void> {
    auto backend = qemu_backend(ex);
    auto a = must(backend->create(spec_for("bash")), "create a");
    auto b = must(backend->create(spec_for("bash")), "create b");
    must(co_await a->start(), "start a");
    must(co_await b->start(), "start b");
    const int pa = a->info().vmm_pid, pb = b->info().vmm_pid;
    FIRERUN_CO_ASSERT(a->info().jailed);
    EXPECT_NE(a->info().vmm_uid, 0u);
    EXPECT_NE(a->info().vmm_uid, b->info().vmm_uid);
    EXPECT_NE(status_field(pa, "Uid").find(std::to_string(a->info().vmm_uid)), std::string::npos);
    EXPECT_EQ(slurp("/proc/" + std::to_string(pa) + "/environ"), "") << "the VMM's environment must be empty";
    for (const char* ns : {"mnt", "pid", "net", "ipc", "uts"})
      EXPECT_NE(fs::read_symlink(fs::path("/proc") / std::to_string(pa) / "ns" / ns),
                fs::read_symlink(fs::path("/proc/self/ns") / ns))
          << ns;
    // Only its own channels: sockets, pipes, eventfds, the jail's /dev nodes.
    for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pa) + "/fd")) {
      std::string target = fs::read_symlink(fd.path()).string();
      EXPECT_TRUE(target.rfind("socket:", 0) == 0 || target.rfind("pipe:", 0) == 0 ||
                  target.rfind("anon_inode:", 0) == 0 || target == "/null" || target == "/dev/null" ||
                  target == "/dev/urandom" || target == "/dev/kvm")
          << "unexpected descriptor " << target;
    }
    // Its root holds its own boot files and QEMU, nothing else of the host.
    const fs::path root = "/proc/" + std::to_string(pa) + "/root";
    EXPECT_FALSE(fs::exists(root / "etc/passwd"));
    EXPECT_FALSE(fs::exists(root / "root"));
    EXPECT_FALSE(fs::exists(root / "tmp"));
    EXPECT_TRUE(fs::exists(root / "vm"));
    EXPECT_NE(pa, pb);

    // Inside: the user's code is not root and cannot touch the agent.
    auto probe = sh("id -u; kill -9 1 2>/dev/null && echo killed-init; echo x > /init 2>/dev/null && echo wrote-agent; "
                    "echo b > /proc/sysrq-trigger 2>/dev/null && echo rebooted; echo done");
    auto r = must(co_await a->exec(probe), "probe");
    EXPECT_EQ(r.stdout_data, "1000\ndone\n");
    auto again = must(co_await a->exec(sh("echo alive")), "agent still answers");
    EXPECT_EQ(again.stdout_data, "alive\n");
    auto root_req = sh("id -u");
    root_req.uid = root_req.gid = 0;
    auto as_root = must(co_await a->exec(root_req), "as root");
    EXPECT_EQ(as_root.stdout_data, "0\n");
    must(co_await a->stop(), "stop a");
    must(co_await b->stop(), "stop b");
  });
  // Nothing left behind: this process's cgroups.
  std::error_code ec;
  for (const char* ctrl : {"memory", "pids", "cpu"})
    for (const auto& e : fs::directory_iterator(fs::path("/sys/fs/cgroup") / ctrl / "firerun", ec))
      EXPECT_FALSE(e.is_directory() && e.path().filename().string().rfind(std::to_string(::getpid()) + ".", 0) == 0)
          << e.path();
  // (uid leases are shared with concurrently running tests; the lease tests own them.)
}

TEST(Containment, VmmPastItsMemoryLimitIsReported) {
  JailOptions jail;
  jail.memory_overhead_mib = 0;  // guest RAM only: touching it all pushes QEMU over
  run_async([&](auto ex) -> Task<void> {
    auto backend = must(open_vm_backend("qemu", ex, jail), "backend");
    auto vm = must(backend->create(spec_for("bash", 256)), "create");
    auto started = co_await vm->start();
    if (started) {
      auto fill = sh("mkdir -p /tmp/f; i=0; while [ $i -lt 40 ]; do head -c 8M /dev/urandom > /tmp/f/$i; i=$((i+1)); done");
      (void)co_await vm->exec(fill);
    }
    auto exit = must(co_await vm->wait(), "wait");
    EXPECT_EQ(exit.reason, VmExit::Reason::resource_limit) << exit.detail;
  });
}

// Test hosts: an allowed one (HTTP + DNS for its name), a denied one, and a
// fake metadata service on 169.254.169.254, each in its own namespace.
class Network : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!TestHost::tools_present() || run("command -v dnsmasq >/dev/null") != 0)
      GTEST_FAIL() << "dnsmasq and nft are missing: scripts/install-deps.sh installs them";
    hosts_.push_back(std::make_unique<TestHost>(
        "frt-ok", "10.77.11", TestHost::Options{"2", "hello-from-frt-ok", "allowed.firerun.test"}));
    hosts_.push_back(std::make_unique<TestHost>("frt-no", "10.77.12", TestHost::Options{"2", "hello-from-frt-no", ""}));
    hosts_.push_back(std::make_unique<TestHost>("frt-md", "169.254.169", TestHost::Options{"254", "metadata", ""}));
    for (const auto& h : hosts_) ASSERT_TRUE(h->ok()) << "could not make test host " << h->name();
  }
  static void TearDownTestSuite() { hosts_.clear(); }
  static inline std::vector<std::unique_ptr<TestHost>> hosts_;
};

TEST_F(Network, AllowedHostAnswersOthersDoNot) {
  run_async([](auto ex) -> Task<void> {
    auto backend = qemu_backend(ex);
    auto spec = spec_for("python", 256);
    spec.network = true;
    spec.egress.allow = {"10.77.11.2"};
    spec.egress.dns = {"10.77.11.2"};
    auto vm = must(backend->create(spec), "create");
    must(co_await vm->start(), "start");
    auto probe = sh(
        "python3 - <<'EOF'\n"
        "import socket, urllib.request\n"
        "print(socket.gethostbyname('allowed.firerun.test'))\n"
        "print(urllib.request.urlopen('http://allowed.firerun.test/', timeout=10).read().decode().strip())\n"
        "for t in ['10.77.12.2', '169.254.169.254', '10.0.2.2', '10.77.11.1']:\n"
        "    try:\n"
        "        s = socket.create_connection((t, 80), timeout=5); print(t, 'REACHED')\n"
        "    except OSError as e:\n"
        "        print(t, 'blocked')\n"
        "EOF");
    auto r = must(co_await vm->exec(probe), "probe");
    EXPECT_EQ(r.stdout_data,
              "10.77.11.2\nhello-from-frt-ok\n10.77.12.2 blocked\n169.254.169.254 blocked\n10.0.2.2 blocked\n"
              "10.77.11.1 blocked\n")
        << r.stderr_data;
    must(co_await vm->stop(), "stop");
  });
}

TEST_F(Network, VmWithoutNicReachesNothing) {
  run_async([](auto ex) -> Task<void> {
    auto backend = qemu_backend(ex);
    auto vm = must(backend->create(spec_for("python", 256)), "create");
    must(co_await vm->start(), "start");
    auto probe = sh(
        "python3 -c \"import socket\ntry:\n  socket.create_connection(('10.77.11.2', 80), timeout=3); print('REACHED')\n"
        "except OSError: print('blocked')\"");
    auto r = must(co_await vm->exec(probe), "probe");
    EXPECT_EQ(r.stdout_data, "blocked\n") << r.stderr_data;
    must(co_await vm->stop(), "stop");
  });
}

}  // namespace
}  // namespace firerun::testing
