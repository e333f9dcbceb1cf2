#include "ci/webhook_auth.h"
#include "fuzz_ci_common.h"

#include <array>
#include <string>
#include <variant>

using namespace firerun::ci;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr std::array<const char*, 4> kEvents = {"workflow_job", "ping", "workflow_run", "push"};
  std::string event = kEvents[data[0] % kEvents.size()];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto& github = fuzz::provider("github");

  auto mac = firerun::detail::hmac_sha256(fuzz::kSecret, body);
  const std::string signature = "sha256=" + firerun::detail::hex(mac);
  Headers headers{{"X-GitHub-Event", event},
                  {"X-GitHub-Delivery", "d-1"},
                  {"Content-Type", "application/json"},
                  {"X-Hub-Signature-256", signature}};
  auto r = github.receive(headers, body);
  if (!r) {
    if (r.error().errc() == firerun::Errc::auth) std::abort();  // correctly signed: must never be an auth failure
    fuzz::check_error(r.error(), body);
  } else if (auto* job = std::get_if<JobRequest>(&*r)) {
    // A request for a VM always carries a shape within the default limits.
    if (!job->shape || job->shape->vcpus == 0 || job->shape->vcpus > ShapeLimits{}.max_vcpus) std::abort();
  }
  // The body as a signature header: must fail cleanly with auth.
  auto s = verify_hub_signature_256(body, fuzz::kSecret, "x");
  if (s) std::abort();
  if (s.error().errc() != firerun::Errc::auth) std::abort();
  return 0;
}
