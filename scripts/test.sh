#!/usr/bin/env bash
# The test suite: unit, conformance and integration tests (real VMs), first in
# the normal build, then in the AddressSanitizer+UBSan build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${FIRERUN_TEST_JOBS:-3}
"$root/scripts/install-deps.sh"

# A skipped test hides a gap: fail unless tests/skip-allowlist.txt names it.
check_skips() {
  local skipped unexpected
  skipped=$(sed -nE 's/^[[:space:]]*[0-9]+ - (.*) \(Skipped\)$/\1/p' "$1" | sort -u)
  unexpected=$(comm -23 <(printf '%s\n' "$skipped" | sed '/^$/d') \
                        <(sed -e 's/[[:space:]]*#.*//' -e '/^$/d' "$root/tests/skip-allowlist.txt" | sort -u))
  if [ -n "$unexpected" ]; then
    echo "test.sh: these tests were skipped and are not on tests/skip-allowlist.txt:" >&2
    printf '  %s\n' $unexpected >&2
    return 1
  fi
}

# ctest in build directory $1, logged to $1/ctest.log, then the skip check.
run_ctest() {
  (cd "$1" && ctest --output-on-failure -j"$jobs" --timeout 900) 2>&1 | tee "$1/ctest.log"
  check_skips "$1/ctest.log"
}

FIRERUN_BUILD_DIR=$root/build "$root/scripts/build.sh"
run_ctest "$root/build"

if [ "${FIRERUN_SKIP_SANITIZERS:-0}" != 1 ]; then
  # The sanitizer build reuses the image cache of the normal build. -O1 -g1:
  # ASan's usual choice, and it compiles ~3x faster than -O2 -g under ASan.
  FIRERUN_BUILD_TYPE=Debug FIRERUN_BUILD_DIR=$root/build-asan "$root/scripts/build.sh" -DFIRERUN_SANITIZE=ON \
    -DFIRERUN_BUILD_BENCHMARKS=OFF "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" "-DCMAKE_C_FLAGS_DEBUG=-O1 -g1" \
    -DFIRERUN_TEST_CACHE="$root/build/test-cache"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest "$root/build-asan"
fi
