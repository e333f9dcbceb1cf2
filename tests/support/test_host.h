// A test host: a network namespace of its own, joined to the host by a veth
// pair on a /24 (host side .1, test host .2 or `last`), optionally serving
// HTTP (python3 -m http.server) and DNS for one name (dnsmasq). Guests reach it
// only if their egress policy allows its address; the host (firerund) reaches
// it directly. Removed, with everything running in it, on destruction.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace firerun::testing {

inline int shell(const std::string& command) { return std::system(command.c_str()); }

class TestHost {
 public:
  struct Options {
    std::string last_octet = "2";
    std::string http_body;  ///< serve GET / with this body on port 80 (empty: no HTTP server)
    std::string dns_name;   ///< answer A queries for this name with our address (empty: no resolver)
  };

  /// `ns` names the namespace and the host-side veth (`<ns>h`, so at most 13 characters);
  /// `net` is the first three octets of its /24, e.g. "10.77.11".
  TestHost(std::string ns, const std::string& net, Options options) : ns_(std::move(ns)), ip_(net + "." + options.last_octet) {
    remove();
    ok_ = shell("ip netns add " + ns_ + " && ip link add " + ns_ + "h type veth peer name eth0 netns " + ns_ +
                " && ip addr add " + net + ".1/24 dev " + ns_ + "h && ip link set " + ns_ + "h up && ip -n " + ns_ +
                " addr add " + ip_ + "/24 dev eth0 && ip -n " + ns_ + " link set eth0 up && ip -n " + ns_ +
                " link set lo up && ip -n " + ns_ + " route add default via " + net + ".1") == 0;
    if (!ok_) return;
    if (!options.http_body.empty()) {
      const std::string root = "/tmp/" + ns_ + "-www";
      shell("mkdir -p " + root + " && echo '" + options.http_body + "' > " + root + "/index.html");
      shell("cd " + root + " && setsid " + exec_prefix() + "python3 -m http.server 80 --bind " + ip_ +
            " >/dev/null 2>&1 &");
      for (int i = 0; i < 50 && shell("curl -s -m 1 -o /dev/null http://" + ip_ + "/") != 0; ++i) ::usleep(100000);
    }
    if (!options.dns_name.empty())
      shell("setsid " + exec_prefix() + "dnsmasq --no-resolv --no-hosts --keep-in-foreground --listen-address=" + ip_ +
            " --bind-interfaces --address=/" + options.dns_name + "/" + ip_ + " >/dev/null 2>&1 &");
  }
  ~TestHost() { remove(); }
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  bool ok() const { return ok_; }
  const std::string& ip() const { return ip_; }
  const std::string& name() const { return ns_; }
  /// Prefix that runs a command inside the namespace.
  std::string exec_prefix() const { return "ip netns exec " + ns_ + " "; }
  /// The same, as argv (for posix_spawn).
  std::vector<std::string> exec_argv() const { return {"ip", "netns", "exec", ns_}; }

  /// What the tests need from the host: ip, nft and (for names) dnsmasq.
  static bool tools_present() { return shell("command -v ip >/dev/null && command -v nft >/dev/null") == 0; }

 private:
  void remove() const {
    shell("ip netns pids " + ns_ + " 2>/dev/null | xargs -r kill -9");
    shell("ip netns del " + ns_ + " 2>/dev/null; ip link del " + ns_ + "h 2>/dev/null; rm -rf /tmp/" + ns_ + "-www");
  }

  std::string ns_;
  std::string ip_;
  bool ok_ = false;
};

}  // namespace firerun::testing
