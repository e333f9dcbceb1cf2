#!/usr/bin/env bash
# Installs every Debian bookworm package firerun needs to build, test and run.
# Idempotent: does nothing when all packages are already present.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git clang libclang-rt-14-dev
  # libraries (Boost 1.81: Asio/Beast headers, System, JSON, URL)
  libboost1.81-dev libboost-system1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcurl4-openssl-dev libssl-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libsqlite3-dev libcli11-dev
  pybind11-dev python3-dev
  # fleet: shared job queue (hiredis client; redis-server for its tests)
  libhiredis-dev redis-server
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # running VMs and building guest images
  qemu-system-x86 qemu-utils
  # containment: per-VM network namespaces policed by nftables; dnsmasq-base is the tests' resolver
  nftables iproute2 dnsmasq-base
  # image build tests: busybox stands in for the guest agent
  busybox-static
)
# The real-client tests (s3rver, the e2b and piston clients) need node and npm;
# a host with its own node (e.g. nodesource's, which bundles npm) keeps it.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Guest images are resolved from apt's package lists: make sure they exist.
if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
  echo "install-deps: no apt package lists; running apt-get update"
  $SUDO apt-get update -qq
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
