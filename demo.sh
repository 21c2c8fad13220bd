#!/usr/bin/env bash
# ./demo.sh: the whole lifeboat story on one machine, without Docker, in well under a minute.
#
#   1. a reference control plane (`lifeboat cp`) serves demo/kong-config.json
#   2. two backup exporters follow it, elect a leader, and the leader uploads the config to the
#      embedded store (a file:// bucket in a temporary directory)
#   3. the control plane stops
#   4. a brand-new data-plane node (no cache, CP unreachable) provisions itself from the backup
#   5. the control plane comes back with a changed config; the node follows it and the leader
#      backs the new config up
#   6. `lifeboat status` of every node, then a clean stop (SIGTERM, exit codes checked)
#
# It installs what is missing (cmake/deps.sh build, needs root then) and builds the `lifeboat`
# target with the release preset. Every step has a deadline: a step that does not happen prints
# the log tail of the processes involved and the demo exits non-zero.
#
# Environment: LIFEBOAT_BIN=/path/to/lifeboat skips the install and build (the ctest `demo` uses
# it). LIFEBOAT_DEMO_KEEP=1 keeps the work directory (configs, logs, bucket) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

if [[ -n ${LIFEBOAT_BIN:-} ]]; then
  bin=$LIFEBOAT_BIN
else
  ./cmake/deps.sh build
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target lifeboat
  bin=$root/build/release/cli/lifeboat
fi
[[ -x $bin ]] || { echo "demo: $bin is not an executable" >&2; exit 1; }

# --- output and failure -----------------------------------------------------------------------
if [[ -t 1 ]]; then bold=$'\e[1m' red=$'\e[31m' off=$'\e[0m'; else bold='' red='' off=''; fi
t0=$SECONDS
step() { printf '\n%s== [%2ds] %s%s\n' "$bold" $((SECONDS - t0)) "$*" "$off"; }
say() { printf '   %s\n' "$*"; }

work=$(mktemp -d /tmp/lifeboat-demo.XXXXXX)
declare -A pids=() # name -> pid of every process this demo started
names=()           # start order, for the log tails

log_tail() { # name...
  for n in "$@"; do
    printf '%s--- last lines of %s.log%s\n' "$bold" "$n" "$off" >&2
    tail -n 15 "$work/$n.log" >&2 2>/dev/null || true
  done
}
fail() { # message, then the names of the processes whose logs explain it
  local msg=$1
  shift
  printf '\n%sdemo FAILED after %ds: %s%s\n' "$red" $((SECONDS - t0)) "$msg" "$off" >&2
  log_tail "$@"
  exit 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for n in "${!pids[@]}"; do kill -TERM "${pids[$n]}" 2>/dev/null || true; done
  for n in "${!pids[@]}"; do wait "${pids[$n]}" 2>/dev/null || true; done
  if [[ ${LIFEBOAT_DEMO_KEEP:-0} == 1 ]]; then
    echo "demo: work directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM

# --- processes ----------------------------------------------------------------------------------
start() { # name command...: runs in the background, stderr (the log) to $work/name.log
  local name=$1
  shift
  "$@" >>"$work/$name.out" 2>>"$work/$name.log" & # appended: a restarted CP keeps its history
  pids[$name]=$!
  [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
}
stop() { # name: SIGTERM, then the exit code must be 0 (a graceful stop) within 10 s
  local name=$1 pid=${pids[$1]} rc=0
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "$name still runs 10 s after SIGTERM" "$name"
  wait "$pid" || rc=$?
  unset "pids[$name]"
  ((rc == 0)) || fail "$name exited with $rc after SIGTERM (expected 0)" "$name"
  say "$name stopped (SIGTERM, exit 0)"
}
alive() { kill -0 "${pids[$1]}" 2>/dev/null || fail "$1 exited early" "$1"; }

# until DEADLINE_S WHAT NAMES... -- CONDITION...: polls CONDITION every 0.2 s.
until_true() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  local involved=()
  while [[ $1 != -- ]]; do involved+=("$1"); shift; done
  shift
  until "$@"; do
    for n in "${involved[@]}"; do [[ -n ${pids[$n]:-} ]] && alive "$n"; done
    ((SECONDS < deadline)) || fail "$what did not happen within the deadline" "${involved[@]}"
    sleep 0.2
  done
}

# --- status of a node, read from `lifeboat status --json` ---------------------------------------
# The document is compact JSON (Boost.JSON) whose sections are objects nested at most one level
# deeper, so a field is found by its section and key without a JSON tool (none is required on a
# fresh machine).
status_json() { "$bin" status --conf "$work/$1.conf" --json 2>/dev/null || true; }
field() { # node section key -> the value, quotes removed; empty when null or absent
  { status_json "$1" | grep -oE "\"$2\":\\{([^{}]|\\{[^{}]*\\})*\\}" | grep -o "\"$3\":\(\"[^\"]*\"\|[^,}]*\)" |
    head -n 1 | sed -e "s/^\"$3\"://" -e 's/^"\(.*\)"$/\1/' -e 's/^null$//'; } || true
}
show_status() { # node...: the human summary; exit 0 healthy, 1 degraded, 2 unreachable
  local rc
  for n in "$@"; do
    printf '%s$ lifeboat status --conf %s.conf%s\n' "$bold" "$n" "$off"
    rc=0
    "$bin" status --conf "$work/$n.conf" | sed 's/^/  /' || rc=$?
    case $rc in
      0) say "(exit 0: healthy)" ;;
      1) say "(exit 1: degraded, see \"needs attention\")" ;;
      *) fail "lifeboat status could not reach $n (exit $rc)" "$n" ;;
    esac
  done
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below Linux's ephemeral range (32768-60999), so no outgoing connection (of this demo or of
# anything else on the machine, such as tests running beside it) can take the port between this
# check and the bind.
pick_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 12000))
    port_taken "$p" || { echo "$p"; return; }
  done
  fail "no free TCP port found on 127.0.0.1"
}

