#!/usr/bin/env bash
# deps.sh [build|test|bench]: installs what lifeboat needs from Debian 12's packages, skipping what
# is already there (so a prepared machine pays nothing). Needs root for apt-get.
set -euo pipefail
what=${1:-build}

build_pkgs=(g++ cmake ninja-build ccache pkg-config openssl curl ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev zlib1g-dev
  libfmt-dev libcli11-dev)
# The test peers: a real Ceph RGW for S3, awscli and rclone as independent S3 clients, libfaketime
# for clock-skew tests, tinyproxy as the HTTP CONNECT proxy of the proxy test, GoogleTest.
# Node.js runs Azurite and @azure/storage-blob (npm ci in test/azure/peer; node 20 wanted by the
# SDK: NodeSource's nodejs bundles npm, Debian's needs the npm package).
test_pkgs=(libgtest-dev libgmock-dev ceph-mon ceph-osd radosgw ceph-common awscli rclone faketime jq tinyproxy
  nodejs)
command -v npm > /dev/null || test_pkgs+=(npm)
bench_pkgs=(libbenchmark-dev time strace python3)

pkgs=("${build_pkgs[@]}")
[[ $what == test || $what == bench ]] && pkgs+=("${test_pkgs[@]}")
[[ $what == bench ]] && pkgs+=("${bench_pkgs[@]}")
# The benchmarks are part of the build (they must keep compiling), so their library comes too.
pkgs+=(libbenchmark-dev)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps.sh: installing ${missing[*]}" >&2
  if [[ $(id -u) != 0 ]]; then echo "deps.sh: need root to apt-get install the above" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
