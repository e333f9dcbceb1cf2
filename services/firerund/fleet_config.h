// The daemon's `fleet:` settings (see docs/fleet.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace firerun::daemon {

/// fleet.spot_watch.*: poll the cloud provider for this host's interruption notice.
struct SpotWatchConfig {
  std::string provider = "aws";                          ///< whose notices (a cloud provider's name)
  std::string imds_endpoint = "http://169.254.169.254";  ///< aws: the instance metadata service
  std::uint64_t interval_ms = 5000;  ///< AWS suggests about every 5 s
  bool enabled = false;
};

struct FleetConfig {
  std::string queue;    ///< shared queue URI (redis://...); empty = standalone host. May hold a password: never logged.
  /// The queue's password, from a 0600 file (put there at boot from a secret
  /// store), merged into `queue` at load so it is in no config file or user-data.
  std::string queue_password_file;
  /// The fleet key (from fleet.key_file, 0600, at least 32 bytes): entries are
  /// HMAC-signed with it; required with a queue. Never logged.
  std::string key_file;
  std::string key;
  /// Job kinds this host takes from the queue; others are dead-lettered.
  std::vector<std::string> kinds{"code"};
  std::string host_id;  ///< this host's name in the queue; empty = the hostname
  SpotWatchConfig spot_watch;
};

}  // namespace firerun::daemon