# --- the setting --------------------------------------------------------------------------------
step "Setting the scene in $work"
cp_port=$(pick_port)
cp_addr=127.0.0.1:$cp_port
bucket=$work/bucket
storage=file://$bucket/kong
node_version=3.9.0.0
backup=$bucket/kong/$node_version/config.json
mkdir -p "$work/cp" "$bucket" "$work/gateway"

# A shared-mode cluster certificate, as `kong hybrid gen_cert` makes it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -days 2 -subj /CN=kong_clustering \
  -keyout "$work/cluster.key" -out "$work/cluster.crt" 2>"$work/openssl.log" ||
  fail "openssl could not make the cluster certificate" openssl
chmod 0600 "$work/cluster.key"
say "cluster certificate: EC P-384, CN=kong_clustering (shared mTLS mode), made by openssl"

cp "$root/demo/kong-config.json" "$work/cp/kong.json"
say "sample config: demo/kong-config.json (2 services, 2 routes, an upstream with 2 targets,"
say "2 consumers, key-auth, rate-limiting, cors and correlation-id plugins)"

# Each node's configuration file, as an operator would write it (kong.conf syntax and keys).
common_conf() { # node
  cat <<EOF
# $1: written by demo.sh
cluster_control_plane = $cp_addr
cluster_mtls = shared
cluster_cert = $work/cluster.crt
cluster_cert_key = $work/cluster.key
cluster_fallback_config_storage = $storage
node_version = $node_version
node_hostname = $1
prefix = $work/$1
status_listen = unix:$work/$1.sock
# Short timings so the demo runs in seconds (defaults: reconnect 5-10 s, election 5 s).
cluster_reconnect_delay_min = 0.5
cluster_reconnect_delay_max = 1
EOF
}
for n in exporter-1 exporter-2; do
  {
    common_conf "$n"
    echo "cluster_fallback_config_export = on"
    echo "cluster_fallback_config_export_delay = 0.2"
    echo "election_interval = 1"
  } >"$work/$n.conf"
done
{
  common_conf dp-1
  echo "cluster_fallback_config_import = on"
  echo "gateway_handoff = file"
  echo "gateway_config_path = $work/gateway/kong.json"
  echo "gateway_reload_command = echo reload >> $work/gateway/reloads"
} >"$work/dp-1.conf"
say "node configs: exporter-1.conf, exporter-2.conf (export on), dp-1.conf (import on, file hand-off)"
say "fallback storage: $storage (the embedded file store, same layout as S3/GCS)"

# --- 1. the control plane -----------------------------------------------------------------------
step "1. The control plane starts (lifeboat cp, Kong's hybrid-mode protocol on $cp_addr)"
start_cp() {
  # Counted before the start: a fast CP logs its line before a count taken after would run.
  local before
  before=$(grep -c "control plane listening" "$work/cp.log" 2>/dev/null || true)
  start cp "$bin" cp --listen "$cp_addr" --cert "$work/cluster.crt" --key "$work/cluster.key" \
    --config "$work/cp/kong.json" --version "$node_version"
  cp_listening() { (($(grep -c "control plane listening" "$work/cp.log") > before)); }
  until_true 15 "the control plane listening on $cp_addr" cp -- cp_listening
}
start_cp
say "serving demo/kong-config.json to data planes that present the cluster certificate"

