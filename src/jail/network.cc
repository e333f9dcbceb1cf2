#include "jail/network.h"

#include "core/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

namespace firerun::jail {
namespace {

using ::firerun::detail::SpawnOptions;
using ::firerun::detail::UniqueFd;
using namespace std::chrono_literals;

std::string ipv4_text(std::uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::uint32_t mask_of(unsigned prefix) { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }

/// nft set elements: "{ a, b }".
std::string elements(const std::vector<std::string>& items) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + " }";
}

}  // namespace

Result<std::string> find_system_tool(const char* name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string path = std::string(dir) + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return make_error(Errc::not_found, std::string("jail network: '") + name + "' is not installed (Debian: " +
                                         (std::string(name) == "nft" ? "nftables" : "iproute2") + ")");
}

namespace {

/// Runs `tool args... <file>` where file is `script` handed over in a memfd.
Status run_script(const char* tool, std::vector<std::string> args, const std::string& script, int netns_fd) {
  FIRERUN_TRY(auto exe, find_system_tool(tool));
  UniqueFd memfd(::memfd_create("firerun-script", MFD_CLOEXEC));
  if (!memfd) return make_error(Errc::io, std::string("memfd_create: ") + std::strerror(errno));
  if (::write(memfd.get(), script.data(), script.size()) != static_cast<ssize_t>(script.size()))
    return make_error(Errc::io, std::string("writing a script for ") + tool + ": " + std::strerror(errno));
  SpawnOptions opts;
  opts.argv = {exe};
  opts.argv.insert(opts.argv.end(), args.begin(), args.end());
  opts.argv.push_back("/proc/self/fd/" + std::to_string(memfd.get()));
  opts.inherit_fds = {memfd.get()};
  opts.enter_netns_fd = netns_fd;
  opts.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  auto ran = ::firerun::detail::run_to_completion(opts, 10s);
  if (!ran) return std::move(ran).error().with_context("jail network");
  return {};
}

Status ensure_host_side(const std::string& link_cidr) {
  static std::mutex mutex;
  static std::set<std::string> done;
  std::lock_guard lock(mutex);
  if (done.count(link_cidr)) return {};
  {
    std::ofstream forward("/proc/sys/net/ipv4/ip_forward");
    if (!(forward << "1\n"))
      return make_error(Errc::io, "jail network: cannot enable /proc/sys/net/ipv4/ip_forward (needs root)");
  }
  FIRERUN_CHECK(run_script("nft", {"-f"}, host_ruleset(link_cidr), -1));
  done.insert(link_cidr);
  return {};
}

}  // namespace

std::string Ipv4Net::to_string() const { return ipv4_text(address) + "/" + std::to_string(prefix); }

Result<Ipv4Net> parse_ipv4_net(const std::string& text) {
  auto slash = text.find('/');
  std::string addr = text.substr(0, slash);
  in_addr a{};
  if (addr.empty() || ::inet_pton(AF_INET, addr.c_str(), &a) != 1)
    return make_error(Errc::invalid_argument, "'" + text + "' is not an IPv4 address or CIDR");
  Ipv4Net net;
  net.address = ntohl(a.s_addr);
  if (slash != std::string::npos) {
    const std::string len = text.substr(slash + 1);
    if (len.empty() || len.size() > 2 || len.find_first_not_of("0123456789") != std::string::npos || std::stoi(len) > 32)
      return make_error(Errc::invalid_argument, "'" + text + "' has an invalid prefix length");
    net.prefix = static_cast<unsigned>(std::stoi(len));
  }
  net.address &= mask_of(net.prefix);
  return net;
}

const std::vector<std::string>& special_ipv4_ranges() {
  static const std::vector<std::string> ranges = {
      "0.0.0.0/8",       "10.0.0.0/8",      "100.64.0.0/10",   "127.0.0.0/8",     "169.254.0.0/16",
      "172.16.0.0/12",   "192.0.0.0/24",    "192.0.2.0/24",    "192.88.99.0/24",  "192.168.0.0/16",
      "198.18.0.0/15",   "198.51.100.0/24", "203.0.113.0/24",  "224.0.0.0/3"};
  return ranges;
}

std::vector<std::string> resolvers_from(const std::string& resolv_conf) {
  std::vector<std::string> out;
  std::istringstream in(resolv_conf);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    auto net = parse_ipv4_net(value);
    if (!net || value.find('/') != std::string::npos) continue;
    if ((net->address >> 24) == 127) continue;  // a loopback resolver is the host's, out of the VMM's reach
    out.push_back(value);
  }
  return out;
}

