#include "firerun/ci.h"

#include <cstdlib>
#include <string>
#include <vector>

using namespace firerun::ci;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> labels;
  std::size_t start = 0;
  while (start <= input.size()) {
    auto nl = input.find('\n', start);
    if (nl == std::string_view::npos) nl = input.size();
    labels.emplace_back(input.substr(start, nl - start));
    start = nl + 1;
  }
  LabelPolicy policy;
  policy.limits.max_vcpus = 8;
  policy.limits.max_memory_gib = 32;
  policy.limits.max_disk_gib = 100;
  policy.limits.images = {"ubuntu", "debian"};
  auto r = shape_from_labels(labels, policy);
  if (!r) {
    auto c = r.error().errc();
    if (c != firerun::Errc::invalid_argument && c != firerun::Errc::limit_exceeded) std::abort();
    for (char ch : r.error().what())
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) std::abort();
    return 0;
  }
  if (*r) {
    const auto& s = **r;
    if (s.vcpus < 1 || s.vcpus > 8 || s.memory_gib < 1 || s.memory_gib > 32 || s.disk_gib < 1 || s.disk_gib > 100)
      std::abort();
    if (s.image != "ubuntu" && s.image != "debian") std::abort();
  }
  return 0;
}
