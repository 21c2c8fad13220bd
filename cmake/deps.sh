#!/usr/bin/env bash
# deps.sh [build|test|bench|fuzz]: installs what lifeboat needs from Debian 12's packages, skipping what
# is already there (so a prepared machine pays nothing). Needs root for apt-get.
set -euo pipefail
what=${1:-build}

build_pkgs=(g++ cmake ninja-build ccache pkg-config openssl curl ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev zlib1g-dev
  libfmt-dev libcli11-dev libyaml-cpp-dev)
# pugixml: the XML reader of the S3, STS and Azure answers (linked from its static archive).
build_pkgs+=(libpugixml-dev)
# The test peers: a real Ceph RGW for S3, awscli and rclone as independent S3 clients, libfaketime
# for clock-skew tests, tinyproxy as the HTTP CONNECT proxy of the proxy test, GoogleTest,
# prometheus for promtool (the alert rules and /metrics are checked with it), the `age` command
# (age-keygen included) as the reference peer of the encrypted-backup tests. Node.js and npm
# (below) run Azurite and @azure/storage-blob (npm ci in test/azure/peer) and the Kubernetes
# manifest check (test/packaging/kubernetes).
test_pkgs=(libgtest-dev libgmock-dev ceph-mon ceph-osd radosgw ceph-common awscli rclone faketime jq tinyproxy
  prometheus age)
# strace records the file-system calls the crash-consistency test replays (test/faults).
test_pkgs+=(strace)
bench_pkgs=(libbenchmark-dev time strace python3)
# The fuzz targets (test/fuzz, the `fuzz` preset): clang 16 and its libFuzzer and sanitizer runtimes
# (clang 14 lacks C++20's parenthesised aggregate initialisation, which the code uses).
fuzz_pkgs=(clang-16 libclang-rt-16-dev)

pkgs=("${build_pkgs[@]}")
[[ $what == test || $what == bench ]] && pkgs+=("${test_pkgs[@]}")
[[ $what == bench ]] && pkgs+=("${bench_pkgs[@]}")
[[ $what == fuzz ]] && pkgs+=("${fuzz_pkgs[@]}")
# The benchmarks are part of the build (they must keep compiling), so their library comes too.
pkgs+=(libbenchmark-dev)

# Node and npm run test peers and validators: Debian's nodejs and npm unless a node with npm is
# already there (NodeSource's nodejs ships its own npm and conflicts with Debian's npm package).
if [[ $what == test || $what == bench ]] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

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
