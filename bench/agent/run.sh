#!/usr/bin/env bash
# bench/agent/run.sh BUILD_DIR
# What an idle agent costs: one `lifeboat run` connected to the reference CP (`lifeboat cp`) over
# mutual TLS, holding a small config, with the file hand-off and the status server on. After it is
# connected and a heartbeat has passed, it is watched for WINDOW seconds (default 65: two
# heartbeats). Reported: resident memory (VmRSS, VmHWM), CPU time used in the window (from
# /proc/PID/stat), and the system calls made in the quiet stretch between two heartbeats
# (strace, when installed). Baselines beside it: `openssl s_client` holding an idle mutual-TLS
# connection (to `openssl s_server`) with the same certificate, the smallest process doing the TLS
# part of the job on the same libraries; and `sleep`, an idle process doing nothing.
# Targets (issue 4): RSS <= 12 MB, no CPU between heartbeats. Builds nothing.
set -euo pipefail
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR}")
BIN=$BUILD/cli/lifeboat
WINDOW=${WINDOW:-65}
[[ -x $BIN ]] || { echo "run.sh: $BIN is missing (build the lifeboat target)" >&2; exit 1; }
work=$(mktemp -d /tmp/lifeboat-idle.XXXXXX)
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
cat >"$work/kong.json" <<'JSON'
{"_format_version":"3.0","services":[{"name":"orders","url":"http://orders.internal:8080","routes":[{"name":"orders","paths":["/orders"]}],"plugins":[{"name":"rate-limiting","config":{"minute":600,"policy":"local"}}]}]}
JSON
cp_port=$(free_port)
status_port=$(free_port)
"$BIN" cp --listen "127.0.0.1:$cp_port" --cert "$work/cluster.crt" --key "$work/cluster.key" \
  --config "$work/kong.json" 2>"$work/cp.log" &
pids+=($!)
"$BIN" run --set prefix="$work/prefix" --set status_listen="127.0.0.1:$status_port" \
  --set cluster_control_plane="127.0.0.1:$cp_port" --set cluster_cert="$work/cluster.crt" \
  --set cluster_cert_key="$work/cluster.key" --set gateway_handoff=file \
  --set gateway_config_path="$work/kong-declarative.json" 2>"$work/agent.log" &
agent=$!
pids+=($agent)

for _ in $(seq 100); do
  [[ -s $work/kong-declarative.json ]] && break
  sleep 0.1
done
[[ -s $work/kong-declarative.json ]] || { echo "run.sh: the agent got no config; its log:" >&2; tail -n 20 "$work/agent.log" >&2; exit 1; }
sleep 1 # let the post-config ping and its pong pass

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
rollup() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/smaps_rollup"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
hz=$(getconf CLK_TCK)
sleep 3600 &
baseline=$!
pids+=($baseline)
# The TLS baseline talks to `openssl s_server` (the CP would drop a client that sends no HTTP
# upgrade). Both read a FIFO held open on fd 3, so neither sees end of input.
tls_port=$(free_port)
mkfifo "$work/stdin"
exec 3<>"$work/stdin"
openssl s_server -quiet -accept "127.0.0.1:$tls_port" -cert "$work/cluster.crt" -key "$work/cluster.key" \
  -CAfile "$work/cluster.crt" -Verify 1 <"$work/stdin" >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
openssl s_client -quiet -connect "127.0.0.1:$tls_port" -servername kong_clustering \
  -cert "$work/cluster.crt" -key "$work/cluster.key" -CAfile "$work/cluster.crt" <"$work/stdin" >/dev/null 2>&1 &
tls_client=$!
pids+=($tls_client)
sleep 1

a0=$(ticks "$agent"); b0=$(ticks "$baseline"); c0=$(ticks "$tls_client")
sleep "$WINDOW"
a1=$(ticks "$agent"); b1=$(ticks "$baseline"); c1=$(ticks "$tls_client")
cpu_ms() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%d", t * 1000 / hz }'; }

syscalls="(strace is not installed)"
if command -v strace >/dev/null; then
  # Every system call of the agent for STRACE_WINDOW seconds (default 65: two heartbeats), then
  # grouped by second: an agent that is idle between heartbeats is active in a few separate
  # seconds (each heartbeat, one per 30 s) and makes no call at all in between.
  timeout "${STRACE_WINDOW:-65}" strace -f -tt -p "$agent" -o "$work/strace.txt" 2>/dev/null || true
  calls=$(grep -cv -e 'resumed>' -e '+++' -e '---' "$work/strace.txt" || true)
  seconds=$(cut -d' ' -f2- "$work/strace.txt" | awk '{print substr($1, 1, 8)}' | sort -u | tr '\n' ' ')
  syscalls="$calls system calls in ${STRACE_WINDOW:-65} s, all within these seconds: ${seconds}"
fi

echo "### Idle agent connected to the reference CP (window ${WINDOW} s, $(nproc) cores)"
echo
echo "| process | RSS now | peak RSS | private (not shared) | PSS | CPU in window | CPU per minute |"
echo "|---|---|---|---|---|---|---|"
rss_agent=$(kib "$agent" VmRSS); rss_tls=$(kib "$tls_client" VmRSS)
for row in "lifeboat run (connected, config applied):$agent:$a0:$a1" \
  "openssl s_client (an idle mutual-TLS connection):$tls_client:$c0:$c1" "sleep (baseline):$baseline:$b0:$b1"; do
  IFS=: read -r name pid t0 t1 <<<"$row"
  used=$(cpu_ms $((t1 - t0)))
  per_min=$(awk -v u="$used" -v w="$WINDOW" 'BEGIN { printf "%.1f", u * 60 / w }')
  private=$(($(rollup "$pid" Private_Clean) + $(rollup "$pid" Private_Dirty)))
  echo "| $name | $(mib "$(kib "$pid" VmRSS)") | $(mib "$(kib "$pid" VmHWM)") | $(mib "$private") | $(mib "$(rollup "$pid" Pss)") | ${used} ms | ${per_min} ms |"
done
echo
echo "RSS of the agent: $(awk -v a="$rss_agent" 'BEGIN { printf "%.2f MB (10^6 bytes)", a * 1024 / 1e6 }'); RSS of the agent / RSS of openssl s_client: $(awk -v a="$rss_agent" -v b="$rss_tls" 'BEGIN { printf "%.2fx", a / b }')."
echo
echo "System calls of the idle agent: $syscalls."
echo
echo "Target: RSS <= 12 MB, no CPU between heartbeats. RSS counts every resident page of the binary"
echo "and of the shared libraries (libcrypto, libssl, libc), which the kernel maps ahead in 64 KiB"
echo "runs when they are in the page cache; 'private' is what this process alone costs the machine."
echo "The binary links the C++ runtime, Boost and {fmt} statically (docs/building.md), so the dynamic"
echo "loader binds only glibc, OpenSSL and zlib."
