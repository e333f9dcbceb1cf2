// Guest networks, policed. A VMM with a NIC runs in its own network namespace
// whose only way out is a veth link to the host; user-mode networking (slirp)
// inside the VMM turns the guest's packets into ordinary sockets of that
// unprivileged process, and an nftables ruleset in the namespace (which the
// VMM cannot change) decides where those sockets may connect.
#pragma once

#include "firerun/error.h"
#include "firerun/jail.h"
#include "firerun/vm.h"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace firerun::jail {

/// An IPv4 network (address + prefix length).
struct Ipv4Net {
  std::uint32_t address = 0;  ///< host order
  unsigned prefix = 32;
  std::string to_string() const;
};
Result<Ipv4Net> parse_ipv4_net(const std::string& text);  ///< "10.0.0.0/8" or "192.0.2.7"

/// Ranges no guest reaches unless an allowlist names them: this network,
/// private (RFC 1918), CGNAT, loopback, link-local (metadata services),
/// documentation/benchmarking, multicast and reserved.
const std::vector<std::string>& special_ipv4_ranges();

/// The resolved policy of one VM: what its nftables ruleset is made from.
struct ResolvedEgress {
  bool internet = false;
  std::vector<std::string> allow;      ///< CIDRs (host names already resolved)
  std::vector<std::string> dns;        ///< resolver addresses
  std::vector<std::string> host_addrs; ///< every address of the host: always refused
};

/// Host names resolved, resolvers defaulted from `options` and the host.
Result<ResolvedEgress> resolve_egress(const EgressPolicy& policy, const JailOptions& options);

/// The nftables ruleset loaded into a VM's namespace (pure; golden-tested).
std::string vm_ruleset(const ResolvedEgress& egress);
/// The host side: refuse packets from VM links to the host itself, forward and
/// masquerade the rest. One table shared by every VM (interfaces "frv*").
std::string host_ruleset(const std::string& link_cidr);

/// The path of a system tool (nft, ip) in the sbin/bin directories, whatever
/// this process's PATH; the error names the Debian package.
Result<std::string> find_system_tool(const char* name);

/// Resolvers named in a resolv.conf text, loopback ones excluded.
std::vector<std::string> resolvers_from(const std::string& resolv_conf);

/// One VM's link: the /30 taken from link_cidr by the uid lease's index.
class NetworkLink {
 public:
  static Result<std::unique_ptr<NetworkLink>> plan(const JailOptions& options, std::uint32_t index,
                                                   const EgressPolicy& policy);
  /// Called with the VMM's pid once its namespace exists: veth, addresses,
  /// route, host rules, the VM's ruleset.
  Status wire(pid_t pid) const;
  /// The resolv.conf the VMM's slirp forwards the guest's DNS queries with.
  std::string resolv_conf() const;
  const ResolvedEgress& egress() const noexcept { return egress_; }
  const std::string& host_interface() const noexcept { return host_if_; }

 private:
  std::string link_cidr_;
  std::string host_if_;
  std::string host_ip_, vm_ip_;
  ResolvedEgress egress_;
};

}  // namespace firerun::jail
