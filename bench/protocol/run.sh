#!/usr/bin/env bash
# bench/protocol/run.sh BUILD_DIR
# From a received (gzipped) reconfigure frame to a validated config snapshot, for synthetic Kong
# configs of 1 MiB and 50 MiB of JSON, against the floor measured in the same run: zlib inflate
# plus a Boost.JSON parse of the same bytes. REPS repetitions (default 5), randomly interleaved so
# that a noisy machine hurts both sides alike; medians. Prints a markdown table. Builds nothing.
set -euo pipefail
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR}")
BIN=$BUILD/bench/protocol/protocol_decode_bench
REPS=${REPS:-5}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

"$BIN" --benchmark_repetitions="$REPS" --benchmark_enable_random_interleaving=true \
  --benchmark_min_time=1 --benchmark_report_aggregates_only=true \
  --benchmark_out="$OUT" --benchmark_out_format=json >/dev/null

median() { # name -> "real_time frame_bytes json_bytes"
  jq -r --arg n "$1_median" '.benchmarks[] | select(.name == $n) | "\(.real_time) \(.frame_bytes) \(.json_bytes)"' "$OUT"
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

echo "### Reconfigure frame -> validated snapshot (median of $REPS, ms)"
echo
echo "| config (JSON) | frame (gzip) | floor: inflate + json::parse | lifeboat decode | ratio (target <= 1.3) | without config_hash (Kong's hash computed) | stored config (validate + hash) |"
echo "|---|---|---|---|---|---|---|"
for size in 1 50; do
  read -r floor frame json <<<"$(median "BM_floor/$size/real_time")"
  read -r decode _ _ <<<"$(median "BM_decode/$size/real_time")"
  read -r hashing _ _ <<<"$(median "BM_decode_computing_hash/$size/real_time")"
  read -r stored _ _ <<<"$(median "BM_stored_config/$size/real_time")"
  awk -v f="$floor" -v d="$decode" -v h="$hashing" -v s="$stored" -v fr="$(mib "$frame")" -v js="$(mib "$json")" \
    'BEGIN { printf "| %s | %s | %.1f | %.1f | **%.2fx** | %.1f (%.2fx) | %.1f (%.2fx) |\n", js, fr, f, d, d / f, h, h / f, s, s / f }'
done
