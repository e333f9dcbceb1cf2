#include "fuzz_ci_common.h"

#include <array>
#include <string>
#include <variant>

using namespace firerun::ci;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr std::array<const char*, 3> kEvents = {"Job Hook", "Pipeline Hook", "Push Hook"};
  std::string event = kEvents[data[0] % kEvents.size()];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto& gitlab = fuzz::provider("gitlab");
  Headers headers{{"X-Gitlab-Event", event}, {"X-Gitlab-Token", fuzz::kSecret}, {"Content-Type", "application/json"}};
  auto r = gitlab.receive(headers, body);
  if (!r) {
    if (r.error().errc() == firerun::Errc::auth) std::abort();
    fuzz::check_error(r.error(), body);
    return 0;
  }
  if (auto* job = std::get_if<JobRequest>(&*r)) {
    if (job->labels_known || job->delivery_id.empty()) std::abort();
    auto resolved = resolve_labels(*job, {"firerun/cpu=2"}, gitlab.label_policy());
    if (!resolved || !*resolved) std::abort();
  }
  // The body as a token must be refused (it is never the secret here).
  Headers wrong{{"X-Gitlab-Event", event}, {"X-Gitlab-Token", std::string(body) + "!"}};
  auto w = gitlab.receive(wrong, body);
  if (w || w.error().errc() != firerun::Errc::auth) std::abort();
  return 0;
}
