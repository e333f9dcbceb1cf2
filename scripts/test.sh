#!/usr/bin/env bash
# The test suite: unit, conformance and integration tests (real VMs), first in
# the normal build, then in the AddressSanitizer+UBSan build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${FIRERUN_TEST_JOBS:-3}
"$root/scripts/install-deps.sh"

FIRERUN_BUILD_DIR=$root/build "$root/scripts/build.sh"
(cd "$root/build" && ctest --output-on-failure -j"$jobs" --timeout 900)

if [ "${FIRERUN_SKIP_SANITIZERS:-0}" != 1 ]; then
  # The sanitizer build reuses the image cache of the normal build. -O1 -g1:
  # ASan's usual choice, and it compiles ~3x faster than -O2 -g under ASan.
  FIRERUN_BUILD_TYPE=Debug FIRERUN_BUILD_DIR=$root/build-asan "$root/scripts/build.sh" -DFIRERUN_SANITIZE=ON \
    -DFIRERUN_BUILD_BENCHMARKS=OFF "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" "-DCMAKE_C_FLAGS_DEBUG=-O1 -g1" \
    -DFIRERUN_TEST_CACHE="$root/build/test-cache"
  (cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs" --timeout 900)
fi
