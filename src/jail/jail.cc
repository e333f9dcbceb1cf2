#include "jail/jail.h"

#include "jail/cgroup.h"
#include "jail/network.h"
#include "jail/uid_lease.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

namespace firerun::jail {
namespace fs = std::filesystem;
using ::firerun::detail::ChildProcess;
using ::firerun::detail::SpawnOptions;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMiB = 1u << 20;

/// The jail root replayed in the child: every path already prefixed with the
/// mount point, so run() only makes system calls.
class JailSetup final : public ::firerun::detail::ChildSetup {
 public:
  struct Step {
    FsStep::Kind kind;
    std::string path, source;
    bool writable, directory;
    unsigned mode;
    unsigned long dev;
  };
  std::string root;
  std::vector<Step> steps;
  std::vector<int> cgroup_fds;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  rlim_t max_open_files = 4096;

  int run(const char** stage) const noexcept override {
    auto fail = [&](const char* what) {
      *stage = what;
      return errno ? errno : EPERM;
    };
    errno = 0;
    for (int fd : cgroup_fds)
      if (::write(fd, "0", 1) != 1) return fail("joining the VM's cgroup");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return fail("making mounts private");
    if (::mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID, "mode=0755,size=1m,nr_inodes=4096") != 0)
      return fail("mounting the jail root");
    for (const auto& s : steps) {
      switch (s.kind) {
        case FsStep::Kind::mkdir:
          if (::mkdir(s.path.c_str(), 0755) != 0) return fail("creating a directory in the jail");
          break;
        case FsStep::Kind::symlink:
          if (::symlink(s.source.c_str(), s.path.c_str()) != 0) return fail("creating a symlink in the jail");
          break;
        case FsStep::Kind::bind: {
          if (s.directory) {
            if (::mkdir(s.path.c_str(), 0755) != 0) return fail("creating a mount point in the jail");
          } else {
            int fd = ::open(s.path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0) return fail("creating a mount point in the jail");
            ::close(fd);
          }
          if (::mount(s.source.c_str(), s.path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
            return fail("bind-mounting a file into the jail");
          unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;
          if (!s.writable) flags |= MS_RDONLY;
          if (::mount(nullptr, s.path.c_str(), nullptr, flags, nullptr) != 0) return fail("remounting a bind read-only");
          break;
        }
        case FsStep::Kind::device:
          if (::mknod(s.path.c_str(), s.mode, s.dev) != 0) return fail("creating a device node in the jail");
          if (::chown(s.path.c_str(), uid, gid) != 0) return fail("handing a device node to the VMM's uid");
          break;
        case FsStep::Kind::file: {
          int fd = ::open(s.path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
          if (fd < 0) return fail("creating a file in the jail");
          ssize_t n = ::write(fd, s.source.data(), s.source.size());
          ::close(fd);
          if (n != static_cast<ssize_t>(s.source.size())) return fail("writing a file in the jail");
          break;
        }
      }
    }
    if (::chdir(root.c_str()) != 0) return fail("entering the jail root");
    if (::syscall(SYS_pivot_root, ".", ".") != 0) return fail("pivot_root into the jail");
    if (::umount2(".", MNT_DETACH) != 0) return fail("detaching the host's root");
    if (::chdir("/") != 0) return fail("chdir / in the jail");
    if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, nullptr) != 0)
      return fail("making the jail root read-only");
    static const char hostname[] = "firerun-vmm";
    if (::sethostname(hostname, sizeof hostname - 1) != 0) return fail("setting the hostname");
    rlimit no_core{0, 0};
    if (::setrlimit(RLIMIT_CORE, &no_core) != 0) return fail("disabling core dumps");
    rlimit files{max_open_files, max_open_files};
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0) return fail("bounding open files");
    if (::setgroups(groups.size(), groups.data()) != 0) return fail("setting supplementary groups");
    if (::setresgid(gid, gid, gid) != 0) return fail("switching to the VM's gid");
    if (::setresuid(uid, uid, uid) != 0) return fail("switching to the VM's uid");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("setting no_new_privs");
    return 0;
  }
};

