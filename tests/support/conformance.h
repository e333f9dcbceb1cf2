// Locates ../shared/conformance (or $FIRERUN_CONFORMANCE_DIR) for tests that
// replay upstream reference data. Tests skip with a clear message without it.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace firerun::testing {

inline std::filesystem::path conformance_dir() {
  const char* env = std::getenv("FIRERUN_CONFORMANCE_DIR");
  if (env) return std::filesystem::path(env);
#ifdef FIRERUN_CONFORMANCE_DEFAULT
  return std::filesystem::path(FIRERUN_CONFORMANCE_DEFAULT);
#else
  return std::filesystem::path();
#endif
}

/// Use at the top of a test: skips unless <conformance>/<sub> exists.
#define FIRERUN_REQUIRE_CONFORMANCE(sub)                                                        \
  do {                                                                                          \
    auto firerun_cdir = ::firerun::testing::conformance_dir() / (sub);                          \
    if (!std::filesystem::exists(firerun_cdir))                                                 \
      GTEST_SKIP() << "conformance data not found at " << firerun_cdir                          \
                   << " (set FIRERUN_CONFORMANCE_DIR or check out ../shared beside the repo)"; \
  } while (0)

}  // namespace firerun::testing
