#!/usr/bin/env bash
# firerun-bench --quick completes against the test image cache and writes a
# report that check_report.py accepts.
set -euo pipefail
bench=$1 python=$2 checker=$3 out=$4
cache=${FIRERUN_TEST_CACHE:?FIRERUN_TEST_CACHE must point at the image cache}
rm -f "$out"
"$bench" --quick --cache "$cache" --json "$out"
"$python" "$checker" "$out" --sweep 1,2
