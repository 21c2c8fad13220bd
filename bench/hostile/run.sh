#!/usr/bin/env bash
# bench/hostile/run.sh BUILD_DIR
# Issue #19 item 2: memory and responsiveness when a control plane sends a small frame that inflates
# to a huge config. A raw CP (raw_cp.py: TLS + websocket by hand, one frame) sends one agent
# (`lifeboat run`) one frame of each shape; reported per shape: the frame size, the inflated
# size, the outcome, the agent's peak RSS (VmHWM from /proc/PID/status) against the documented
# bound (2 x inflated + 32 MiB; for a refused frame the inflated size is what was read before the
# refusal, at most a few MiB), the time from start to outcome, and the slowest of the /healthz
# probes sent every 50 ms meanwhile. The baseline beside it: the same agent given a 1 KiB config.
# SHAPES="small empties tags" (default) selects the rows. Builds nothing. Run it at `nice -n 19`
# on a shared machine.
set -euo pipefail
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR}")
BIN=$BUILD/cli/lifeboat
HERE=$(cd "$(dirname "$0")" && pwd)
[[ -x $BIN ]] || { echo "run.sh: $BIN is missing (build the lifeboat target)" >&2; exit 1; }
work=$(mktemp -d /tmp/lifeboat-hostile.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$work/cluster.key" \
  -out "$work/cluster.crt" -days 2 -subj /CN=kong_clustering 2>/dev/null

echo "### A small frame inflating to a huge config: agent peak RSS and /healthz (issue 19)"
echo
echo "| shape | frame | inflated | outcome | peak RSS | bound (2 x inflated + 32 MiB) | to outcome | slowest /healthz (every 50 ms) |"
echo "|---|---|---|---|---|---|---|---|"
for shape in ${SHAPES:-small empties tags}; do
  case $shape in
    small) inflated_mib=0; label="baseline: 1 KiB config" ;;
    empties) inflated_mib=3; label="256 MiB of \`{}\` services" ;;  # refused after ~3 MiB
    tags) inflated_mib=250; label="250 MiB of tags in one service" ;;
  esac
  coproc CP { python3 "$HERE/raw_cp.py" "$work/cluster.crt" "$work/cluster.key" "$shape"; }
  pids+=($CP_PID)
  read -r cp_port frame_bytes <&"${CP[0]}"
  status_port=$(free_port)
  start=$(date +%s.%N)
  "$BIN" run --set prefix="$work/prefix-$shape" --set status_listen="127.0.0.1:$status_port" \
    --set cluster_control_plane="127.0.0.1:$cp_port" --set cluster_cert="$work/cluster.crt" \
    --set cluster_cert_key="$work/cluster.key" --set cluster_dead_after=600 \
    --set cluster_ping_interval=300 2>"$work/agent-$shape.log" &
  agent=$!
  pids+=($agent)
  outcome=timeout slowest=0
  for _ in $(seq 2400); do
    t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "http://127.0.0.1:$status_port/healthz" || true)
    [[ ${t%% *} =~ ^[0-9]+$ && ${t%% *} != 000 ]] && slowest=$(awk -v a="$slowest" -v b="${t#* }" 'BEGIN { print (b > a ? b : a) }')
    s=$(curl -s --max-time 5 "http://127.0.0.1:$status_port/status" || true)
    if [[ $s == *'"hash":"0123456789abcdef0123456789abcdef"'* ]]; then outcome=accepted; break; fi
    if [[ $s == *'"rejected":1'* ]]; then outcome="refused: $(sed -n 's/.*"last_rejection":"\([^"]*\)".*/\1/p' <<<"$s" | cut -c1-60)"; break; fi
    sleep 0.05
  done
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')
  peak=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$agent/status")
  bound=$(( (2 * inflated_mib + 32) * 1024 ))
  awk -v l="$label" -v f="$frame_bytes" -v i="$inflated_mib" -v o="$outcome" -v p="$peak" -v b="$bound" -v t="$took" -v s="$slowest" -v sh="$shape" \
    'BEGIN { printf "| %s | %.0f KiB | %s | %s | **%.1f MiB** | %s | %s | %.0f ms |\n", l, f / 1024, (sh == "small" ? "1 KiB" : (sh == "empties" ? "256 MiB (refused after ~3 MiB)" : i " MiB")), o, p / 1024, (sh == "small" ? "-" : sprintf("%.0f MiB", b / 1024)), t, s * 1000 }'
  kill "$agent" "$CP_PID" 2>/dev/null || true
  wait "$agent" 2>/dev/null || true
done