/// The shared libraries `binary` loads, as the dynamic loader resolves them
/// (cached per binary path and modification time).
Result<std::vector<fs::path>> shared_libraries(const fs::path& binary) {
  static std::mutex mutex;
  static std::map<std::string, std::vector<fs::path>> cache;
  std::error_code ec;
  const std::string key = binary.string() + ";" + std::to_string(fs::last_write_time(binary, ec).time_since_epoch().count());
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  SpawnOptions opts;
  opts.argv = {"/usr/bin/ldd", binary.string()};
  opts.env = {"PATH=/usr/bin:/bin", "LC_ALL=C"};
  auto out = ::firerun::detail::run_to_completion(opts, 10s);
  if (!out) return std::move(out).error().with_context("jail: listing the libraries of " + binary.string());
  std::vector<fs::path> libs;
  std::istringstream in(*out);
  for (std::string line; std::getline(in, line);) {
    // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    std::istringstream words(line);
    std::vector<std::string> w{std::istream_iterator<std::string>(words), {}};
    for (const auto& word : w)
      if (!word.empty() && word[0] == '/') {
        libs.emplace_back(word);
        break;
      }
  }
  std::lock_guard lock(mutex);
  cache[key] = libs;
  return libs;
}

std::string sanitize(const std::string& name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.substr(0, 128);
}

}  // namespace

Status validate_egress(const EgressPolicy& policy) {
  if (!policy.internet && policy.allow.empty())
    return make_error(Errc::invalid_argument,
                      "egress: a VM with a network needs egress.internet or an egress.allow list (nothing is allowed by default)");
  for (std::size_t i = 0; i < policy.allow.size(); ++i) {
    const auto& entry = policy.allow[i];
    const std::string field = "egress.allow[" + std::to_string(i) + "]";
    if (entry.empty() || entry.size() > 253) return make_error(Errc::invalid_argument, field + ": empty or too long");
    if (parse_ipv4_net(entry)) continue;
    if (entry.find(':') != std::string::npos)
      return make_error(Errc::invalid_argument, field + ": '" + entry + "': IPv6 egress is not supported (guests get IPv4 only)");
    bool hostname = std::all_of(entry.begin(), entry.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    });
    if (!hostname || std::isdigit(static_cast<unsigned char>(entry.back())))
      return make_error(Errc::invalid_argument, field + ": '" + entry + "' is neither an IPv4 CIDR nor a host name");
  }
  for (std::size_t i = 0; i < policy.dns.size(); ++i)
    if (!parse_ipv4_net(policy.dns[i]) || policy.dns[i].find('/') != std::string::npos)
      return make_error(Errc::invalid_argument,
                        "egress.dns[" + std::to_string(i) + "]: '" + policy.dns[i] + "' is not an IPv4 address");
  return {};
}

}  // namespace firerun::jail

namespace firerun {
namespace fs = std::filesystem;

Status validate(const JailOptions& o) {
  auto bad = [](const std::string& field, const std::string& what) {
    return make_error(Errc::invalid_argument, "jail." + field + ": " + what);
  };
  if (!o.enabled) return {};
  if (o.uid_first == 0) return bad("uid_range", "must not include uid 0");
  if (o.uid_count == 0) return bad("uid_range", "is empty");
  if (std::uint64_t{o.uid_first} + o.uid_count > 0xfffffffeULL) return bad("uid_range", "goes past the largest uid");
  fs::path parent(o.cgroup_parent);
  if (o.cgroup_parent.empty() || parent.is_absolute())
    return bad("cgroup_parent", "must be a relative path below the cgroup root, e.g. 'firerun'");
  for (const auto& part : parent)
    if (part == ".." || part == ".") return bad("cgroup_parent", "must not contain '.' or '..'");
  if (!o.chroot_base.is_absolute()) return bad("chroot_base", "must be an absolute path");
  if (!o.run_dir.is_absolute()) return bad("run_dir", "must be an absolute path");
  if (o.memory_overhead_mib > (1u << 20)) return bad("memory_overhead_mib", "is larger than 1 TiB");
  if (o.pids_max < 16) return bad("pids_max", "must be at least 16 (a VMM has several threads)");
  if (!(o.cpu_overhead >= 0 && o.cpu_overhead <= 64)) return bad("cpu_overhead", "must be between 0 and 64");
  if (o.max_open_files < 64 || o.max_open_files > (1u << 20)) return bad("max_open_files", "must be between 64 and 1048576");
  auto range = jail::parse_ipv4_net(o.link_cidr);
  if (!range) return bad("link_cidr", range.error().message());
  if (range->prefix > 28) return bad("link_cidr", "must be /28 or wider (each VM link takes a /30)");
  for (const auto& d : o.dns)
    if (!jail::parse_ipv4_net(d) || d.find('/') != std::string::npos) return bad("dns", "'" + d + "' is not an IPv4 address");
  return {};
}

Status check_jail_support(const JailOptions& options) {
  if (!options.enabled) return {};
  auto missing = [](const std::string& what) {
    return make_error(Errc::unsupported, "this host cannot jail VMMs: " + what + " (or set jail: off, which runs VMMs unconfined)");
  };
  if (::geteuid() != 0)
    return missing("firerun runs as uid " + std::to_string(::geteuid()) +
                   ", and giving each VMM its own uid, namespaces and cgroup needs root");
  for (const char* ns : {"mnt", "pid", "net", "ipc", "uts"}) {
    std::error_code ec;
    if (!fs::exists(fs::path("/proc/self/ns") / ns, ec)) return missing(std::string("no ") + ns + " namespaces");
  }
  auto layout = jail::CgroupLayout::detect();
  if (!layout) return missing(layout.error().message());
  std::error_code ec;
  fs::create_directories(options.chroot_base, ec);
  if (ec) return missing("cannot create jail.chroot_base " + options.chroot_base.string() + ": " + ec.message());
  return {};
}

}  // namespace firerun

