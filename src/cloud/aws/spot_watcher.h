// The "aws" provider's interruption watcher (IMDSv2 spot/instance-action).
#pragma once

#include "firerun/cloud.h"

namespace firerun::cloud::aws {

/// Options: `imds_endpoint` (default http://169.254.169.254, or
/// AWS_EC2_METADATA_SERVICE_ENDPOINT).
Result<std::unique_ptr<InterruptionWatcher>> make_spot_watcher(const CloudProviderConfig& config);

}  // namespace firerun::cloud::aws
