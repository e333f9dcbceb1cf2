#include "ci/github/github_provider.h"
#include "ci/gitlab/gitlab_provider.h"
#include "ci/headers.h"
#include "firerun/ci.h"

namespace firerun::ci {

const char* job_phase_name(JobPhase phase) noexcept {
  switch (phase) {
    case JobPhase::queued: return "queued";
    case JobPhase::waiting: return "waiting";
    case JobPhase::in_progress: return "in_progress";
    case JobPhase::completed: return "completed";
  }
  return "unknown";
}

Result<CiEvent> CiProvider::receive(const Headers& headers, std::string_view body) const {
  FIRERUN_CHECK(add_context(verify(headers, body), std::string(name()) + " webhook"));
  return add_context(parse(headers, body), std::string(name()) + " webhook");
}

Result<bool> resolve_labels(JobRequest& request, std::vector<std::string> labels, const LabelPolicy& policy,
                            std::string* reason) {
  auto shape = shape_from_labels(labels, policy);
  if (!shape)
    return std::move(shape).error().with_context(request.provider + " job " + std::to_string(request.job_id) + " (" +
                                                 quote_untrusted(request.repository, 128) + ")");
  request.labels = std::move(labels);
  request.labels_known = true;
  request.shape = std::move(*shape);
  if (!request.shape && reason) {
    std::string list;
    for (const auto& l : request.labels) list += (list.empty() ? "" : ", ") + quote_untrusted(l);
    *reason = "job " + std::to_string(request.job_id) + " labels [" + list +
              "] do not ask for firerun (add 'firerun', 'firerun/cpu=N/...' or 'firecracker-<N>cpu-<M>gb')";
  }
  return request.shape.has_value();
}

Status register_builtin_ci_providers(CiProviderRegistry& registry) {
  FIRERUN_CHECK(registry.add(github::make_factory()));
  return registry.add(gitlab::make_factory());
}

}  // namespace firerun::ci