namespace firerun::jail {

void sweep_orphans(const JailOptions& options) {
  if (auto layout = CgroupLayout::detect()) sweep_cgroups(*layout, options.cgroup_parent);
  sweep_uid_leases(options.run_dir / "uids");
}

Jail::Jail(JailOptions options, std::string vm_id, VmSpec spec)
    : options_(std::move(options)), vm_id_(std::move(vm_id)), spec_(std::move(spec)) {}

Jail::~Jail() {
  for (const auto& c : chowned_) (void)::chown(c.path.c_str(), c.uid, c.gid);
  cgroup_.reset();
  network_.reset();
  uid_.reset();
}

std::uint32_t Jail::uid() const noexcept { return uid_ ? uid_->uid() : ::geteuid(); }

Result<std::unique_ptr<Jail>> Jail::create(const JailOptions& options, const std::string& vm_id, const VmSpec& spec) {
  std::unique_ptr<Jail> jail(new Jail(options, vm_id, spec));
  if (!options.enabled) return jail;
  static std::once_flag swept;
  std::call_once(swept, [&] { sweep_orphans(options); });
  FIRERUN_TRY(auto layout, CgroupLayout::detect());
  FIRERUN_TRY(jail->uid_, UidLease::acquire(options.run_dir / "uids", options.uid_first, options.uid_count));
  CgroupLimits limits;
  limits.memory_bytes = (spec.memory_mib + options.memory_overhead_mib) * kMiB;
  limits.pids_max = options.pids_max;
  limits.cpu_quota_us =
      static_cast<std::uint64_t>((spec.vcpus + options.cpu_overhead) * static_cast<double>(limits.cpu_period_us));
  FIRERUN_TRY(jail->cgroup_, Cgroup::create(layout, options.cgroup_parent,
                                            std::to_string(::getpid()) + "." + sanitize(vm_id), limits));
  if (spec.network) {
    FIRERUN_TRY(jail->network_, NetworkLink::plan(options, jail->uid_->index(), spec.egress));
    jail->add_parents("/etc/resolv.conf");
    jail->steps_.push_back({FsStep::Kind::file, "/etc/resolv.conf", jail->network_->resolv_conf()});
  }
  return jail;
}

void Jail::add_parents(const fs::path& jail_path) {
  fs::path dir = "/";
  for (const auto& part : jail_path.parent_path().relative_path()) {
    dir /= part;
    if (std::find(made_.begin(), made_.end(), dir.string()) != made_.end()) continue;
    made_.push_back(dir.string());
    steps_.push_back({FsStep::Kind::mkdir, dir.string()});
  }
}

// Recreates `host` at the same path in the jail, following symlinks component
// by component so the loader finds /lib64/ld-linux… through /lib64 → usr/lib64.
void Jail::add_path(const fs::path& host, bool writable, int depth) {
  if (depth > 16) return;
  fs::path abs = host.lexically_normal();
  fs::path cur = "/";
  const fs::path relative = abs.relative_path();
  std::vector<fs::path> parts(relative.begin(), relative.end());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    fs::path next = cur / parts[i];
    std::error_code ec;
    auto st = fs::symlink_status(next, ec);
    if (ec) return;
    const bool last = i + 1 == parts.size();
    const bool planned = std::find(made_.begin(), made_.end(), next.string()) != made_.end();
    if (fs::is_symlink(st)) {
      fs::path target = fs::read_symlink(next, ec);
      if (ec) return;
      if (!planned) {
        made_.push_back(next.string());
        steps_.push_back({FsStep::Kind::symlink, next.string(), target.string()});
      }
      fs::path resolved = target.is_absolute() ? target : cur / target;
      for (std::size_t j = i + 1; j < parts.size(); ++j) resolved /= parts[j];
      add_path(resolved, writable, depth + 1);
      return;
    }
    if (last || !fs::is_directory(st)) {
      if (!planned) {
        made_.push_back(next.string());
        FsStep step{FsStep::Kind::bind, next.string(), next.string(), writable};
        step.directory = fs::is_directory(st);
        steps_.push_back(step);
      }
      return;
    }
    if (!planned) {
      made_.push_back(next.string());
      steps_.push_back({FsStep::Kind::mkdir, next.string()});
    }
    cur = next;
  }
}

