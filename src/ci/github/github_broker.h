// The "github" runner broker: a just-in-time runner per workflow job
// (generate-jitconfig), started in the VM as `run.sh --jitconfig <config>`.
//
// Settings (ci.github.*): api_url, token | token_file, or app_id with
// private_key | private_key_file (installation from the webhook, or
// installation_id), runner_group_id, runner_scope (repo | org), runner_dir,
// runner_command (a shell command; $FIRERUN_RUNNER_CREDENTIALS names the JIT
// config file).
#pragma once

#include "ci/runner_broker.h"

#include <memory>

namespace firerun::ci::github {

/// Registry entry for the "github" broker.
std::shared_ptr<RunnerBrokerFactory> make_broker_factory();

}  // namespace firerun::ci::github