Result<ResolvedEgress> resolve_egress(const EgressPolicy& policy, const JailOptions& options) {
  ResolvedEgress out;
  out.internet = policy.internet;
  for (const auto& entry : policy.allow) {
    if (auto net = parse_ipv4_net(entry)) {
      out.allow.push_back(net->to_string());
      continue;
    }
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(entry.c_str(), nullptr, &hints, &found); rc != 0)
      return make_error(Errc::invalid_argument, "egress.allow: cannot resolve '" + entry + "': " + ::gai_strerror(rc));
    for (auto* ai = found; ai; ai = ai->ai_next)
      out.allow.push_back(ipv4_text(ntohl(reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr.s_addr)) + "/32");
    ::freeaddrinfo(found);
  }
  std::sort(out.allow.begin(), out.allow.end());
  out.allow.erase(std::unique(out.allow.begin(), out.allow.end()), out.allow.end());

  out.dns = !policy.dns.empty() ? policy.dns : options.dns;
  if (out.dns.empty()) {
    std::ifstream in("/etc/resolv.conf");
    std::stringstream ss;
    ss << in.rdbuf();
    out.dns = resolvers_from(ss.str());
  }
  for (const auto& d : out.dns)
    if (!parse_ipv4_net(d) || d.find('/') != std::string::npos)
      return make_error(Errc::invalid_argument, "egress.dns: '" + d + "' is not an IPv4 address");

  ifaddrs* addrs = nullptr;
  if (::getifaddrs(&addrs) == 0) {
    for (auto* a = addrs; a; a = a->ifa_next)
      if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET)
        out.host_addrs.push_back(ipv4_text(ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr)));
    ::freeifaddrs(addrs);
  }
  std::sort(out.host_addrs.begin(), out.host_addrs.end());
  out.host_addrs.erase(std::unique(out.host_addrs.begin(), out.host_addrs.end()), out.host_addrs.end());
  return out;
}

std::string vm_ruleset(const ResolvedEgress& e) {
  // A TCP reset (delivered to the VMM over this namespace's loopback) fails its
  // connect() with ECONNREFUSED, which user-mode networking passes on to the
  // guest as a reset: a denied connection fails at once instead of timing out.
  const std::string refuse = "jump refuse";
  std::ostringstream r;
  r << "table inet firerun {\n";
  if (!e.dns.empty()) r << "  set dns { type ipv4_addr; elements = " << elements(e.dns) << " }\n";
  if (!e.host_addrs.empty()) r << "  set host { type ipv4_addr; elements = " << elements(e.host_addrs) << " }\n";
  if (!e.allow.empty())
    r << "  set allow { type ipv4_addr; flags interval; auto-merge; elements = " << elements(e.allow) << " }\n";
  r << "  set special { type ipv4_addr; flags interval; elements = " << elements(special_ipv4_ranges()) << " }\n";
  r << "  chain refuse {\n"
    << "    meta l4proto tcp reject with tcp reset\n"
    << "    reject with icmpx type admin-prohibited\n"
    << "  }\n";
  r << "  chain output {\n"
    << "    type filter hook output priority 0; policy drop;\n"
    << "    ct state established,related accept\n"
    << "    oifname \"lo\" tcp flags & rst == rst accept\n"
    // What user-mode networking maps to "the host" (10.0.2.2) is this loopback.
    << "    oifname \"lo\" " << refuse << "\n"
    << "    meta nfproto ipv6 " << refuse << "\n";
  if (!e.dns.empty()) r << "    ip daddr @dns meta l4proto { tcp, udp } th dport 53 accept\n";
  if (!e.host_addrs.empty()) r << "    ip daddr @host " << refuse << "\n";
  if (!e.allow.empty()) r << "    ip daddr @allow accept\n";
  if (e.internet) r << "    ip daddr != @special accept\n";
  r << "    " << refuse << "\n"
    << "  }\n"
    // Nothing may connect in; the resets `refuse` injects are untracked and pass.
    << "  chain input {\n"
    << "    type filter hook input priority 0; policy accept;\n"
    << "    iifname \"lo\" accept\n"
    << "    ct state { new, invalid } drop\n"
    << "  }\n"
    << "}\n";
  return r.str();
}

