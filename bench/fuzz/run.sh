#!/usr/bin/env bash
# bench/fuzz/run.sh SECONDS [TARGET...]: builds the libFuzzer targets (the clang `fuzz` preset,
# build/fuzz) and runs each for SECONDS, one after the other, starting from its committed seeds
# (test/fuzz/corpus/<target>) plus what earlier runs found (build/fuzz/fuzz-corpus/<target>).
# Prints one line per target: executions, executions per second, corpus size, crashes. A crash or
# sanitizer report leaves its input in build/fuzz/fuzz-artifacts/<target>/ and fails the script.
# On a shared machine: nice -n 19 bench/fuzz/run.sh 60
# bench/run-all calls it as `run.sh BUILD_DIR` (the fuzz build is its own tree): then every
# target runs FUZZ_SECONDS (default 30) and the table is the report's.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:?usage: bench/fuzz/run.sh SECONDS [TARGET...]}
shift
if [ -d "$seconds" ]; then seconds=${FUZZ_SECONDS:-30}; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(reconfigure_frame config_table ws_frame s3_xml http_response gcs_json kong_conf storage_url backup_signature age)
fi

./cmake/deps.sh fuzz
cmake --preset fuzz >/dev/null
build_start=$(date +%s)
if ! cmake --build build/fuzz -j "${JOBS:-2}" --target "${targets[@]/#/fuzz_}" >build/fuzz/fuzz-build.log 2>&1; then
  grep -E 'FAILED|error' build/fuzz/fuzz-build.log | tail -n 15 >&2
  exit 1
fi
echo "Each libFuzzer target (clang, ASan+UBSan, build/fuzz) for $seconds s, from its committed seeds and"
echo "the corpus earlier runs grew; build took $(($(date +%s) - build_start)) s."
echo

failed=0
echo "| target | executions | exec/s | corpus | crashes |"
echo "|---|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
  work=build/fuzz/fuzz-corpus/$t
  artifacts=build/fuzz/fuzz-artifacts/$t
  rm -rf "$artifacts" # this run's crashes only
  mkdir -p "$work" "$artifacts"
  log=build/fuzz/fuzz-$t.log
  set +e
  build/fuzz/test/fuzz/fuzz_$t -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" "test/fuzz/corpus/$t" >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  crashes=$(find "$artifacts" -type f | wc -l)
  echo "| $t | ${execs:-?} | ${rate:-?} | $corpus | $crashes |"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "  $t: exit $status; log: $log; inputs: $artifacts/" >&2
    grep -m3 -E 'ERROR: |runtime error|SUMMARY' "$log" >&2 || true
  fi
done
exit $failed
