#!/usr/bin/env bash
# Configures and builds firerun into ./build (or $FIRERUN_BUILD_DIR).
# Extra arguments are passed to cmake's configure step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FIRERUN_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${FIRERUN_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
