#!/usr/bin/env bash
# bench/stall/run.sh BUILD_DIR
# A large config through an exporter without a stall (issue 14), with real processes: the reference
# CP (`lifeboat cp`, debug log: one line per ping received) pushes a synthetic Kong config of SIZES
# MiB (bench/pipeline/pipeline_config_gen) to a `lifeboat run` exporter with 1 s pings and 1 s
# election rounds, which receives, validates, caches, hands it off (file) and exports it (file
# store and the tests' Ceph RGW). Measured while the config passes through:
#   - the largest gap between two pings arriving at the CP, minus the 1 s interval (how late a
#     ping left), counted from the CP's "config sent" line;
#   - the slowest /healthz answer (bench/stall/probe.py asks every 20 ms: one thread serves it, so
#     this is the longest stretch the event loop stood still);
#   - the largest gap between two election rounds seen in /status, failed rounds, step-downs;
#   - peak RSS above the idle figure (VmHWM minus the RSS of the same agent holding a small config),
#     and the RSS once the large config is replaced by a small one, against that idle figure.
# BASELINE_BIN (optional): another lifeboat binary (say, main's) measured the same way in the same
# run, for a before/after table. Targets: ping delay and round gap <= 0.5 s; peak <= 1.25x the
# config; RSS after within 2 MiB of idle. SIZES (default "1 50 200"), STORES (default "file s3").
# Builds nothing. Starts RGW (test/harness/rgw.sh) when none answers and s3 is in STORES.
set -euo pipefail
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIFEBOAT=$BUILD/cli/lifeboat
GEN=$BUILD/bench/pipeline/pipeline_config_gen
SIZES=${SIZES:-"1 50 200"}
STORES=${STORES:-"file s3"}
E=http://127.0.0.1:17480
BUCKET=lifeboat-test
AK=AKIATESTTESTTEST0001
SK=testsecret0123456789
for f in "$LIFEBOAT" "$GEN"; do
  [[ -x $f ]] || { echo "run.sh: $f is missing; build the lifeboat and pipeline_config_gen targets" >&2; exit 1; }
done
bins=("lifeboat:$LIFEBOAT")
[[ -n ${BASELINE_BIN:-} ]] && bins+=("baseline:$(realpath "$BASELINE_BIN")")

RGW_DIR=$BUILD/test-work/rgw
started_rgw=0
if [[ " $STORES " == *" s3 "* ]] && ! curl -s -o /dev/null "$E/"; then
  "$ROOT/test/harness/rgw.sh" start "$RGW_DIR" >&2
  started_rgw=1
fi
WORK=$(mktemp -d /tmp/lifeboat-stall-bench.XXXXXX)
PREFIX=bench-stall/$(date +%s)-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true /usr/bin/aws --endpoint-url "$E" \
    s3 rm --recursive --only-show-errors "s3://$BUCKET/$PREFIX/" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  if [[ $started_rgw == 1 ]]; then "$ROOT/test/harness/rgw.sh" stop "$RGW_DIR" >&2 || true; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # seconds command...
  local deadline=$(($(date +%s) + $1)); shift
  until "$@"; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.1
  done
}
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$WORK/cluster.key" \
  -out "$WORK/cluster.crt" -days 2 -subj /CN=kong_clustering 2>/dev/null
"$GEN" $((64 << 10)) 1 >"$WORK/small-1.json"
"$GEN" $((64 << 10)) 2 >"$WORK/small-2.json"
for size in $SIZES; do "$GEN" $((size << 20)) 7 >"$WORK/big-$size.json"; done

