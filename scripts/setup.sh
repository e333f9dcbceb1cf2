#!/usr/bin/env bash
# One-step setup on a fresh Debian bookworm machine: packages, build, and the
# python guest image (kernel + initramfs from Debian packages, cached).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
"$root/build/bin/firerun" image build python
