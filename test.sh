#!/usr/bin/env bash
# ./test.sh: installs what is missing, builds lifeboat (release preset) and runs the whole test
# suite, including the integration tests against a real Ceph RGW it starts on 127.0.0.1.
# Extra arguments go to ctest (e.g. ./test.sh -L unit, ./test.sh -R s3).
set -euo pipefail
cd "$(dirname "$0")"
./cmake/deps.sh test
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
exec ctest --preset release -j 2 --timeout 600 "$@"