# run_one LABEL BIN STORE CONFIG: prints "idle_kib peak_kib after_kib ping_delay_ms probe-figures"
run_one() {
  local label=$1 bin=$2 store=$3 config=$4 w cp_port cp agent url exported_before
  w=$(mktemp -d "$WORK/run.XXXXXX")
  mkdir -p "$w/bucket" "$w/gw"
  cp "$config" "$w/cp.json"
  cp_port=$(free_port)
  "$bin" cp --listen "127.0.0.1:$cp_port" --cert "$WORK/cluster.crt" --key "$WORK/cluster.key" \
    --config "$w/cp.json" --log-level debug 2>"$w/cp.log" &
  cp=$!
  PIDS+=("$cp")
  wait_for 600 grep -q "control plane listening" "$w/cp.log" || { echo "run.sh: the CP did not start" >&2; exit 1; }
  if [[ $store == s3 ]]; then url="s3://$BUCKET/$PREFIX/$(basename "$w")"; else url="file://$w/bucket"; fi
  env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=us-east-1 AWS_CONFIG_STORAGE_ENDPOINT=$E \
    AWS_EC2_METADATA_DISABLED=true "$bin" run --set prefix="$w/prefix" --set status_listen="127.0.0.1:$(free_port)" \
    --set cluster_control_plane="127.0.0.1:$cp_port" --set cluster_cert="$WORK/cluster.crt" \
    --set cluster_cert_key="$WORK/cluster.key" --set node_version=3.9.0.0 --set cluster_ping_interval=1 \
    --set election_interval=1 --set cluster_fallback_config_export=on --set cluster_fallback_config_export_delay=0 \
    --set cluster_fallback_config_storage="$url" --set cluster_max_config_size=$((512 << 20)) \
    --set cluster_max_payload=$((512 << 20)) --set gateway_handoff=file --set gateway_config_path="$w/gw/kong.json" \
    2>"$w/agent.log" &
  agent=$!
  PIDS+=("$agent")
  wait_for 30 grep -qs "lifeboat agent started" "$w/agent.log"
  local addr
  addr=$(grep -m1 "lifeboat agent started" "$w/agent.log" | grep -oE 'status=[^ ]+' | cut -d= -f2)
  python3 "$ROOT/bench/stall/probe.py" "$addr" "$w/stop" 1200 >"$w/probe.out" &
  local probe=$!
  exported() { [[ $(grep -sc 'config exported' "$w/agent.log") -ge $1 ]]; }
  wait_for 1200 exported 1 || { echo "run.sh: $label did not export; log:" >&2; tail "$w/agent.log" >&2; exit 1; }
  wait_for 60 cmp -s "$w/gw/kong.json" "$config" || { echo "run.sh: the gateway file differs" >&2; exit 1; }
  sleep 3
  touch "$w/stop"
  wait "$probe"
  local peak idle_or_after delay
  peak=$(kib "$agent" VmHWM)
  # Replaced by a small config: what stays resident.
  cp "$WORK/small-2.json" "$w/next.json"
  mv "$w/next.json" "$w/cp.json"
  wait_for 120 exported 2 || { echo "run.sh: $label did not export the small config" >&2; exit 1; }
  sleep 3
  idle_or_after=$(kib "$agent" VmRSS)
  # Ping gaps at the CP from its "config sent" line on, minus the interval.
  delay=$(awk '/config sent to data plane/ {on = 1} on && /msg="?ping received/ {
      split($1, a, "T"); split(a[2], t, ":"); s = t[1] * 3600 + t[2] * 60 + substr(t[3], 1, 6);
      if (prev != "" && s - prev > gap) gap = s - prev; prev = s }
      END { printf "%d", (gap > 1 ? gap - 1 : 0) * 1000 }' "$w/cp.log")
  kill "$agent" "$cp"
  wait "$agent" "$cp" 2>/dev/null || true
  echo "$peak $idle_or_after $delay $(cat "$w/probe.out")"
  rm -rf "$w"
}

fig() { grep -oE "(^| )$2=[^ ]+" <<<"$1" | cut -d= -f2; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo "### A large config through an exporter: stalls and memory ($(nproc) cores, 1 s pings and rounds)"
echo
echo "| binary | store | config | ping late by (max) | slowest /healthz (vs idle) | largest round gap | failed rounds / step-downs | loop busy / late (agent's own) | peak RSS above idle | RSS after a small config, vs idle |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for entry in "${bins[@]}"; do
  label=${entry%%:*}
  bin=${entry#*:}
  for store in $STORES; do
    idle_line=$(run_one "$label" "$bin" "$store" "$WORK/small-1.json")
    idle=$(awk '{print $2}' <<<"$idle_line") # RSS with a small config, after a second small one
    idle_healthz=$(fig "$idle_line" healthz_worst_ms)
    # The baseline row: the same agent with a 64 KiB config, measured in the same run.
    echo "| $label | $store | 64 KiB (idle baseline) | $(awk '{print $3}' <<<"$idle_line") ms | $idle_healthz ms | $(fig "$idle_line" round_gap_ms) ms | $(fig "$idle_line" failed_rounds) / $(fig "$idle_line" step_downs) | $(fig "$idle_line" loop_busy_ms) / $(fig "$idle_line" loop_late_ms) ms | - | - |"
    for size in $SIZES; do
      line=$(run_one "$label" "$bin" "$store" "$WORK/big-$size.json")
      read -r peak after delay _ <<<"$line"
      cfg_kib=$(($(stat -c %s "$WORK/big-$size.json") / 1024))
      hz=$(fig "$line" healthz_worst_ms)
      echo "| $label | $store | $size MiB | $delay ms | $hz ms ($(awk -v a="$hz" -v b="$idle_healthz" 'BEGIN { printf "%.1fx", a / (b > 0 ? b : 1) }')) | $(fig "$line" round_gap_ms) ms | $(fig "$line" failed_rounds) / $(fig "$line" step_downs) | $(fig "$line" loop_busy_ms) / $(fig "$line" loop_late_ms) ms | $(mib $((peak - idle))) MiB ($(awk -v p=$((peak - idle)) -v c=$cfg_kib 'BEGIN { printf "%.2f", p / c }')x) | $(mib "$after") MiB vs $(mib "$idle") MiB |"
    done
  done
done
echo
echo "Ping lateness is measured where Kong measures it, at the CP, from the moment it sent the config;"
echo "the /healthz and round figures come from bench/stall/probe.py polling the agent's status server;"
echo "the idle baseline is the same binary with a 64 KiB config in the same run. Loop busy is the agent's"
echo "own figure (/status loop.max_busy_ms): the most CPU time one stretch of work held its event loop,"
echo "which machine load does not raise (target: under 50 ms); loop late is how late its 50 ms tick ran."
