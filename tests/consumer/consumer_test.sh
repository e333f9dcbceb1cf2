#!/usr/bin/env bash
# Installs firerun into a temporary prefix, then builds examples/run_command.cc
# against it twice — with find_package(firerun) and with pkg-config — and runs
# the results in a real VM.
set -euo pipefail
build=$1 source=$2 cache=$3
# A sanitized libfirerun needs sanitized consumers (the runtime must come first).
extra_flags=${4:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
example=$source/examples/run_command.cc

cmake -S "$source/tests/consumer/find_package" -B "$tmp/cmake-consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DEXAMPLE_SOURCE="$example" -DCMAKE_CXX_FLAGS="$extra_flags" -DCMAKE_EXE_LINKER_FLAGS="$extra_flags" >/dev/null
cmake --build "$tmp/cmake-consumer" >/dev/null
out=$(LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/cmake-consumer/run_command" --cache "$cache" python -- python3 -c 'print(6*7)')
[ "$out" = "42" ] || { echo "find_package consumer printed '$out'"; exit 1; }
echo "ok: find_package(firerun) consumer ran python in a VM"

flags=$(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs firerun)
# shellcheck disable=SC2086
g++ -std=c++20 $extra_flags "$example" -o "$tmp/pc-consumer" $flags
out=$(LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/pc-consumer" --cache "$cache" bash -- sh -c 'echo $((6*7))')
[ "$out" = "42" ] || { echo "pkg-config consumer printed '$out'"; exit 1; }
echo "ok: pkg-config consumer ran bash in a VM"
