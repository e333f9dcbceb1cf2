// Shared bits of the CI fuzzers: a provider built from the registry.
#pragma once

#include "firerun/ci.h"

#include <cstdio>
#include <cstdlib>

namespace firerun::ci::fuzz {

inline constexpr const char* kSecret = "fuzz-secret";

inline const CiProvider& provider(std::string_view name) {
  static CiProviderRegistry registry;
  static bool registered = static_cast<bool>(register_builtin_ci_providers(registry));
  if (!registered) std::abort();
  CiProviderConfig config;
  config.secret = kSecret;
  static std::map<std::string, std::unique_ptr<CiProvider>, std::less<>> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    auto created = (*registry.find(name))->create(config);
    if (!created) std::abort();
    it = cache.emplace(std::string(name), std::move(*created)).first;
  }
  return *it->second;
}

/// Every failure must be a well-formed Error; what() must not contain the
/// secret unless the input itself carried it.
inline void check_error(const Error& e, std::string_view input) {
  bool leaked = input.find(kSecret) == std::string_view::npos && e.what().find(kSecret) != std::string::npos;
  bool bad = e.errc() == Errc::ok || e.errc() == Errc::internal || leaked;
  if (bad) {
    std::fprintf(stderr, "unexpected error: %s\n", e.what().c_str());
    std::abort();
  }
}

}  // namespace firerun::ci::fuzz
