#!/usr/bin/env bash
# bench/election/run.sh BUILD_DIR: election failover times and request rate, in-process, with
# the design's bounds and Kong Enterprise's scheme at the same interval side by side.
#   - the default interval (election_interval = 5 s, lease 2 rounds): on Ceph RGW when the test
#     fixture answers on 127.0.0.1:17480, else on the file store;
#   - a short interval (1 s) on the file store (tmpfs) and RGW, more trials, to see the shape.
# ELECTION_BENCH_TRIALS (short interval, default 5), ELECTION_BENCH_DEFAULT_TRIALS (default 3).
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
tool=$build/bench/election/election_failover
[[ -x $tool ]] || { echo "run.sh: $tool is missing (build the election_failover target)" >&2; exit 1; }
short_ms=${ELECTION_BENCH_INTERVAL_MS:-1000}
trials=${ELECTION_BENCH_TRIALS:-5}
default_trials=${ELECTION_BENCH_DEFAULT_TRIALS:-3}

dir=$(mktemp -d /dev/shm/lifeboat-election-bench.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
rgw=no
curl -s -o /dev/null --max-time 2 http://127.0.0.1:17480/ && rgw=yes

echo "### Election failover and request rate (3 nodes, in-process electors, each with its own store client)"
echo
if [[ $rgw == yes ]]; then
  "$tool" --header --store rgw --trials "$default_trials"
else
  "$tool" --header --store "file://$dir/default" --trials "$default_trials"
fi
"$tool" --store "file://$dir/short" --interval-ms "$short_ms" --trials "$trials" --rate-intervals 10
if [[ $rgw == yes ]]; then
  "$tool" --store rgw --interval-ms "$short_ms" --trials "$trials" --rate-intervals 10
else
  echo
  echo "(Ceph RGW is not running on 127.0.0.1:17480: start it with test/harness/rgw.sh start DIR for the RGW rows)"
fi
echo
echo "Rows at 5 s / 10 s are the defaults (election_interval = 5). A crash is simulated by holding"
echo "every request of the leader (as kill -9 or SIGSTOP: it neither renews nor deletes its"
echo "registration); a graceful stop deletes the registration. Kong EE at its own default (600 s):"
echo "a crashed leader is replaced after 605-1205 s, at 0.2 requests per node per minute."
