// firerund's request and config parsers with hostile input: /v1 execute
// bodies, Piston bodies, stored-result conversion and YAML config.
#include "api_json.h"
#include "config.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  firerun::daemon::Limits limits;
  if (auto v1 = firerun::daemon::parse_execute(input, &limits)) {
    // Whatever parses must round-trip through the stored payload.
    auto again = firerun::daemon::parse_execute(firerun::daemon::payload_json(*v1), nullptr);
    if (!again) __builtin_trap();
  }
  (void)firerun::daemon::parse_execute(input, nullptr);
  (void)firerun::daemon::parse_piston_execute(input, limits);
  (void)firerun::daemon::piston_result(input, size % 2 == 0);
  (void)firerun::daemon::parse_config(input, {});
  return 0;
}