std::string Jail::expose_file(const fs::path& host, bool writable) {
  if (!enabled()) return host.string();
  const std::string inside = "/vm/" + std::to_string(exposed_++) + "-" + sanitize(host.filename().string());
  add_parents(inside);
  FsStep step{FsStep::Kind::bind, inside, fs::canonical(host).string(), writable};
  steps_.push_back(step);
  if (writable) {
    // The VMM's uid must be able to write the drive: lend it the file.
    struct stat st {};
    if (::stat(step.source.c_str(), &st) == 0 && st.st_uid != uid()) {
      chowned_.push_back({step.source, st.st_uid, st.st_gid});
      (void)::chown(step.source.c_str(), uid(), uid());
    }
  }
  return inside;
}

Result<std::string> Jail::expose_executable(const fs::path& host, const std::vector<fs::path>& data_dirs) {
  FIRERUN_TRY(auto exe, ::firerun::detail::find_executable(host.string()));
  if (!enabled()) return exe;
  fs::path binary = fs::canonical(exe);
  FIRERUN_TRY(auto libs, shared_libraries(binary));
  add_path(binary, false);
  for (const auto& lib : libs) add_path(lib, false);
  std::error_code ec;
  if (fs::exists("/etc/ld.so.cache", ec)) add_path("/etc/ld.so.cache", false);
  for (const auto& dir : data_dirs)
    if (fs::is_directory(dir, ec)) add_path(dir, false);
  return binary.string();
}

Status Jail::expose_device(const fs::path& host) {
  if (!enabled()) return {};
  struct stat st {};
  if (::stat(host.c_str(), &st) != 0 || !S_ISCHR(st.st_mode))
    return make_error(Errc::not_found, "jail: " + host.string() + " is not a character device");
  add_parents(host);
  FsStep step{FsStep::Kind::device, host.string()};
  step.mode = S_IFCHR | 0600;
  step.dev = st.st_rdev;
  steps_.push_back(step);
  return {};
}

Result<std::unique_ptr<ChildProcess>> Jail::spawn(boost::asio::any_io_executor ex, SpawnOptions opts) {
  opts.env.clear();  // nothing of the caller's environment reaches a VMM
  if (!enabled()) return ChildProcess::spawn(std::move(ex), opts);
  std::error_code ec;
  fs::create_directories(options_.chroot_base, ec);
  if (ec) return make_error(Errc::io, "jail: creating " + options_.chroot_base.string() + ": " + ec.message());

  JailSetup setup;
  setup.root = options_.chroot_base.string();
  for (const auto& s : steps_)
    setup.steps.push_back({s.kind, setup.root + s.path, s.source, s.writable, s.directory, s.mode, s.dev});
  setup.cgroup_fds = cgroup_->procs_fds();
  setup.uid = uid_->uid();
  setup.gid = uid_->uid();
  setup.max_open_files = options_.max_open_files;
  opts.namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;
  opts.setup = &setup;
  if (network_) opts.before_exec = [this](pid_t pid) { return network_->wire(pid); };
  // spawn() returns once the VMM has exec'd, so `setup` outlives its use.
  return add_context(ChildProcess::spawn(std::move(ex), opts), "starting the VMM in its jail");
}

std::string Jail::limit_hit() const { return cgroup_ ? cgroup_->limit_hit() : std::string(); }

}  // namespace firerun::jail
