#!/usr/bin/env bash
# bench/election/run.sh BUILD_DIR: election failover times and request rate, in-process, with
# the design's bounds and Kong Enterprise's scheme at the same interval side by side. Runs on the
# file store (tmpfs) and, when the RGW fixture answers on 127.0.0.1:17480, on Ceph RGW.
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
tool=$build/bench/election/election_failover
[[ -x $tool ]] || { echo "run.sh: $tool is missing (build the election_failover target)" >&2; exit 1; }
interval_ms=${ELECTION_BENCH_INTERVAL_MS:-1000}
trials=${ELECTION_BENCH_TRIALS:-5}

echo "### Election failover (3 nodes, interval ${interval_ms} ms, ${trials} trials)"
echo
dir=$(mktemp -d /dev/shm/lifeboat-election-bench.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$tool" --store "file://$dir" --interval-ms "$interval_ms" --trials "$trials"
echo
if curl -s -o /dev/null --max-time 2 http://127.0.0.1:17480/; then
  "$tool" --store rgw --interval-ms "$interval_ms" --trials "$trials"
else
  echo "(Ceph RGW is not running on 127.0.0.1:17480: start it with test/harness/rgw.sh start DIR for the RGW rows)"
fi
