// Polls the instance metadata service for a spot interruption notice
// (IMDSv2 GET /latest/meta-data/spot/instance-action; 404 = none scheduled).
#pragma once

#include "cloud/aws/credential_providers.h"
#include "cloud/aws/spot_events.h"

#include <optional>
#include <string>

namespace firerun::fleet {

class SpotWatcher {
 public:
  /// `imds_endpoint` like "http://169.254.169.254" (no trailing slash needed).
  explicit SpotWatcher(std::string imds_endpoint);
  /// One poll (blocking, bounded by short HTTP timeouts): the notice when one
  /// is scheduled, nullopt when none is. Not thread-safe.
  Result<std::optional<cloud::aws::SpotInterruption>> poll();

 private:
  cloud::aws::ImdsSession session_;
};

/// "spot interruption: terminate at 2017-09-18T08:22:00Z" (time "unknown" when absent).
std::string describe(const cloud::aws::SpotInterruption& notice);

}  // namespace firerun::fleet
