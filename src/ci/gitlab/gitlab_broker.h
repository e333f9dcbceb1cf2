// The "gitlab" runner broker: a runner created per job through the runners API
// (tagged with the job's tags), started in the VM as `gitlab-runner
// run-single` for one build, deleted afterwards.
//
// Settings (ci.gitlab.*): url, token | token_file (scopes create_runner,
// manage_runner, read_api), auth (private_token | bearer), registration_token
// | registration_token_file (legacy flow), runner_type (project | group |
// instance), group_id, runner_binary, runner_command, builds_dir, shell,
// wait_timeout_s.
#pragma once

#include "ci/runner_broker.h"

#include <memory>

namespace firerun::ci::gitlab {

/// Registry entry for the "gitlab" broker.
std::shared_ptr<RunnerBrokerFactory> make_broker_factory();

}  // namespace firerun::ci::gitlab