std::string host_ruleset(const std::string& link_cidr) {
  std::ostringstream r;
  // Declaring then deleting makes the load idempotent, in one transaction.
  r << "table inet firerun_host\n"
    << "delete table inet firerun_host\n"
    << "table inet firerun_host {\n"
    << "  chain input {\n"
    << "    type filter hook input priority -10; policy accept;\n"
    << "    iifname \"frv*\" drop\n"
    << "  }\n"
    << "  chain forward {\n"
    << "    type filter hook forward priority -10; policy accept;\n"
    << "    iifname \"frv*\" oifname \"frv*\" drop\n"
    << "    iifname \"frv*\" accept\n"
    << "    oifname \"frv*\" ct state established,related accept\n"
    << "    oifname \"frv*\" drop\n"
    << "  }\n"
    << "  chain postrouting {\n"
    << "    type nat hook postrouting priority 100; policy accept;\n"
    << "    ip saddr " << link_cidr << " oifname != \"frv*\" masquerade\n"
    << "  }\n"
    << "}\n";
  return r.str();
}

Result<std::unique_ptr<NetworkLink>> NetworkLink::plan(const JailOptions& options, std::uint32_t index,
                                                       const EgressPolicy& policy) {
  FIRERUN_TRY(auto range, parse_ipv4_net(options.link_cidr));
  const std::uint64_t links = range.prefix >= 30 ? 0 : (std::uint64_t{1} << (30 - range.prefix));
  if (index >= links)
    return make_error(Errc::limit_exceeded, "jail.link_cidr " + options.link_cidr + " has room for " +
                                                std::to_string(links) + " VM links; uid index " +
                                                std::to_string(index) + " is beyond it (widen it or shrink uid_range)");
  auto link = std::make_unique<NetworkLink>();
  link->link_cidr_ = range.to_string();
  const std::uint32_t base = range.address + index * 4;
  link->host_ip_ = ipv4_text(base + 1);
  link->vm_ip_ = ipv4_text(base + 2);
  link->host_if_ = "frv" + std::to_string(index);
  FIRERUN_TRY(link->egress_, resolve_egress(policy, options));
  return link;
}

std::string NetworkLink::resolv_conf() const {
  std::string out;
  for (const auto& d : egress_.dns) out += "nameserver " + d + "\n";
  return out;
}

Status NetworkLink::wire(pid_t pid) const {
  FIRERUN_CHECK(ensure_host_side(link_cidr_));
  const std::string ns = "/proc/" + std::to_string(pid) + "/ns/net";
  // A link of an earlier VM with this index may still be going away with its namespace.
  std::string host = "link del " + host_if_ + "\n";
  (void)run_script("ip", {"-force", "-batch"}, host, -1);
  host = "link add " + host_if_ + " type veth peer name eth0 netns " + std::to_string(pid) + "\n" +
         "addr add " + host_ip_ + "/30 dev " + host_if_ + "\n" + "link set " + host_if_ + " up\n";
  FIRERUN_CHECK(run_script("ip", {"-batch"}, host, -1));
  UniqueFd netns(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns) return make_error(Errc::io, "jail network: opening " + ns + ": " + std::strerror(errno));
  const std::string inside = "link set lo up\naddr add " + vm_ip_ + "/30 dev eth0\nlink set eth0 up\nroute add default via " +
                             host_ip_ + "\n";
  FIRERUN_CHECK(run_script("ip", {"-batch"}, inside, netns.get()));
  FIRERUN_CHECK(run_script("nft", {"-f"}, vm_ruleset(egress_), netns.get()));
  return {};
}

}  // namespace firerun::jail
