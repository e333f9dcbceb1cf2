// CI API response parsers: GitHub installation token / JIT config / runner
// list, GitLab created runner / job, Link headers, timestamps, base64url,
// API error text and rate-limit headers. The first byte picks the parser.
// Only protocol / invalid_argument errors are allowed.
#include "ci/github/app_jwt.h"
#include "ci/github/github_api.h"
#include "ci/gitlab/gitlab_api.h"
#include "ci/rest_client.h"

#include <cstdio>
#include <cstdlib>

namespace {

template <class R>
void check(const R& result) {
  if (result) return;
  auto errc = result.error().errc();
  if (errc != firerun::Errc::protocol && errc != firerun::Errc::invalid_argument) {
    std::fprintf(stderr, "unexpected error: %s\n", result.error().what().c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using namespace firerun::ci;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 10) {
    case 0: check(github::parse_installation_token(input)); break;
    case 1: check(github::parse_jitconfig_response(input)); break;
    case 2: check(github::parse_runner_list(input)); break;
    case 3: check(gitlab::parse_created_runner(input)); break;
    case 4: check(gitlab::parse_job(input)); break;
    case 5: (void)github::link_next(input); break;
    case 6: check(github::parse_utc_timestamp(input)); break;
    case 7: {
      auto decoded = github::base64url_decode(input);
      check(decoded);
      if (decoded && github::base64url_encode(*decoded) != input) std::abort();  // canonical round trip
      break;
    }
    case 8: {
      auto text = api_error_message(input);
      for (char c : text)
        if (c < 0x20 || c > 0x7e) std::abort();
      break;
    }
    case 9: {
      firerun::http::Response response;
      response.status = 403 + (size % 3) * 13;  // 403, 416, 429
      response.headers = {{"retry-after", std::string(input)}, {"x-ratelimit-remaining", "0"},
                          {"x-ratelimit-reset", std::string(input)}, {"ratelimit-reset", std::string(input)}};
      const auto now = std::chrono::system_clock::now();
      for (auto dialect : {ApiDialect::github, ApiDialect::gitlab}) {
        auto advice = retry_advice(dialect, response, now);
        if (advice.server_wait && (advice.server_wait->count() < 0 || *advice.server_wait > std::chrono::hours(24)))
          std::abort();
      }
      break;
    }
  }
  return 0;
}