# --- 2. two exporters, one leader, one backup ----------------------------------------------------
step "2. Two backup exporters connect, elect a leader, and the leader uploads the config"
start exporter-1 "$bin" run --conf "$work/exporter-1.conf"
start exporter-2 "$bin" run --conf "$work/exporter-2.conf"
connected() { [[ $(field "$1" control_plane state) == connected && -n $(field "$1" config hash) ]]; }
until_true 30 "exporter-1 receiving the config from the CP" exporter-1 cp -- connected exporter-1
until_true 30 "exporter-2 receiving the config from the CP" exporter-2 cp -- connected exporter-2
v1_hash=$(field exporter-1 config hash)
say "both exporters hold config $v1_hash from the control plane"

leader=''
find_leader() {
  leader=''
  for n in exporter-1 exporter-2; do
    [[ $(field "$n" election is_leader) == true ]] && leader=$n
  done
  [[ -n $leader ]]
}
until_true 30 "a leader elected among the exporters" exporter-1 exporter-2 -- find_leader
follower=exporter-1
[[ $leader == exporter-1 ]] && follower=exporter-2
say "$leader leads (term $(field "$leader" election term)); $follower is $(field "$follower" election role)"
backed_up() { [[ -s $backup && $(field "$leader" export last_hash) == "$1" ]]; }
until_true 30 "the leader uploading config $v1_hash" "$leader" -- backed_up "$v1_hash"
say "backup written: ${backup#"$work/"} ($(wc -c <"$backup") bytes), uploaded by $leader only:"
say "  $leader uploads: $(field "$leader" export uploads), $follower uploads: $(field "$follower" export uploads)"
show_status exporter-1 exporter-2

# --- 3. the outage ------------------------------------------------------------------------------
step "3. The control plane goes down"
stop cp
lost() { [[ $(field "$1" control_plane state) != connected ]]; }
until_true 10 "the exporters noticing the CP is gone" exporter-1 exporter-2 -- lost exporter-1
until_true 10 "the exporters noticing the CP is gone" exporter-1 exporter-2 -- lost exporter-2
say "the exporters keep their config and dial the CP every 0.5-1 s (state: $(field exporter-1 control_plane state))"

# --- 4. a brand-new node during the outage -------------------------------------------------------
step "4. A brand-new data-plane node starts: no cache, no control plane"
[[ ! -e $work/dp-1 ]] || fail "dp-1 already has a prefix (it must start with no cache)"
start dp-1 "$bin" run --conf "$work/dp-1.conf"
provisioned() { [[ -s $work/gateway/kong.json && $(field dp-1 config source) == fallback ]]; }
until_true 30 "dp-1 provisioning itself from the backup" dp-1 -- provisioned
dp_hash=$(field dp-1 config hash)
[[ $dp_hash == "$v1_hash" ]] || fail "dp-1 applied $dp_hash, the backup holds $v1_hash" dp-1
say "dp-1 could not reach the CP, read ${backup#"$work/"} and handed it to its gateway:"
say "  gateway/kong.json written ($(wc -c <"$work/gateway/kong.json") bytes), reload command run $(wc -l <"$work/gateway/reloads") time(s)"
say "  config $dp_hash, source fallback: the same config the CP last pushed"
show_status dp-1

# --- 5. the control plane returns with a change ------------------------------------------------
step "5. The control plane returns with a changed config (orders rate limit 120/min -> 60/min)"
sed -e 's/"minute": 120/"minute": 60/' -e 's/"hour": 5000/"hour": 2500/' "$root/demo/kong-config.json" >"$work/cp/kong.json"
cmp -s "$root/demo/kong-config.json" "$work/cp/kong.json" && fail "the config change did not apply (demo/kong-config.json changed?)"
start_cp
follows() { [[ $(field "$1" config source) == control_plane && $(field "$1" config hash) != "$v1_hash" ]]; }
until_true 30 "dp-1 following the control plane's new config" dp-1 cp -- follows dp-1
v2_hash=$(field dp-1 config hash)
say "dp-1 reconnected and applied config $v2_hash from the control plane"
grep -q '"minute": *60' "$work/gateway/kong.json" || fail "the gateway file does not hold the new rate limit" dp-1
say "its gateway file now has the 60/min limit"
until_true 30 "the leader backing up the new config $v2_hash" exporter-1 exporter-2 cp -- backed_up "$v2_hash"
say "$leader uploaded the new config: the next new node would get $v2_hash"

# --- 6. every node, then a clean stop -----------------------------------------------------------
step "6. lifeboat status of every node"
show_status exporter-1 exporter-2 dp-1
step "Stopping everything this demo started"
for n in dp-1 exporter-1 exporter-2 cp; do stop "$n"; done
step "dp-1's log: the story in its own words"
sed -e 's/^ts=[^ ]* //' -e 's/^/   /' "$work/dp-1.log" | cut -c1-160
printf '\n%sdemo passed in %ds%s\n' "$bold" $((SECONDS - t0)) "$off"
