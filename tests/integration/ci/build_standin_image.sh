#!/usr/bin/env bash
# Builds the ci-standin image: the recipe plus an archive of the stand-in
# runner, made here the way an operator packs a real runner.
set -euo pipefail
cli=$1 cache=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
tar -czf "$work/standin-runner.tar.gz" -C "$here/standin-runner" run.sh
cp "$here/ci-standin.yaml" "$work/"
"$cli" image build ci-standin --recipes "$work" --cache "$cache"
