#!/usr/bin/env bash
# Builds (or verifies the cached copies of) the images the integration tests boot.
set -euo pipefail
cli=$1 cache=$2
shift 2
for name in "$@"; do
  "$cli" image build "$name" --cache "$cache"
done
